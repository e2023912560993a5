"""The generic suite runner: do the steps not done yet, skip the rest, render the report.

Results live in ``<out_root>/<suite name>/`` (see the task kind's module for the layout). A
killed suite resumes where it stopped; a finished step is never recomputed unless ``force``.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from robust_sabn.suites.spec import DEFAULT_SUITES_DIR, find_suite, load_suite
from robust_sabn.suites.tasks import Suite, get_task

DEFAULT_OUT_ROOT = Path("runs")


@dataclass(frozen=True)
class SuiteStatus:
    """How much of a suite is done: training runs and evaluations, done and total."""

    runs_done: int
    runs_total: int
    evaluations_done: int
    evaluations_total: int

    @property
    def complete(self) -> bool:
        """Whether every run and evaluation is done."""
        return (self.runs_done == self.runs_total
                and self.evaluations_done == self.evaluations_total)


@dataclass
class SuiteRunResult:
    """What :func:`run_suite` did: steps run and skipped (their labels), and the report."""

    suite: Suite
    suite_dir: Path
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    report: Path | None = None
    wall_time_s: float = 0.0


def _as_suite(suite: Suite | str | Path, suites_dir: str | Path) -> Suite:
    return suite if isinstance(suite, Suite) else load_suite(find_suite(suite, suites_dir))


def suite_status(suite: Suite | str | Path, *, out_root: str | Path = DEFAULT_OUT_ROOT,
                 suites_dir: str | Path = DEFAULT_SUITES_DIR) -> SuiteStatus:
    """Count the done training runs and evaluations of ``suite`` under ``out_root``.

    Nothing is trained or evaluated; checkpoints are hashed to check evaluation records.
    """
    suite = _as_suite(suite, suites_dir)
    steps = get_task(suite.task).steps(suite, Path(out_root) / suite.name, train_fn=None,
                                       evaluate_fn=None, quiet=True)
    counts = {"train": [0, 0], "evaluate": [0, 0]}
    for step in steps:
        counts[step.kind][1] += 1
        counts[step.kind][0] += step.state() == "done"
    return SuiteStatus(counts["train"][0], counts["train"][1],
                       counts["evaluate"][0], counts["evaluate"][1])


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
    train_fn: Callable[..., Any] | None = None,
    evaluate_fn: Callable[..., dict[str, Any]] | None = None,
    report_path: str | Path | None = None,
    suites_dir: str | Path = DEFAULT_SUITES_DIR,
    console: Console | None = None,
) -> SuiteRunResult:
    """Run every step of ``suite`` that is not done, then render its report.

    Args:
        suite: a parsed :class:`Suite`, a suite file, or a suite name in ``suites_dir``.
        out_root: results go to ``<out_root>/<suite name>/``.
        force: recompute every step (training from scratch) even when done.
        progress: show a progress bar across steps (and the trainer's own display).
        train_fn: ``train_fn(fields, run_dir, *, resume, quiet)`` where ``fields`` are the
            ``TrainConfig`` keyword arguments; default: ``robust_sabn.train.train``.
        evaluate_fn: ``evaluate_fn(checkpoint, **settings) -> record`` with the keyword
            arguments of ``robust_sabn.evaluate.evaluate_checkpoint`` (the default).
        report_path: the Markdown report; default: the suite's ``[comparison] output`` or
            ``reports/<suite>.md``.
        suites_dir: where suite names are looked up.
        console: where progress goes (default: the terminal).

    Raises:
        UserInputError: a bad suite file or bad options found by training or evaluation.
    """
    start = time.perf_counter()
    suite = _as_suite(suite, suites_dir)
    out_root = Path(out_root)
    task = get_task(suite.task)
    suite_dir = out_root / suite.name
    steps = task.steps(suite, suite_dir, train_fn=train_fn, evaluate_fn=evaluate_fn,
                       quiet=not progress)
    result = SuiteRunResult(suite=suite, suite_dir=suite_dir)
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
    output = Path(report_path) if report_path is not None else task.report_path(suite)
    result.report = task.render_report(suite, suite_dir, output,
                                       _suite_command(suite, out_root))
    result.wall_time_s = time.perf_counter() - start
    return result
