"""Reports: result records (JSON) -> Markdown with tables, statistics and images.

This package is the kit every task's report is built from (:mod:`robust_sabn.report.kit`,
:mod:`robust_sabn.report.stats`) and :func:`render_records`, which reads records of any task
and hands them to that task's renderer. It reads records only; it never imports torch.

    >>> from robust_sabn.report import render_records
    >>> render_records(["runs/adversarial-fmnist"], "reports/adversarial-fmnist.md")
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from robust_sabn.errors import UserInputError
from robust_sabn.report.records import read_unique


def render_records(sources: Iterable[str | Path], output: str | Path, *,
                   options: Mapping[str, Any] | None = None, command: str | None = None
                   ) -> tuple[Path, list[str]]:
    """Render the records found in ``sources`` (files or folders) with their task's renderer.

    Returns:
        The report's path and the warnings about unreadable record files (also in the report).

    Raises:
        UserInputError: no records, records of several tasks, two records of one result (see
            :func:`robust_sabn.report.records.read_unique`), or an option the task does not
            take.
    """
    from robust_sabn.suites.tasks import get_task

    sources = [Path(s) for s in sources]
    records, warnings = read_unique(sources)
    if not records:
        skipped = f" ({len(warnings)} unreadable: {warnings[0]})" if warnings else ""
        raise UserInputError("no result records found in " + ", ".join(map(str, sources))
                             + f"{skipped}; run `robust-sabn eval` or a suite first")
    tasks = sorted({record.task for _, record in records})
    if len(tasks) > 1:
        raise UserInputError(f"the records belong to several tasks ({', '.join(tasks)}); give "
                             "the folders of one task")
    output = Path(output)
    if command is None:
        command = shlex.join(["robust-sabn", "report", *map(str, sources), "-o", str(output)])
    path = get_task(tasks[0]).render_records(records, output, command=command,
                                             warnings=warnings, options=options or {})
    return path, warnings


__all__ = ["render_records"]
