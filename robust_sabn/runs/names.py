"""The file names of a run folder, torch-free (suite tasks read them to decide what is done)."""

from __future__ import annotations

from pathlib import Path

from robust_sabn.artifacts.result import ResultRecord, read_result_if_valid

RECORD_NAME = "train_record.json"
"""The record every trainer writes when its run ends (``ok`` or ``diverged``)."""

LEGACY_RECORD_NAMES = ("train.json", "search.json")
"""Where style-transfer (``train.json``) and NAS search (``search.json``) runs made before the
names were unified wrote their record; still read, so finished suites stay finished."""

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
LAST_CHECKPOINT = "last.pt"


def record_path(run_dir: Path) -> Path:
    """The record file of the run in ``run_dir``: :data:`RECORD_NAME`, or the legacy name an
    older run wrote when only that exists."""
    current = run_dir / RECORD_NAME
    if not current.is_file():
        for name in LEGACY_RECORD_NAMES:
            if (run_dir / name).is_file():
                return run_dir / name
    return current


def read_run_record(run_dir: Path) -> ResultRecord | None:
    """The record of the run in ``run_dir`` (see :func:`record_path`), or None when it is
    missing or unreadable."""
    return read_result_if_valid(record_path(run_dir))
