"""The records a report or the claims page is rendered from, each result once.

:func:`read_unique` reads every record under the given files and folders (as
:func:`robust_sabn.artifacts.result.collect_results`) and refuses two records of the same result:
same task, kind, suite, arm (run), seed and file name, e.g. ``runs/style-offline/adain-seed0/
eval.json`` and a stale copy of it elsewhere. Without the check the later one silently
overwrites the earlier in every table. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.result import ResultRecord, collect_results
from robust_sabn.errors import UserInputError


def _seed(record: ResultRecord) -> Any:
    subject = record.subject
    config = subject.get("config") if isinstance(subject.get("config"), dict) else {}
    return subject.get("seed", (config or {}).get("seed"))


def result_identity(path: Path, record: ResultRecord) -> tuple[Any, ...]:
    """What makes a record one result: task, kind, suite, arm, seed and its file's name.

    The suite is ``record.suite["name"]`` (else the folder above the run's folder), the arm
    ``record.suite["run"]`` or ``subject["run"]`` (else the run folder's name).
    """
    suite = record.suite or {}
    name = suite.get("name") or path.parent.parent.name
    arm = suite.get("run") or record.subject.get("run") or path.parent.name
    return record.task, record.kind, str(name), str(arm), _seed(record), path.name


def check_unique(records: Iterable[tuple[Path, ResultRecord]]) -> None:
    """Refuse two records of one result (see :func:`result_identity`).

    Raises:
        UserInputError: naming both files and the result they share.
    """
    seen: dict[tuple[Any, ...], Path] = {}
    for path, record in records:
        key = result_identity(path, record)
        first = seen.setdefault(key, path)
        if first != path:
            task, kind, suite, arm, seed, _ = key
            seeded = "" if seed is None else f", seed {seed}"
            raise UserInputError(
                f"two {task} {kind} records of suite {suite}, arm {arm}{seeded}: {first} and "
                f"{path}; delete the stale one or read the folders separately")


def read_unique(sources: Iterable[str | Path]
                ) -> tuple[list[tuple[Path, ResultRecord]], list[str]]:
    """Every record under ``sources`` and the warnings about unreadable files, as
    :func:`~robust_sabn.artifacts.result.collect_results`, each result at most once.

    Raises:
        UserInputError: a source does not exist, or two records of one result.
    """
    records, warnings = collect_results(list(sources))
    check_unique(records)
    return records, warnings
