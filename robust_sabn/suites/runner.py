"""The generic suite runner: do the steps not done yet, skip the rest, render the report.

Results live in ``<out_root>/<suite name>/`` (see the task kind's module for the layout). A
killed suite resumes where it stopped; a finished step is never recomputed unless ``force``.
While a suite runs, its folder is locked: a second runner on the same folder stops at once.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from robust_sabn.suites.spec import SuitesDir, find_suite, load_suite
from robust_sabn.suites.tasks import Hooks, Suite, get_task

DEFAULT_OUT_ROOT = Path("runs")


@dataclass(frozen=True)
class SuiteStatus:
    """How much of a suite is done: per step kind (``train``, ``evaluate``, ``search`` ...),
    steps done and in all, in the order the kinds first appear."""

    counts: dict[str, tuple[int, int]]

    @property
    def complete(self) -> bool:
        """Whether every step is done."""
        return all(done == total for done, total in self.counts.values())

    def summary(self) -> str:
        """``"train 3/3, evaluate 5/9"``."""
        return ", ".join(f"{kind} {done}/{total}" for kind, (done, total) in self.counts.items())


@dataclass
class SuiteRunResult:
    """What :func:`run_suite` did: steps run and skipped (their labels), and the report."""

    suite: Suite
    suite_dir: Path
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    report: Path | None = None
    wall_time_s: float = 0.0


def _as_suite(suite: Suite | str | Path, suites_dir: SuitesDir) -> Suite:
    return suite if isinstance(suite, Suite) else load_suite(find_suite(suite, suites_dir))


def suite_status(suite: Suite | str | Path, *, out_root: str | Path = DEFAULT_OUT_ROOT,
                 suites_dir: SuitesDir = None) -> SuiteStatus:
    """Count the done steps of ``suite`` under ``out_root``, per step kind. Nothing runs."""
    suite = _as_suite(suite, suites_dir)
    steps = get_task(suite.task).steps(suite, Path(out_root) / suite.name, quiet=True, hooks={})
    counts: dict[str, tuple[int, int]] = {}
    for step in steps:
        done, total = counts.get(step.kind, (0, 0))
        counts[step.kind] = (done + (step.state() == "done"), total + 1)
    return SuiteStatus(counts)


def _suite_command(suite: Suite, out_root: Path) -> str:
    args = ["robust-sabn", "suite", "run", str(suite.path)]
    if out_root != DEFAULT_OUT_ROOT:
        args += ["--out", str(out_root)]
    return shlex.join(args)


def run_suite(
    suite: Suite | str | Path,
    *,
    out_root: str | Path = DEFAULT_OUT_ROOT,
    force: bool = False,
    progress: bool = True,
    hooks: Hooks | None = None,
    report_path: str | Path | None = None,
    suites_dir: SuitesDir = None,
    console: Console | None = None,
) -> SuiteRunResult:
    """Run every step of ``suite`` that is not done, then render its report.

    Args:
        suite: a parsed :class:`Suite`, a suite file, or a suite name (see
            :func:`robust_sabn.suites.spec.suite_dirs` for where names are looked up).
        out_root: results go to ``<out_root>/<suite name>/``.
        force: recompute every step (training from scratch) even when done.
        progress: show a progress bar across steps (and the steps' own displays).
        hooks: replacements for the task's heavy functions by name (see the task kind; the
            adversarial task takes ``train`` and ``evaluate``).
        report_path: the Markdown report; default: the task's (``reports/<suite>.md``).
        suites_dir: an extra folder where suite names are looked up first.
        console: where progress goes (default: the terminal).

    Raises:
        UserInputError: a bad suite file, bad options found by a step, or the suite folder
            locked by another running process.
    """
    from robust_sabn.artifacts.checkpoint import remove_stale_temp_files
    from robust_sabn.artifacts.lock import folder_lock

    start = time.perf_counter()
    suite = _as_suite(suite, suites_dir)
    out_root = Path(out_root)
    task = get_task(suite.task)
    suite_dir = out_root / suite.name
    result = SuiteRunResult(suite=suite, suite_dir=suite_dir)
    suite_dir.mkdir(parents=True, exist_ok=True)
    with folder_lock(suite_dir):
        for folder in [suite_dir, *(p for p in suite_dir.rglob("*") if p.is_dir())]:
            remove_stale_temp_files(folder)  # left by writes killed in an earlier run
        steps = task.steps(suite, suite_dir, quiet=not progress, hooks=hooks or {})
        _run_steps(suite, steps, result, force=force, progress=progress, console=console)
        output = Path(report_path) if report_path is not None else task.report_path(suite)
        result.report = task.render_report(suite, suite_dir, output,
                                           _suite_command(suite, out_root))
    result.wall_time_s = time.perf_counter() - start
    return result


def _run_steps(suite: Suite, steps: list[Any], result: SuiteRunResult, *, force: bool,
               progress: bool, console: Console | None) -> None:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        overall = bar.add_task(suite.name, total=len(steps))
        for step in steps:
            state = "todo" if force else step.state()
            if state == "done":
                result.skipped.append(step.label)
                bar.advance(overall)
                continue
            bar.update(overall, description=f"{suite.name}: {step.label}")
            t0 = time.perf_counter()
            step.execute(state == "partial")
            result.executed.append(step.label)
            bar.advance(overall)
            if progress:
                resumed = " (resumed)" if state == "partial" else ""
                bar.console.print(f"[green]done[/] {step.label}{resumed} "
                                  f"in {time.perf_counter() - t0:.0f} s", highlight=False)
        bar.update(overall, description=suite.name)
        if progress and result.skipped:
            bar.console.print(f"skipped {len(result.skipped)} steps already done "
                              "(use --force to recompute)", highlight=False)
