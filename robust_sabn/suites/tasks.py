"""The registry of suite task kinds, and what a task kind provides to the generic runner.

A task kind (``"adversarial"``; later GAN, NAS and style transfer) parses its part of a suite
file into a plan, lists the steps that produce its results (train a run, evaluate a run), each
able to say whether it is already done, and renders the suite's comparison report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from robust_sabn.errors import UserInputError
from robust_sabn.suites.checked import CheckedTable

StepState = Literal["done", "partial", "todo"]


@dataclass(frozen=True)
class Step:
    """One unit of suite work.

    Attributes:
        run_id: the run it belongs to (``saauxbn-seed0``).
        kind: ``"train"`` or ``"evaluate"``.
        label: a line for people (``evaluate saauxbn-seed0 pgd eps 0.1``).
        state: reports ``"done"`` (result present and matching), ``"partial"`` (started with the
            same settings; resumable) or ``"todo"``. Called right before the step would run.
        execute: does the work; its argument says whether to resume a partial result.
    """

    run_id: str
    kind: str
    label: str
    state: Callable[[], StepState]
    execute: Callable[[bool], object]


@dataclass(frozen=True)
class Suite:
    """A parsed suite file.

    Attributes:
        name: the file's stem (``adversarial-fmnist``); names the run and report folders.
        path: the suite file.
        task: the task kind.
        description: one line for listings.
        plan: the task kind's parsed runs, evaluations and comparison.
    """

    name: str
    path: Path
    task: str
    description: str
    plan: Any


class SuiteTask(Protocol):
    """What a task kind provides; see :mod:`robust_sabn.suites.adversarial` for the first one."""

    sections: tuple[str, ...]

    def parse(self, doc: CheckedTable) -> Any:
        """Check the task's sections of the suite file and return its plan."""
        ...

    def steps(self, suite: Suite, suite_dir: Path, *, train_fn: Callable[..., Any] | None,
              evaluate_fn: Callable[..., Any] | None, quiet: bool) -> list[Step]:
        """Every step of the suite in order, results under ``suite_dir``."""
        ...

    def report_path(self, suite: Suite) -> Path:
        """Where the suite's report goes by default."""
        ...

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        """Render the suite's comparison from the records under ``suite_dir`` to ``output``;
        ``suite_command`` (the command that ran the suite) goes in the report's footer."""
        ...


_TASKS: dict[str, SuiteTask] = {}


def register_task(name: str, task: SuiteTask) -> SuiteTask:
    """Register a task kind under ``name`` (the ``task = "..."`` value of suite files).

    Raises:
        ValueError: ``name`` is already registered.
    """
    if name in _TASKS:
        raise ValueError(f"suite task kind {name!r} is already registered")
    _TASKS[name] = task
    return task


def task_kinds() -> list[str]:
    """Names of the registered task kinds, sorted."""
    return sorted(_TASKS)


def get_task(name: str) -> SuiteTask:
    """The task kind ``name``.

    Raises:
        UserInputError: unknown kind (the message lists the known ones).
    """
    if name not in _TASKS:
        raise UserInputError(
            f"unknown suite task kind {name!r}; choose one of {', '.join(task_kinds())}"
        )
    return _TASKS[name]
