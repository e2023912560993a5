"""Plain JSON files of a run: the training record's writer, ``config.json``, ``metrics.jsonl``.

Everything is strict JSON: a NaN or infinite number is refused (``ValueError``) rather than
written as the invalid token ``NaN``. Result records proper are
:class:`robust_sabn.artifacts.result.ResultRecord`; :func:`new_record` builds the legacy
(version 1) training record that :func:`robust_sabn.artifacts.result.read_result` upgrades.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.result import command_line, new_provenance, package_versions
from robust_sabn.errors import UserInputError

SCHEMA_VERSION = 1

__all__ = ["append_jsonl", "environment", "new_record", "package_versions", "read_jsonl",
           "read_record", "write_record"]


def environment() -> dict[str, Any]:
    """``versions``, ``hardware``, ``created`` and the command line, for a new record."""
    provenance = new_provenance()
    return {"created": provenance.created, "command": command_line(),
            "versions": provenance.versions, "hardware": provenance.hardware}


def new_record(kind: str, **fields: Any) -> dict[str, Any]:
    """A record of ``kind`` with the environment filled in and ``fields`` added."""
    return {"kind": kind, "schema_version": SCHEMA_VERSION, **environment(), **fields}


def dumps_strict(value: Any, indent: int | None = None) -> str:
    """``json.dumps`` that refuses NaN and infinity.

    Raises:
        ValueError: a non-finite number somewhere in ``value``.
    """
    return json.dumps(value, indent=indent, allow_nan=False)


def write_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as indented strict JSON, atomically; returns the path."""
    from robust_sabn.artifacts.atomic import atomic_write_bytes

    data = (dumps_strict(record, indent=2) + "\n").encode()
    atomic_write_bytes(Path(path), lambda f: f.write(data))
    return Path(path)


def read_record(path: str | Path) -> dict[str, Any]:
    """Read one JSON object file (a config or a legacy record).

    Raises:
        UserInputError: missing file, invalid JSON, or not a robust-sabn record.
    """
    from robust_sabn.artifacts.user_files import load_json_object

    path = Path(path)
    record = load_json_object(path, "robust-sabn record")
    if "kind" not in record:
        raise UserInputError(f"{path} is not a robust-sabn result record (no 'kind' field)")
    return record


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one strict JSON line (a per-epoch metrics row) to ``path``, flushed to disk.

    Raises:
        ValueError: a non-finite number in ``row`` (nothing is written).
        UserInputError: ``path`` is a symbolic link (never followed).
    """
    from robust_sabn.artifacts.paths import open_no_follow

    line = (dumps_strict(row) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(open_no_follow(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a JSON-lines file; a torn last line (killed writer) is ignored."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
