"""The result record every task writes: a typed schema, torch-free to read.

One JSON object per result (a training run, an evaluation, a search, a set of samples)::

    {"schema_version": 2, "task": "adversarial", "kind": "evaluation", "status": "ok",
     "subject": {"run": "saauxbn-seed0", "model": {...}, "dataset": "fashion-mnist", ...},
     "metrics": [{"name": "accuracy", "value": 0.73, "n": 500, "branch": "adv",
                  "condition": {"attack": "pgd-20", "eps": 0.1}}, ...],
     "extras": {...}, "suite": null,
     "provenance": {"created": ..., "command": ..., "versions": {...}, "hardware": {...},
                    "wall_time_s": 12.3}}

Accuracies are fractions in [0, 1]; eps is on the [0, 1] pixel scale. Records are written as
strict JSON (a NaN or infinite value is refused) and read through :func:`read_result`, which
also upgrades older layouts of a task's records (a record without ``task``) through the task's
own reader (``TaskPlugin.record_upgrade``: the adversarial task reads robust-sabn 0.1's
version-1 records).
The JSON Schema is :func:`record_json_schema` (``robust-sabn schema`` prints it).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from robust_sabn.artifacts.user_files import load_json_object, read_user_text
from robust_sabn.errors import UserInputError

SCHEMA_VERSION = 2
RECORD_SUFFIX = ".json"
_PACKAGES = ("robust-sabn", "torch", "torchvision", "torchattacks", "pyautoattack", "robustbench",
             "torchmetrics", "torch-fidelity")

Scalar = str | int | float | bool | None


class Metric(BaseModel):
    """One measured number.

    Attributes:
        name: what was measured (``accuracy``, ``fid``, ``content_loss`` ...).
        value: the number (finite).
        n: how many examples or samples it is over, when that applies.
        branch: the model branch it was measured on (``clean``, ``adv``), if any.
        condition: everything else that qualifies it (``{"attack": "pgd-20", "eps": 0.1}``,
            ``{"step": 4000}``, ``{"features": "classifier"}``).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    value: float
    n: int | None = None
    branch: str | None = None
    condition: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number (no NaN or infinity)")
        return value

    def matches(self, name: str, branch: str | None, condition: dict[str, Scalar]) -> bool:
        """Whether this is metric ``name`` on ``branch`` (None: any) with every given
        condition value (floats compared to 9 decimals)."""
        if self.name != name or (branch is not None and self.branch != branch):
            return False
        return all(_same(self.condition.get(k), v) for k, v in condition.items())


def _same(a: Scalar, b: Scalar) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return round(float(a), 9) == round(float(b), 9)
    return a == b


class Provenance(BaseModel):
    """Where a record came from: when, by which command, with which versions and machine."""

    model_config = ConfigDict(extra="allow")

    created: str
    command: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    hardware: dict[str, Any] = Field(default_factory=dict)
    wall_time_s: float | None = None


class ResultRecord(BaseModel):
    """A result of any task (see the module docstring for the layout)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = SCHEMA_VERSION
    task: str
    kind: str
    status: Literal["ok", "diverged"] = "ok"
    subject: dict[str, Any] = Field(default_factory=dict)
    metrics: list[Metric] = Field(default_factory=list)
    extras: dict[str, Any] = Field(default_factory=dict)
    suite: dict[str, Any] | None = None
    provenance: Provenance

    def find(self, name: str, branch: str | None = None, **condition: Scalar) -> list[Metric]:
        """Every metric ``name`` (on ``branch``, with the given condition values)."""
        return [m for m in self.metrics if m.matches(name, branch, condition)]

    def value(self, name: str, branch: str | None = None, **condition: Scalar) -> float | None:
        """The value of the one matching metric, or None when there is none.

        Raises:
            ValueError: more than one metric matches (add a branch or condition).
        """
        found = self.find(name, branch, **condition)
        if len(found) > 1:
            raise ValueError(f"{len(found)} metrics {name!r} match {condition}; narrow it")
        return found[0].value if found else None

    def to_json(self) -> str:
        """Indented strict JSON (raises ValueError on a non-finite number anywhere)."""
        return json.dumps(self.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"


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
        "device": "cpu",
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
    return info


def command_line() -> str:
    """The command that is running, as typed (program name without its folder)."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def new_provenance(wall_time_s: float | None = None) -> Provenance:
    """Provenance of a record made now by this process."""
    return Provenance(created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                      command=command_line(), versions=package_versions(),
                      hardware=hardware(), wall_time_s=wall_time_s)


