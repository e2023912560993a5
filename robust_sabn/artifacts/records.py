"""Result records: one JSON object per run or evaluation, written atomically, read back.

Every record holds ``kind`` (``"training"`` or ``"evaluation"``), ``schema_version``,
``created`` (UTC ISO time), ``versions`` and ``hardware`` (see :func:`environment`), plus the
kind's own fields. Accuracies are fractions in [0, 1]; eps is on the [0, 1] pixel scale.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from robust_sabn.artifacts.checkpoint import atomic_write_bytes
from robust_sabn.errors import UserInputError

SCHEMA_VERSION = 1
_PACKAGES = ("robust-sabn", "torch", "torchvision", "torchattacks", "pyautoattack", "robustbench")


def package_versions() -> dict[str, str]:
    """Installed versions of Python and the packages results depend on ("absent" if missing)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def hardware() -> dict[str, Any]:
    """The machine a result came from: CPU, core count, torch threads, accelerator if any."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
    }
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


def environment() -> dict[str, Any]:
    """``versions``, ``hardware``, ``created`` and the command line, for a new record."""
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "versions": package_versions(),
        "hardware": hardware(),
    }


def new_record(kind: str, **fields: Any) -> dict[str, Any]:
    """A record of ``kind`` with the environment filled in and ``fields`` added."""
    return {"kind": kind, "schema_version": SCHEMA_VERSION, **environment(), **fields}


def write_record(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as indented JSON, atomically; returns the path."""
    data = (json.dumps(record, indent=2, sort_keys=False) + "\n").encode()
    atomic_write_bytes(Path(path), lambda f: f.write(data))
    return Path(path)


def read_record(path: str | Path) -> dict[str, Any]:
    """Read one JSON record.

    Raises:
        UserInputError: missing file, invalid JSON, or not a robust-sabn record.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"result record not found: {path}")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(record, dict) or "kind" not in record:
        raise UserInputError(f"{path} is not a robust-sabn result record (no 'kind' field)")
    return record


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one JSON line (a per-epoch metrics row) to ``path`` and flush it to disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
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
