"""Committed records: a suite's results without checkpoints, in the repository, and its report
re-rendered from them.

``robust-sabn suite export-records NAME`` copies what the report and the claims page read from
``runs/<suite>/`` to ``records/<suite>/`` (same layout): every result record (``*.json`` that
validates as a :class:`~robust_sabn.artifacts.result.ResultRecord`; per-example flags stay in
their packed base64 form), each run's ``config.json`` and ``metrics.jsonl``, and the sample
images records point to (``*.png``). Checkpoints and everything else stay behind. The folder is
replaced as a whole, so a record deleted from the run folder leaves the export too. Then the
suite's report is re-rendered from ``records/<suite>/``; :func:`render_from_records` is also what
the test that compares every committed report with its re-rendering calls.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from robust_sabn.errors import UserInputError
from robust_sabn.suites.tasks import Suite, get_task

DEFAULT_RECORDS_ROOT = Path("records")
RUN_FILES = ("config.json", "metrics.jsonl")
"""Files of a run folder exported besides its records."""
IMAGE_SUFFIX = ".png"
NOT_REDERIVABLE = (
    "> **Not re-derivable.** The records behind this page were never committed (it predates "
    "`robust-sabn suite export-records`), so no number on it can be checked from this "
    "repository. Re-run its suite and export the records to replace it.")
"""The first line of a committed report whose records are not in the repository."""


def _exported(path: Path) -> bytes | None:
    """The bytes to export for ``path``, or None when it is not exported."""
    from robust_sabn.artifacts.result import read_result

    if path.name in RUN_FILES or path.suffix == IMAGE_SUFFIX:
        return path.read_bytes()
    if path.suffix != ".json":
        return None
    try:
        return read_result(path).to_json().encode()
    except UserInputError:
        return None


def export_records(suite: Suite, suite_dir: Path,
                   records_root: Path = DEFAULT_RECORDS_ROOT) -> list[Path]:
    """Replace ``records_root/<suite>/`` with the records of ``suite_dir`` (see the module
    docstring); returns the files written, sorted.

    Raises:
        UserInputError: ``suite_dir`` holds no result record.
    """
    files = sorted(p for p in suite_dir.rglob("*") if p.is_file()) if suite_dir.is_dir() else []
    exported = {p.relative_to(suite_dir): data for p in files
                if (data := _exported(p)) is not None}
    if not any(p.suffix == ".json" and p.name not in RUN_FILES for p in exported):
        raise UserInputError(f"{suite_dir} holds no result records of suite {suite.name}; run "
                             f"`robust-sabn suite run {suite.name}` first")
    target = records_root / suite.name
    records_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{suite.name}-", dir=records_root))
    for relative, data in exported.items():
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        (staging / relative).write_bytes(data)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return sorted(target / relative for relative in exported)


def suite_command(suite: Suite) -> str:
    """The command that runs the suite, as committed reports print it."""
    return f"robust-sabn suite run {suite.name}"


def render_from_records(suite: Suite, records_root: Path = DEFAULT_RECORDS_ROOT,
                        output: Path | None = None) -> Path:
    """Render the suite's report from ``records_root/<suite>/`` to ``output`` (default: the
    suite's report path).

    Raises:
        UserInputError: the suite has no exported records there.
    """
    folder = records_root / suite.name
    if not folder.is_dir():
        raise UserInputError(f"no committed records of suite {suite.name} ({folder} is missing);"
                             f" run `robust-sabn suite export-records {suite.name}`")
    task = get_task(suite.task)
    return task.render_report(suite, folder, output or task.report_path(suite),
                              suite_command(suite))