def new_result(task: str, kind: str, *, subject: dict[str, Any],
               metrics: Iterable[Metric] = (), extras: dict[str, Any] | None = None,
               wall_time_s: float | None = None, status: Literal["ok", "diverged"] = "ok",
               ) -> ResultRecord:
    """A record of ``task``/``kind`` made now, provenance filled in."""
    return ResultRecord(task=task, kind=kind, status=status, subject=subject,
                        metrics=list(metrics), extras=extras or {},
                        provenance=new_provenance(wall_time_s))


def write_result(path: str | Path, record: ResultRecord) -> Path:
    """Write ``record`` as strict, indented JSON, atomically; returns the path.

    Raises:
        ValueError: a non-finite number in ``subject`` or ``extras``.
    """
    from robust_sabn.artifacts.atomic import atomic_write_bytes

    data = record.to_json().encode()
    atomic_write_bytes(Path(path), lambda f: f.write(data))
    return Path(path)


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def parse_result(data: Any, source: str) -> ResultRecord:
    """Validate a decoded JSON object as a record (a legacy record is upgraded by its task).

    Raises:
        UserInputError: not a record; the message names ``source``, the key and what was
            expected.
    """
    if not isinstance(data, dict):
        raise UserInputError(f"{source} is not a robust-sabn result record (not a JSON object)")
    if "task" not in data:
        data = _upgrade_legacy(data)
    try:
        return ResultRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserInputError(
            f"{source} is not a valid result record: key {_location(first)}: {first['msg']} "
            f"({exc.error_count()} problem(s); see `robust-sabn schema`)"
        ) from exc


def _upgrade_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the first installed task's legacy reader upgrades it (unchanged when none
    knows it: validation then names what is missing)."""
    from robust_sabn.plugins import record_upgraders

    for upgrade in record_upgraders():
        upgraded = upgrade(data)
        if upgraded is not None:
            return upgraded
    return data


def read_result(path: str | Path) -> ResultRecord:
    """Read one record file.

    Raises:
        UserInputError: missing or unreadable file, invalid or truncated JSON, or a JSON object
            that is not a valid record (the message names the file and the key).
    """
    return parse_result(load_json_object(path, "result record", finite=True), str(path))


def read_result_if_valid(path: str | Path) -> ResultRecord | None:
    """The record at ``path``, or None when it is missing or unreadable: what a resumable step
    asks to decide whether its result is there (an unreadable one is redone)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return read_result(path)
    except UserInputError:
        return None


def collect_results(sources: Iterable[str | Path] | str | Path
                    ) -> tuple[list[tuple[Path, ResultRecord]], list[str]]:
    """Every record in the given files and folders (folders searched recursively).

    Files that are not records (``config.json`` of a run, a model sidecar) are passed over
    silently when they have no ``task``/``kind``/``schema_version`` key; a file that looks
    like a record but cannot be read (truncated, corrupt, invalid) is named in the warnings.

    Returns:
        ``(records, warnings)``: ``(path, record)`` pairs sorted by path, and one line per
        unreadable record.

    Raises:
        UserInputError: a given path does not exist.
    """
    if isinstance(sources, str | Path):
        sources = [sources]
    files: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            files.extend(sorted(source.rglob(f"*{RECORD_SUFFIX}")))
        elif source.is_file():
            files.append(source)
        else:
            raise UserInputError(f"no such file or folder: {source}")
    records: list[tuple[Path, ResultRecord]] = []
    warnings: list[str] = []
    for path in dict.fromkeys(files):
        try:
            text = read_user_text(path, "result record")
        except UserInputError as exc:
            warnings.append(f"skipped {exc}")
            continue
        if not _looks_like_record(text):
            continue
        try:
            records.append((path, read_result(path)))
        except UserInputError as exc:
            warnings.append(f"skipped {exc}")
    return records, warnings


def _looks_like_record(text: str) -> bool:
    """A cheap test: a record (or a torn one) mentions its schema version near the start."""
    return '"schema_version"' in text[:2000] or '"kind"' in text[:200]


def record_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`ResultRecord` (what every record file validates against)."""
    return ResultRecord.model_json_schema()
