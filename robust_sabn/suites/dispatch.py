"""The dispatch loop of ``suite run``: ready steps go to an executor, finished ones come back.

A step is ready when every step it waits for (:attr:`Step.after`) is done and no other process
holds its lock. The executor decides where it runs: :class:`InProcess` (``--jobs 1``: one step
at a time in this process, as always), :class:`WorkerPool` (``--jobs N``: N worker processes,
each with one GPU or a share of the cores) or the SLURM one in
:mod:`robust_sabn.suites.cluster`. This is a loop, not a scheduler: the operating system or
SLURM decide the rest.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from robust_sabn.artifacts.lock import lock_holder
from robust_sabn.suites.steps import (
    StepFiles,
    StepJob,
    StepOutcome,
    run_job,
    run_step,
    use_threads_and_gpu,
)
from robust_sabn.suites.tasks import Step

POLL_S = 0.5
"""How often the loop looks at running steps and at steps busy in another process (s)."""


class Executor(Protocol):
    """Where steps run."""

    def free(self) -> int:
        """How many more steps it takes now."""
        ...

    def submit(self, step: Step) -> str:
        """Start ``step``; returns where it runs (``worker 2``, a job id) for the display."""
        ...

    def wait(self, timeout: float) -> list[StepOutcome]:
        """The outcomes of steps finished since the last call, waiting up to ``timeout`` s
        for one when none is."""
        ...

    def close(self) -> None:
        """Stop (a step still running is killed; its lock is released with it)."""
        ...


class Display(Protocol):
    """What the loop tells the person watching."""

    def started(self, step: Step, where: str) -> None: ...

    def finished(self, outcome: StepOutcome) -> None: ...

    def refresh(self) -> None: ...


@dataclass
class DispatchResult:
    """Labels of the steps run, those found done (before or by another process), and the
    failed ones with their one-line error."""

    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def check_dependencies(steps: Sequence[Step]) -> None:
    """Raises ValueError when two labels name the same step files (equal labels too) or a step
    waits for one that does not come before it (so there are no cycles)."""
    seen: set[str] = set()
    names: set[str] = set()
    for step in steps:
        later = set(step.after) - seen
        if later:
            raise ValueError(f"suite step {step.label!r} waits for {sorted(later)}, which do not "
                             "come before it")
        name = StepFiles.of(Path(), step.label).lock.name
        if name in names:
            raise ValueError(f"suite step {step.label!r}: another step has the same file name")
        seen.add(step.label)
        names.add(name)


def dispatch(steps: Sequence[Step], done: set[str], executor: Executor, display: Display, *,
             suite_dir: Path) -> DispatchResult:
    """Run ``steps`` not in ``done`` (labels done before) on ``executor``, each after the steps
    it waits for; a failed step's dependents are not run (they fail, naming it) and the rest go
    on. A step whose lock another process holds is looked at again every :data:`POLL_S` s
    until that process has done it or died."""
    result = DispatchResult(skipped=[s.label for s in steps if s.label in done])
    done = set(done)
    todo = [step for step in steps if step.label not in done]
    running: set[str] = set()

    def collect(outcomes: list[StepOutcome]) -> None:
        while outcomes:
            for outcome in outcomes:
                running.discard(outcome.label)
                _record(outcome, result, done, todo, steps, suite_dir)
                display.finished(outcome)
            blocked = [s for s in todo if set(s.after) & result.failed.keys()]
            for step in blocked:
                todo.remove(step)
            outcomes = [StepOutcome(s.label, "failed", error=f"not run: {first!r} failed")
                        for s in blocked
                        for first in [next(d for d in s.after if d in result.failed)]]

    def ready() -> Step | None:
        return next((s for s in todo if set(s.after) <= done and lock_holder(
            StepFiles.of(suite_dir, s.label).lock) is None), None)  # else another process has it

    while todo or running:
        collect(executor.wait(POLL_S if running else 0.0))
        while executor.free() > 0 and (step := ready()) is not None:
            todo.remove(step)
            running.add(step.label)
            display.started(step, executor.submit(step))
            collect(executor.wait(0.0))  # a step run in this process is finished already
        display.refresh()
        if todo and not running:
            time.sleep(POLL_S)  # everything left waits for other processes
    return result


def _record(outcome: StepOutcome, result: DispatchResult, done: set[str], todo: list[Step],
            steps: Sequence[Step], suite_dir: Path) -> None:
    failed = StepFiles.of(suite_dir, outcome.label).failed
    if outcome.status == "busy":  # taken by another process in the meantime: again later
        todo.insert(0, next(s for s in steps if s.label == outcome.label))
    elif outcome.status == "failed":
        result.failed[outcome.label] = str(outcome.error)
        failed.write_text(f"{outcome.error}\n")
    else:
        done.add(outcome.label)
        (result.executed if outcome.status == "done" else result.skipped).append(outcome.label)
        failed.unlink(missing_ok=True)


class InProcess:
    """``--jobs 1``: each step runs here, at once, with its output on the terminal; an exception
    stops the suite, as ``suite run`` always did."""

    def __init__(self, suite_dir: Path, *, force: bool) -> None:
        self.suite_dir, self.force = suite_dir, force
        self._done: list[StepOutcome] = []

    def free(self) -> int:
        return 1

    def submit(self, step: Step) -> str:
        self._done.append(run_step(step, self.suite_dir, force=self.force))
        return "this process"

    def wait(self, timeout: float) -> list[StepOutcome]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Nothing to release: steps ran in this process."""


