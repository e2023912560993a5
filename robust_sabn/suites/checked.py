"""Reading a parsed TOML table with checks whose errors name the file and the key.

Every error is a :class:`~robust_sabn.errors.UserInputError` of one line, e.g.
``suites/x.toml: runs.norms[2]: unknown norm 'sa-aux'; choose one of bn, ccbn, ...``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from robust_sabn.errors import UserInputError
from robust_sabn.units import parse_eps

Model = TypeVar("Model", bound=BaseModel)

_TOML_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list", dict: "a table"}


def _kind(value: Any) -> str:
    return _TOML_TYPES.get(type(value), type(value).__name__)


class CheckedTable:
    """A TOML table and where it sits (file and dotted key), with typed, checked getters.

    Args:
        file: the suite file, named in every error.
        data: the table's content.
        where: the table's dotted key (``""`` for the document itself).
    """

    def __init__(self, file: Path, data: dict[str, Any], where: str = "") -> None:
        self.file = file
        self.data = data
        self.where = where

    def key(self, key: str) -> str:
        """The dotted name of ``key`` inside this table, e.g. ``runs.norms``."""
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, message: str) -> NoReturn:
        """Raise UserInputError ``<file>: <dotted key>: <message>``."""
        raise UserInputError(f"{self.file}: {self.key(key) if key else self.where}: {message}")

    def only(self, allowed: Iterable[str]) -> None:
        """Reject keys outside ``allowed`` (suggesting the closest allowed one)."""
        allowed = list(allowed)
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.fail(key, f"unknown key; {hint}allowed keys: {', '.join(allowed)}")

    def validate(self, model: type[Model]) -> Model:
        """This table as the pydantic ``model`` (a typed section schema); the first problem
        becomes a one-line error naming the file, the dotted key and what was expected."""
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            key = loc.lstrip(".")
            if error["type"] == "extra_forbidden":
                allowed = list(model.model_fields)
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.fail(key, f"unknown key; {hint}allowed keys: {', '.join(allowed)}")
            if error["type"] == "missing":
                self.require(key)
            self.fail(key, str(error["msg"]).removeprefix("Value error, "))

    def has(self, key: str) -> bool:
        """Whether ``key`` is set."""
        return key in self.data

    def require(self, key: str) -> Any:
        """The value of ``key``; UserInputError if it is missing."""
        if key not in self.data:
            place = f"[{self.where}]" if self.where else "the top level"
            raise UserInputError(f"{self.file}: {self.key(key)}: missing; add it to {place}")
        return self.data[key]

    def table(self, key: str, *, required: bool = False) -> CheckedTable:
        """The sub-table ``key`` (empty when absent and not required)."""
        value = self.require(key) if required else self.data.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_kind(value)}")
        return CheckedTable(self.file, value, self.key(key))

    def tables(self, key: str) -> list[CheckedTable]:
        """The array of tables ``key`` (``[[key]]`` blocks); empty when absent."""
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(key, f"expected [[{self.key(key)}]] tables, got {_kind(value)}")
        return [CheckedTable(self.file, v, f"{self.key(key)}[{i}]") for i, v in enumerate(value)]

    def string(self, key: str, default: str | None = None, *,
               choices: Sequence[str] | None = None, what: str = "value") -> str | None:
        """A string (one of ``choices`` if given), or ``default`` when absent."""
        if key not in self.data:
            return default
        return self._string(self.data[key], key, choices, what)

    def _string(self, value: Any, key: str, choices: Sequence[str] | None, what: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_kind(value)}")
        if choices is not None and value not in choices:
            self.fail(key, f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
        return value

    def strings(self, key: str, *, choices: Sequence[str] | None = None, what: str = "value",
                required: bool = False) -> list[str] | None:
        """A non-empty list of distinct strings, or ``None`` when absent and not required."""
        if key not in self.data and not required:
            return None
        value = self._list(self.require(key), key)
        out = [self._string(v, f"{key}[{i}]", choices, what) for i, v in enumerate(value)]
        self._distinct(out, key)
        return out

    def integer(self, key: str, default: int | None = None, *, minimum: int | None = None
                ) -> int | None:
        """An integer (at least ``minimum``), or ``default`` when absent."""
        if key not in self.data:
            return default
        return self._integer(self.data[key], key, minimum)

    def _integer(self, value: Any, key: str, minimum: int | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return value

    def integers(self, key: str, *, minimum: int | None = None, required: bool = False
                 ) -> list[int] | None:
        """A non-empty list of distinct integers, or ``None`` when absent and not required."""
        if key not in self.data and not required:
            return None
        value = self._list(self.require(key), key)
        out = [self._integer(v, f"{key}[{i}]", minimum) for i, v in enumerate(value)]
        self._distinct(out, key)
        return out

    def boolean(self, key: str, default: bool | None = None) -> bool | None:
        """``true`` or ``false``, or ``default`` when absent."""
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_kind(value)}")
        return value

    def number(self, key: str, default: float | None = None) -> float | None:
        """A finite number >= 0; also a fraction string such as ``"8/255"``."""
        if key not in self.data:
            return default
        return self._number(self.data[key], key)

    def _number(self, value: Any, key: str) -> float:
        if isinstance(value, str):
            try:
                value = parse_eps(value)
            except UserInputError as exc:
                self.fail(key, str(exc))
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number, got {_kind(value)}")
        if not math.isfinite(value) or value < 0:
            self.fail(key, f"must be a finite number >= 0, got {value}")
        return float(value)

    def numbers(self, key: str, *, required: bool = False) -> list[float] | None:
        """A non-empty list of distinct numbers (fractions such as ``"8/255"`` allowed)."""
        if key not in self.data and not required:
            return None
        value = self._list(self.require(key), key)
        out = [self._number(v, f"{key}[{i}]") for i, v in enumerate(value)]
        self._distinct(out, key)
        return out

    def _list(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(key, f"expected a list, got {_kind(value)}")
        if not value:
            self.fail(key, "must not be empty")
        return value

    def _distinct(self, values: list[Any], key: str) -> None:
        for i, v in enumerate(values):
            if v in values[:i]:
                self.fail(f"{key}[{i}]", f"{v!r} appears twice; list each once")
