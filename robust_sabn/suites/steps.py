"""Run one suite step wherever it is sent: in this process, a worker process or a cluster job.

Every place runs a step the same way (:func:`run_step`): take the step's own lock
(``<suite_dir>/.steps/<name>.lock``, an ``flock`` the kernel releases when its holder dies), look
at the step's state (another process may have done it meanwhile), do it (resuming a partial
result), release. So two ``suite run`` processes, or two cluster jobs, never run one step at
once, and a killed worker's step is taken up by the next runner.

A worker process or a cluster job gets a :class:`StepJob` and calls :func:`run_job`: steps are
closures, so the job carries what rebuilds them (the task object, the suite, the hooks, by
pickle: a task installed only where the run started and a test's hooks reach the worker) and
the step's label. Its output goes to ``<suite_dir>/.steps/<name>.log``; the dispatcher keeps a
failure's one-line error in ``<name>.failed`` until the step succeeds.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from robust_sabn.artifacts.lock import exclusive_lock
from robust_sabn.errors import UserInputError
from robust_sabn.suites.tasks import Hooks, Step, Suite, SuiteTask

STEPS_FOLDER = ".steps"
"""Per-step files inside a suite folder: lock, log, failure line, cluster job."""

Status = Literal["done", "skipped", "busy", "failed"]


@dataclass(frozen=True)
class StepFiles:
    """The files of one step under ``<suite_dir>/.steps/``, named after its label."""

    lock: Path
    log: Path
    failed: Path
    job: Path

    @classmethod
    def of(cls, suite_dir: Path, label: str) -> StepFiles:
        """The files of the step ``label`` (``evaluate bn-seed0 pgd eps 0.1`` ->
        ``evaluate_bn-seed0_pgd_eps_0.1.lock`` ...)."""
        stem = Path(suite_dir) / STEPS_FOLDER / re.sub(r"[^A-Za-z0-9.+-]+", "_", label)
        return cls(*(stem.with_name(f"{stem.name}.{ext}")
                     for ext in ("lock", "log", "failed", "job")))


@dataclass(frozen=True)
class StepOutcome:
    """What became of a step sent somewhere to run.

    Attributes:
        label: the step.
        status: ``done`` (ran now), ``skipped`` (done already, by another process maybe),
            ``busy`` (another live process holds its lock) or ``failed``.
        seconds: wall time of the work.
        resumed: it continued a partial result.
        error: for ``failed``, one line.
    """

    label: str
    status: Status
    seconds: float = 0.0
    resumed: bool = False
    error: str | None = None


def run_step(step: Step, suite_dir: Path, *, force: bool) -> StepOutcome:
    """Do ``step`` under its lock unless it is done (``force``: even then).

    Exceptions of the step's work propagate (the in-process runner stops at them;
    :func:`run_job` turns them into a failed outcome).
    """
    files = StepFiles.of(suite_dir, step.label)
    files.lock.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(files.lock) as taken:
        if not taken:
            return StepOutcome(step.label, "busy")
        state = "todo" if force else step.state()
        if state == "done":
            return StepOutcome(step.label, "skipped")
        start = time.perf_counter()
        step.execute(state == "partial")
        files.failed.unlink(missing_ok=True)
        return StepOutcome(step.label, "done", time.perf_counter() - start,
                           resumed=state == "partial")


@dataclass(frozen=True)
class StepJob:
    """Everything a worker process or cluster job needs to run one step (picklable when the
    task object and the hooks are: module-level functions and objects).

    Attributes:
        task: the suite's task kind (the object, so the worker needs no task lookup).
        suite: the parsed suite.
        suite_dir: its results folder.
        label: the step to run.
        hooks: replacements for the task's heavy functions (see ``run_suite``).
        force: recompute even when done.
    """

    task: SuiteTask
    suite: Suite
    suite_dir: Path
    label: str
    hooks: Hooks = field(default_factory=dict)
    force: bool = False


def one_line(exc: BaseException) -> str:
    """An exception as one line: a :class:`UserInputError`'s message, else ``Type: message``."""
    text = str(exc) if isinstance(exc, UserInputError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so child processes and
    C code too) to the end of ``log`` for the ``with`` block."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "ab", buffering=0) as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_job(job: StepJob) -> StepOutcome:
    """Run one step of a suite in this process with its output in the step's log: the entry
    point of worker processes and cluster jobs. A failure of the work is caught: its
    traceback goes to the log, its one line to the outcome."""
    files = StepFiles.of(job.suite_dir, job.label)
    with output_to(files.log):
        print(f"== {job.label}: PID {os.getpid()} on {socket.gethostname()}, "
              f"{time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
        try:
            steps = job.task.steps(job.suite, job.suite_dir, quiet=False, hooks=job.hooks)
            step = next((s for s in steps if s.label == job.label), None)
            if step is None:
                raise UserInputError(f"suite {job.suite.name} has no step {job.label!r} any "
                                     "more; run it again")
            outcome = run_step(step, job.suite_dir, force=job.force)
        except Exception as exc:
            traceback.print_exc()
            return StepOutcome(job.label, "failed", error=one_line(exc))
        print(f"== {job.label}: {outcome.status}", flush=True)
    return outcome


def use_threads_and_gpu(threads: int | None, gpu: str | None) -> None:
    """Give this process ``threads`` torch threads and only GPU ``gpu`` (an index as
    ``CUDA_VISIBLE_DEVICES`` takes it); None leaves either as it is. Call it before any CUDA
    work. Through the environment (``OMP_NUM_THREADS``, read when torch starts), and
    ``torch.set_num_threads`` when torch is loaded already (a worker that ran a step; the
    job just unpickled)."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
