"""The generic suite runner: do the steps not done yet, skip the rest, render the report.

Results live in ``<out_root>/<suite name>/`` (see the task kind's module for the layout). A
killed suite resumes where it stopped; a finished step is never recomputed unless ``force``.
Steps run one at a time in this process, or side by side in worker processes (``jobs``); each
holds its own lock while it runs (:mod:`robust_sabn.suites.steps`), so two runners on one folder
share the work and never do a step twice.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich import get_console
from rich.console import Console

from robust_sabn.suites.spec import SuitesDir, find_suite, load_suite
from robust_sabn.suites.tasks import Hooks, Suite, SuiteTask, get_task

if TYPE_CHECKING:
    from robust_sabn.suites.cluster import ClusterOptions
    from robust_sabn.suites.dispatch import Executor

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
    """What :func:`run_suite` did: steps run, skipped (done already) and failed (label: its
    one-line error), and the report (None when a step failed)."""

    suite: Suite
    suite_dir: Path
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
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


@dataclass(frozen=True)
class StepStatus:
    """Where one step of a suite stands.

    Attributes:
        label: the step.
        kind: its kind (``train``, ``evaluate`` ...).
        state: ``done``; ``running`` (a process holds its lock, or its cluster job runs);
            ``queued`` (its cluster job waits); ``failed`` (its last run failed); ``partial``
            (started, resumable) or ``todo``.
        detail: who runs it, its job, or its error.
    """

    label: str
    kind: str
    state: str
    detail: str = ""


def step_statuses(suite: Suite | str | Path, *, out_root: str | Path = DEFAULT_OUT_ROOT,
                  suites_dir: SuitesDir = None) -> list[StepStatus]:
    """Every step of ``suite`` under ``out_root`` with its state (see :class:`StepStatus`).
    Nothing runs; a SLURM job's state comes from ``sacct`` through submitit."""
    from robust_sabn.artifacts.lock import lock_holder
    from robust_sabn.suites.cluster import job_state
    from robust_sabn.suites.steps import StepFiles

    suite = _as_suite(suite, suites_dir)
    suite_dir = Path(out_root) / suite.name
    statuses = []
    for step in get_task(suite.task).steps(suite, suite_dir, quiet=True, hooks={}):
        files = StepFiles.of(suite_dir, step.label)
        state = step.state()
        holder = lock_holder(files.lock) if state != "done" else None
        job = job_state(files.job) if state != "done" and holder is None else None
        if state == "done":
            status = StepStatus(step.label, step.kind, "done")
        elif holder is not None:
            status = StepStatus(step.label, step.kind, "running", holder)
        elif job is not None:
            status = StepStatus(step.label, step.kind, *job)
        elif files.failed.is_file():
            status = StepStatus(step.label, step.kind, "failed",
                                files.failed.read_text().strip())
        else:
            status = StepStatus(step.label, step.kind, state)
        statuses.append(status)
    return statuses


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
    jobs: int | None = None,
    cluster: ClusterOptions | None = None,
) -> SuiteRunResult:
    """Run every step of ``suite`` that is not done, then render its report.

    Args:
        suite: a parsed :class:`Suite`, a suite file, or a suite name (see
            :func:`robust_sabn.suites.spec.suite_dirs` for where names are looked up).
        out_root: results go to ``<out_root>/<suite name>/``.
        force: recompute every step (training from scratch) even when done.
        progress: show the progress of the steps (and the steps' own displays).
        hooks: replacements for the task's heavy functions by name (see the task kind; the
            adversarial task takes ``train`` and ``evaluate``). With ``jobs > 1`` they travel
            to the workers by pickle: module-level functions or objects.
        report_path: the Markdown report; default: the task's (``reports/<suite>.md``).
        suites_dir: an extra folder where suite names are looked up first.
        console: where progress goes (default: the terminal).
        jobs: 1 (default): one step at a time in this process; an exception stops the suite.
            N > 1: up to N steps at once in worker processes (each with one GPU when there are
            GPUs, and ``cores // N`` torch threads), each step after the steps it waits for,
            with its output in ``<suite folder>/.steps/<step>.log``; a failed step is reported
            in ``failed`` and the others go on. With ``cluster``: at most N jobs at once
            (default: no limit).
        cluster: run each step as a SLURM job (or on submitit's local executor) with these
            resources, as ``jobs > 1`` does with worker processes.

    Each step holds its own lock while it runs, so several runners (processes, machines on a
    shared file system) can work on one suite folder: each step is done once.

    Raises:
        UserInputError: a bad suite file, bad options found by a step (``jobs=1``).
    """
    from robust_sabn.artifacts.atomic import remove_stale_temp_files
    from robust_sabn.suites.dispatch import InProcess, WorkerPool, local_slots
    from robust_sabn.suites.steps import StepJob

    start = time.perf_counter()
    suite = _as_suite(suite, suites_dir)
    task = get_task(suite.task)
    suite_dir = Path(out_root) / suite.name
    suite_dir.mkdir(parents=True, exist_ok=True)
    for folder in [suite_dir, *(p for p in suite_dir.rglob("*") if p.is_dir())]:
        remove_stale_temp_files(folder)  # left by killed writes; live writers' files stay
    def make_job(label: str) -> StepJob:
        return StepJob(task, suite, suite_dir, label, dict(hooks or {}), force)

    executor: Executor
    if cluster is not None:
        from robust_sabn.suites.cluster import SubmititExecutor

        executor = SubmititExecutor(replace(cluster, max_jobs=jobs), suite_dir, make_job)
    elif jobs is not None and jobs > 1:
        executor = WorkerPool(local_slots(jobs), make_job)
    else:
        executor = InProcess(suite_dir, force=force)
    try:
        result = run_steps(suite, task, suite_dir, executor, force=force, progress=progress,
                           hooks=hooks, console=console,
                           one_at_a_time=isinstance(executor, InProcess))
    finally:
        executor.close()
    if not result.failed:
        output = Path(report_path) if report_path is not None else task.report_path(suite)
        result.report = task.render_report(suite, suite_dir, output,
                                           _suite_command(suite, Path(out_root)))
    result.wall_time_s = time.perf_counter() - start
    return result


def run_steps(suite: Suite, task: SuiteTask, suite_dir: Path, executor: Executor, *,
              force: bool, progress: bool, hooks: Hooks | None, console: Console | None,
              one_at_a_time: bool) -> SuiteRunResult:
    """The steps of ``suite`` not done (all with ``force``) through ``executor``, shown as a bar
    (``one_at_a_time``) or a live table of running steps."""
    from robust_sabn.suites.dispatch import check_dependencies, dispatch
    from robust_sabn.suites.display import StepBar, WorkerTable

    steps = task.steps(suite, suite_dir, quiet=not progress, hooks=hooks or {})
    check_dependencies(steps)
    done = set() if force else {step.label for step in steps if step.state() == "done"}
    display: StepBar | WorkerTable = (
        StepBar(suite.name, len(steps), len(done), console=console, enabled=progress)
        if one_at_a_time else
        WorkerTable(suite.name, len(steps), len(done), suite_dir, console=console,
                    enabled=progress))
    with display:
        outcome = dispatch(steps, done, executor, display, suite_dir=suite_dir)
    if progress and outcome.skipped:
        (console or get_console()).print(
            f"skipped {len(outcome.skipped)} steps already done (use --force to recompute)",
            highlight=False)
    return SuiteRunResult(suite=suite, suite_dir=suite_dir, executed=outcome.executed,
                          skipped=outcome.skipped, failed=outcome.failed)
