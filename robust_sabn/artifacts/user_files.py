"""The one reader of JSON and TOML files a user (or a stranger) hands us.

Records, run configs, zoo entries and suite files used to be read with ``path.read_text()`` and
``json.loads`` / ``tomllib.loads`` where each was needed, so a file in another encoding, a JSON
list where an object belongs, or a nesting deep enough to exhaust the recursion limit ended in
a traceback. :func:`read_user_text`, :func:`load_json_object` and :func:`load_toml` turn every
such file into one :class:`UserInputError` line naming the file, what it should be and what it
is instead.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robust_sabn.errors import UserInputError


def read_user_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of ``path``, a ``what`` ("result record", "suite file", ...).

    Raises:
        UserInputError: missing, a folder, unreadable, or not UTF-8 text.
    """
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path} is a folder, not a {what}; give the file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise UserInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                             f"offset {exc.start}), so not a {what}") from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed (a non-finite number)")


def parse_json_object(text: str, source: str, what: str, *, finite: bool = False
                      ) -> dict[str, Any]:
    """``text`` parsed as one JSON object (``finite``: NaN and Infinity refused).

    Raises:
        UserInputError: invalid JSON, nesting too deep, a non-finite number when ``finite``,
            or a value that is not an object (a list, a number ...).
    """
    constant: Callable[[str], Any] | None = _refuse_constant if finite else None
    try:
        data = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}), so "
                             f"not a {what}") from None
    except RecursionError:
        raise UserInputError(f"{source} nests JSON too deeply to be a {what}") from None
    except ValueError as exc:
        raise UserInputError(f"{source}: {exc}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{source} holds a JSON {_json_type(data)}, not an object, so not "
                             f"a {what}")
    return data


def load_json_object(path: str | Path, what: str, *, finite: bool = False) -> dict[str, Any]:
    """The JSON object in the file ``path`` (see :func:`parse_json_object`)."""
    return parse_json_object(read_user_text(path, what), str(path), what, finite=finite)


def load_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The TOML document in the file ``path``.

    Raises:
        UserInputError: missing, unreadable or non-UTF-8 file, or invalid TOML (with its line
            and column).
    """
    text = read_user_text(path, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise UserInputError(f"{path} nests TOML too deeply to be a {what}") from None


def read_run_config(path: str | Path) -> dict[str, Any]:
    """The ``config`` object of a run's ``config.json`` (what ``--resume`` compares against).

    Raises:
        UserInputError: the file is unreadable or damaged, or has no ``config`` object.
    """
    path = Path(path)
    saved = load_json_object(path, "run config")
    config = saved.get("config")
    if not isinstance(config, dict):
        raise UserInputError(f"{path} has no 'config' object, so the run cannot be resumed "
                             "safely; restore the file or start a new --out")
    return config


def _json_type(value: Any) -> str:
    names = {list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def check_field_types(config: Any, what: str) -> None:
    """Raise UserInputError unless each field of the dataclass ``config`` holds a value of its
    annotated type: ``int`` (not a bool), ``float`` (an int or a finite float), ``str``,
    ``bool``, or None where the annotation allows it. A suite file's ``[runs.train]`` values
    reach configs as TOML gave them, so a string or NaN where a number belongs is named here
    instead of failing in a comparison later."""
    import dataclasses
    import math
    import types
    import typing

    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        hint = hints.get(field.name)
        allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if value is None and type(None) in allowed:
            continue
        kinds = [kind for kind in allowed if kind in (int, float, str, bool)]
        if not kinds:
            continue
        fits = any(
            (kind is bool and isinstance(value, bool))
            or (kind is int and isinstance(value, int) and not isinstance(value, bool))
            or (kind is float and isinstance(value, int | float)
                and not isinstance(value, bool) and math.isfinite(value))
            or (kind is str and isinstance(value, str))
            for kind in kinds)
        if not fits:
            expected = " or ".join(
                {"int": "an integer", "float": "a finite number", "str": "a string",
                 "bool": "true or false"}[kind.__name__] for kind in kinds)
            raise UserInputError(f"{what} option {field.name} must be {expected}, got "
                                 f"{value!r}")
