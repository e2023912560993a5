"""The one check of every command's numbers and paths, run before the command does any work.

Each command used to meet a bad number or path only where it was used: ``--seed`` past 64 bits
in a random generator, ``--width 0`` in a layer, ``--lr inf`` in the record writer at the end, a
file name longer than the file system allows in ``open`` after an hour of evaluation.
:func:`check_command_inputs` wraps every command's callback so that, before it runs, each of its
parameters is checked by its type and name:

- every integer fits in 64 bits; seeds (``*seed``) and the counts in :data:`NON_NEGATIVE` are
  at least 0, every other count at least 1;
  :data:`AT_MOST` bounds the sizes whose memory grows with them (one grid of samples, one
  stylized image);
- every float is finite and within :data:`FLOAT_RANGES` where its name is listed;
- every path (a ``Path`` option, a text option named ``*_dir`` or in :data:`PATH_STRINGS`) has
  components no longer than the file system's ``NAME_MAX`` and a length within ``PATH_MAX``.

A value outside its range is refused with one line naming the option, the value and the range.
New options of these types are checked without being listed here.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robust_sabn.errors import UserInputError

MAX_INT = 2**63 - 1
"""The largest integer any option takes (torch and numpy read seeds and sizes as int64)."""
MAX_GRID_COLUMNS = 1000
"""Samples per class in one grid picture (``sample -n``): 1,000 columns of 32-pixel images make
a PNG 33,000 pixels wide, about 10 MB per class row in memory."""
MAX_IMAGE_SIDE = 4096
"""Pixels on the side of one stylized image (``stylize --size``): the encoder's activations of a
4096 x 4096 image take about 2 GB."""
NON_NEGATIVE = frozenset({"attack_steps", "warmup_iters", "ema_start", "eval_every",
                          "gpus_per_job"})
"""Integer options where 0 means "none" or "never"; every other count must be at least 1."""
AT_MOST: dict[str, int] = {"sample_command.n": MAX_GRID_COLUMNS,
                           "stylize_command.size": MAX_IMAGE_SIDE}
"""Integer options with a maximum below :data:`MAX_INT`, as ``<callback name>.<option>``."""
FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (0.0, math.inf, False), "alpha": (0.0, 1.0, True), "ema_decay": (0.0, 1.0, True),
    "style_weight": (0.0, math.inf, True), "target": (0.0, 100.0, False),
}
"""(low, high, low included) of float options; the high end is always included."""
PATH_STRINGS = frozenset({"encoder_weights", "suite", "checkpoint", "target"})
"""Text options that may hold a path (beside ``*_dir``): checked as paths too."""
_CHECKED = "__robust_sabn_checked__"


def _label(name: str, is_argument: bool) -> str:
    if is_argument:
        return name.upper()
    return f"-{name}" if len(name) == 1 else "--" + name.replace("_", "-")


def _int_range(name: str, command: str) -> tuple[int, int]:
    low = 0 if name.endswith("seed") or name in NON_NEGATIVE else 1
    return low, AT_MOST.get(f"{command}.{name}", MAX_INT)


def check_int(name: str, value: int, label: str, command: str = "") -> None:
    """Raise UserInputError unless ``value`` is within the range of option ``name`` of the
    command whose callback is named ``command`` (module docstring)."""
    low, high = _int_range(name, command)
    if not low <= value <= high:
        if high < MAX_INT:
            limit = f"at most {high:,}" if value > high else f"{low} to {high:,}"
        else:
            limit = f"an integer from {low} up to 2**63 - 1"
        raise UserInputError(f"{label} {value} is out of range: use {limit}")


def check_float(name: str, value: float, label: str) -> None:
    """Raise UserInputError unless ``value`` is finite and within ``name``'s range."""
    if not math.isfinite(value):
        raise UserInputError(f"{label} must be a finite number, not {value}")
    low, high, closed = FLOAT_RANGES.get(name, (-math.inf, math.inf, True))
    if value > high or value < low or (value == low and not closed):
        low_text = f"[{low:g}" if closed else f"({low:g}"
        raise UserInputError(f"{label} {value:g} is out of range: use a value in "
                             f"{low_text}, {high:g}]")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system
        return False


def check_path_length(path: Path, label: str) -> None:
    """Raise UserInputError when a component of ``path`` is longer than the file system's
    ``NAME_MAX`` or the whole path longer than ``PATH_MAX`` (measured in bytes)."""
    name_max, path_max = 255, 4096
    folder = next((p for p in (path.parent, *path.parents) if _is_dir(p)), Path("."))
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf here: POSIX minimums above
        pass
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise UserInputError(f"{label}: the name {part[:40]}... is {len(os.fsencode(part))} "
                                 f"bytes long; this file system allows {name_max}")
    if len(os.fsencode(str(path))) >= path_max:
        raise UserInputError(f"{label}: the path is {len(os.fsencode(str(path)))} bytes long; "
                             f"this file system allows {path_max - 1}")


def _arguments(callback: Callable[..., Any]) -> set[str]:
    """Names of the callback's typer arguments (positional), as opposed to options."""
    hints = typing.get_type_hints(callback, include_extras=True)
    return {name for name, hint in hints.items()
            if any(type(meta).__name__ == "ArgumentInfo"
                   for meta in getattr(hint, "__metadata__", ()))}


def check_parameters(callback: Callable[..., Any], values: dict[str, Any]) -> None:
    """Check each of ``values`` (the callback's parameters; each item of a list) by its type
    and name.

    Raises:
        UserInputError: the first value out of its range (module docstring).
    """
    arguments = _arguments(callback)
    for name, given in values.items():
        label = _label(name, name in arguments)
        for value in given if isinstance(given, list | tuple) else [given]:
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int):
                check_int(name, value, label, callback.__name__)
            elif isinstance(value, float):
                check_float(name, value, label)
            elif isinstance(value, Path):
                check_path_length(value, label)
            elif isinstance(value, str) and (name.endswith("_dir") or name in PATH_STRINGS):
                check_path_length(Path(value), label)


def checked(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` that first runs :func:`check_parameters` on its arguments (idempotent)."""
    if getattr(callback, _CHECKED, False):
        return callback
    signature = inspect.signature(callback)

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        check_parameters(callback, dict(bound.arguments))
        return callback(*args, **kwargs)

    setattr(run, _CHECKED, True)
    return run


def check_command_inputs(app: Any) -> None:
    """Make every command of the typer ``app`` and its sub-apps check its inputs first."""
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = checked(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            check_command_inputs(group.typer_instance)
