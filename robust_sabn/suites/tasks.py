"""The registry of suite task kinds, and the protocol a task kind implements.

A task kind lives in its own folder and names its :class:`SuiteTask` object (``TASK`` in
``robust_sabn/<name>/suite_task.py`` for the built-in ones) in its registration
(:mod:`robust_sabn.plugins`); it is imported only when first needed. The generic runner
(:mod:`robust_sabn.suites.runner`) does the rest: skip-if-done, resume, the folder lock,
progress, the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from robust_sabn.errors import UserInputError
from robust_sabn.plugins import load_object, task_plugin, task_plugins
from robust_sabn.suites.checked import CheckedTable

if TYPE_CHECKING:
    from robust_sabn.artifacts.result import ResultRecord
    from robust_sabn.suites.gates import GateSpec

StepState = Literal["done", "partial", "todo"]
Hooks = Mapping[str, Callable[..., Any]]

@dataclass(frozen=True)
class Step:
    """One unit of suite work.

    Attributes:
        run_id: the run it belongs to (``saauxbn-seed0``).
        kind: what it does, any word (``train``, ``search``, ``sample``, ``evaluate`` ...);
            ``suite list`` counts steps per kind.
        label: a line for people (``evaluate saauxbn-seed0 pgd eps 0.1``).
        state: reports ``"done"`` (result present and matching), ``"partial"`` (started with the
            same settings; resumable) or ``"todo"``. Called right before the step would run.
        execute: does the work; its argument says whether to resume a partial result.
        after: the labels of the steps that must be done before this one starts (an
            evaluation names its run's training); steps run side by side (``suite run
            --jobs N``) only when neither waits for the other. Labels are unique in a suite.
    """

    run_id: str
    kind: str
    label: str
    state: Callable[[], StepState]
    execute: Callable[[bool], object]
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuiteRun:
    """One training run of a suite.

    Attributes:
        run_id: names its folder (``saauxbn-seed0``).
        norm: its norm kind.
        seed: its seed.
        config: the task's training-config fields the suite sets for it.
    """

    run_id: str
    norm: str
    seed: int
    config: dict[str, Any]


@dataclass(frozen=True)
class Suite:
    """A parsed suite file.

    Attributes:
        name: the file's stem (``adversarial-fmnist``); names the run and report folders.
        path: the suite file.
        task: the task kind.
        description: one line for listings.
        plan: the task kind's parsed sections.
        gates: its validity gates (``[[gates]]``, :mod:`robust_sabn.suites.gates`).
        effects: claim key -> the effect it is sized to detect (``[effects]``).
    """

    name: str
    path: Path
    task: str
    description: str
    plan: Any
    gates: tuple[GateSpec, ...] = ()
    effects: Mapping[str, float] = field(default_factory=dict)


class SuiteTask(Protocol):
    """What a task kind provides to the platform.

    Optional members, looked up with ``getattr`` (a task without them has none):

    * ``claims``: the paper's claims it owns (``robust_sabn.report.claims.Claim``) and
      ``findings(records)``: what records of any suite say about them (claims page rows);
    * ``gate_metrics``: name -> :class:`robust_sabn.suites.gates.GateMetric`, the quantities
      ``[[gates]]`` tables of its suite files may test;
    * ``power_plan(suite, suite_dir, target)``: ``robust-sabn suite plan``.
    """

    name: str
    sections: tuple[str, ...]
    """The suite-file sections it owns, besides the generic ``task`` and ``description``."""

    def parse(self, doc: CheckedTable) -> Any:
        """Check the task's sections of the suite file and return its plan."""
        ...

    def steps(self, suite: Suite, suite_dir: Path, *, quiet: bool, hooks: Hooks) -> list[Step]:
        """Every step of the suite in order, results under ``suite_dir``; ``hooks`` may replace
        the task's heavy functions by name (tests use it; unknown names are ignored)."""
        ...

    def report_path(self, suite: Suite) -> Path:
        """Where the suite's report goes by default (``reports/<suite>.md``)."""
        ...

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        """Render the suite's comparison from the records under ``suite_dir`` to ``output``;
        ``suite_command`` (the command that ran the suite) goes in the report's footer."""
        ...

    def render_records(self, records: list[tuple[Path, ResultRecord]], output: Path, *,
                       command: str, warnings: list[str], options: Mapping[str, Any]) -> Path:
        """Render a report of ``records`` (all of this task) to ``output``; what
        ``robust-sabn report`` calls. ``warnings`` (unreadable record files) go in the report;
        ``options`` are the report options the user gave (UserInputError for one the task
        does not take)."""
        ...


def task_kinds() -> list[str]:
    """Names of the installed task kinds, sorted."""
    return sorted(task_plugins())


def get_task(name: str) -> SuiteTask:
    """The task kind ``name``, its module imported on first use.

    Raises:
        UserInputError: unknown kind (the message lists the known ones), or a kind whose
            module is missing from this installation.
    """
    target = task_plugin(name).suite_task
    try:
        return cast(SuiteTask, load_object(target))
    except ModuleNotFoundError as exc:
        raise UserInputError(
            f"the {name!r} task is not available in this installation ({target} does not "
            f"import: {exc}); reinstall the package that provides it"
        ) from exc