@dataclass(frozen=True)
class Slot:
    """One worker's share of the machine: torch threads, and a GPU (a ``CUDA_VISIBLE_DEVICES``
    entry) when there are GPUs."""

    name: str
    threads: int | None
    gpu: str | None

    def describe(self) -> str:
        """``worker 1 (GPU 0, 4 threads)``."""
        parts = [f"GPU {self.gpu}"] if self.gpu is not None else []
        if self.threads is not None:
            parts.append(f"{self.threads} thread{'s' * (self.threads != 1)}")
        return f"{self.name} ({', '.join(parts)})" if parts else self.name


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (empty: none).
    Torch is asked only on a machine with a GPU driver loaded (NVIDIA's or ROCm's): importing
    it takes seconds."""
    if not any(Path(p).exists() for p in ("/proc/driver/nvidia", "/dev/kfd")):
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    listed = [x.strip() for x in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
              if x.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def local_slots(jobs: int, gpus: Sequence[str] | None = None) -> list[Slot]:
    """``jobs`` workers: worker i takes GPU ``i mod len(gpus)`` when there are GPUs, and
    ``cores // jobs`` torch threads (at least one), cores being those this process may use."""
    gpus = visible_gpus() if gpus is None else list(gpus)
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)
    return [Slot(f"worker {i + 1}", threads, gpus[i % len(gpus)] if gpus else None)
            for i in range(jobs)]


PARENT_CHECK_S = 1.0
"""How often a worker looks whether the suite process that started it is still there (s)."""


def _exit_with_parent(parent: int) -> None:
    """Exit this worker as soon as its parent process ``parent`` is gone. Ctrl-C reaches the
    parent, which stops its workers; a SIGTERM or SIGKILL of the parent alone does not, and
    without this the worker would run its step to the end with nobody waiting for it (the step's
    atomic checkpoints and its lock, released at exit, let a rerun resume it)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


def _worker_main(conn: Connection, threads: int | None, gpu: str | None, parent: int) -> None:
    """A worker process of ``parent``: set its threads and GPU, then run the jobs it is sent
    until told to stop (an empty message) or its parent is gone. Ctrl-C is the parent's to
    handle: it stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent)
    use_threads_and_gpu(threads, gpu)
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        if not message:
            return
        job = pickle.loads(message)
        use_threads_and_gpu(threads, None)  # unpickling may have loaded torch
        conn.send(run_job(job))


@dataclass
class _Worker:
    slot: Slot
    process: Any
    conn: Connection
    label: str | None = None


class WorkerPool:
    """``--jobs N``: one spawned worker process per slot, each running one step at a time with
    its output in the step's log. A worker that dies (killed, out of memory) fails its step
    and is replaced."""

    def __init__(self, slots: Sequence[Slot], make_job: Callable[[str], StepJob]) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._make_job = make_job
        self._workers = [self._start(slot) for slot in slots]

    def _start(self, slot: Slot) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main,
                                        args=(child, slot.threads, slot.gpu, os.getpid()),
                                        name=f"robust-sabn {slot.name}", daemon=True)
        process.start()
        child.close()
        return _Worker(slot, process, parent)

    def free(self) -> int:
        return sum(worker.label is None for worker in self._workers)

    def submit(self, step: Step) -> str:
        worker = next(w for w in self._workers if w.label is None)
        job = self._make_job(step.label)
        try:
            message = pickle.dumps(job)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ValueError(f"steps sent to worker processes must pickle (hooks and task kinds "
                             f"defined at module level): {exc}") from exc
        worker.conn.send_bytes(message)
        worker.label = step.label
        return worker.slot.describe()

    def wait(self, timeout: float) -> list[StepOutcome]:
        busy = [w for w in self._workers if w.label is not None]
        if not busy:
            return []
        wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
        outcomes = []
        for worker in busy:
            outcome = self._outcome(worker)
            if outcome is not None:
                outcomes.append(outcome)
                worker.label = None
        return outcomes

    def _outcome(self, worker: _Worker) -> StepOutcome | None:
        label = str(worker.label)
        try:
            if worker.conn.poll():
                return worker.conn.recv()
        except (EOFError, OSError):  # the pipe closed: the worker died, judged below
            pass
        if worker.process.is_alive():
            return None
        worker.process.join()
        code = worker.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        index = self._workers.index(worker)
        self._workers[index] = self._start(worker.slot)
        return StepOutcome(label, "failed", error=f"its worker process died ({how})")

    def close(self) -> None:
        for worker in self._workers:
            if worker.label is not None:
                worker.process.terminate()
            else:
                try:
                    worker.conn.send_bytes(b"")
                except OSError:  # an idle worker that already exited needs no stop
                    pass
        for worker in self._workers:
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
