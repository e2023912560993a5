"""A task kind with dependent steps for the suite-executor tests (test_suite_jobs.py).

Suite file::

    task = "chain"
    [chain]
    runs = ["a", "b", "c"]     # one "train" step per run ...
    evaluations = 2            # ... and this many "evaluate" steps after each training
    fail = ["b"]               # runs whose training raises
    hold = ["c"]               # runs whose training waits for <suite_dir>/release-<run>

``train a`` writes ``a/train.json`` (a record: value = the run's number; extras: the
``OMP_NUM_THREADS`` it ran with); ``evaluate a k`` reads
it and writes ``a/eval-k.json`` (value = train value * 10 + k), so an evaluation run before its
training fails. Every start of a step's work appends a line ``<label>`` to
``<suite_dir>/executions.txt`` (one ``write`` on an ``O_APPEND`` file: lines never mix).

:func:`install_chain_task` declares it (``PLUGIN``) as ``pip install`` of a package would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.result import (
    Metric,
    ResultRecord,
    new_result,
    read_result_if_valid,
    write_result,
)
from robust_sabn.plugins import TaskPlugin
from robust_sabn.suites.checked import CheckedTable
from robust_sabn.suites.tasks import Hooks, Step, StepState, Suite


@dataclass(frozen=True)
class ChainPlan:
    runs: tuple[str, ...]
    evaluations: int
    fail: tuple[str, ...]
    hold: tuple[str, ...]


def install_chain_task(site: Path) -> Path:
    """What ``pip install`` of a package declaring the chain task leaves in ``site``: a
    ``.dist-info`` folder with its ``entry_points.txt``. Put ``site`` and this folder on the
    path (``sys.path`` here, ``PYTHONPATH`` for other processes)."""
    info = site / "chain_task-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: chain-task\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[robust_sabn.tasks]\nchain = chain_task:PLUGIN\n")
    return site


def note_execution(suite_dir: Path, label: str) -> None:
    """Append ``label`` to the suite's executions file."""
    fd = os.open(suite_dir / "executions.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{label}\n".encode())
    finally:
        os.close(fd)


def executions(suite_dir: Path) -> list[str]:
    """The labels of the step executions so far, in order."""
    path = suite_dir / "executions.txt"
    return path.read_text().splitlines() if path.is_file() else []


def _record(kind: str, run: str, value: float) -> ResultRecord:
    return new_result("chain", kind, subject={"run": run},
                      metrics=[Metric(name="value", value=value, n=1)])


class ChainTask:
    name = "chain"
    sections = ("chain",)

    def parse(self, doc: CheckedTable) -> ChainPlan:
        table = doc.table("chain")
        table.only(["runs", "evaluations", "fail", "hold"])
        return ChainPlan(runs=tuple(table.strings("runs", required=True) or ()),
                         evaluations=table.integer("evaluations", 1, minimum=0) or 0,
                         fail=tuple(table.strings("fail") or ()),
                         hold=tuple(table.strings("hold") or ()))

    @staticmethod
    def _state(path: Path) -> StepState:
        return "done" if read_result_if_valid(path) is not None else "todo"

    @staticmethod
    def _train(plan: ChainPlan, suite_dir: Path, run: str, resume: bool) -> None:
        note_execution(suite_dir, f"train {run}")
        if run in plan.fail:
            raise ValueError(f"run {run} fails on purpose")
        deadline = time.monotonic() + 900
        while run in plan.hold and not (suite_dir / f"release-{run}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run} was never released")
            time.sleep(0.05)
        record = _record("train", run, float(plan.runs.index(run)))
        record.extras = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
        write_result(suite_dir / run / "train.json", record)

    @staticmethod
    def _evaluate(suite_dir: Path, run: str, k: int, resume: bool) -> None:
        note_execution(suite_dir, f"evaluate {run} {k}")
        trained = read_result_if_valid(suite_dir / run / "train.json")
        if trained is None:
            raise RuntimeError(f"evaluate {run} {k} ran before train {run}")
        write_result(suite_dir / run / f"eval-{k}.json",
                     _record("evaluation", run, 10 * (trained.value("value") or 0.0) + k))

    def steps(self, suite: Suite, suite_dir: Path, *, quiet: bool, hooks: Hooks) -> list[Step]:
        plan: ChainPlan = suite.plan
        steps = []
        for run in plan.runs:
            steps.append(Step(run, "train", f"train {run}",
                              partial(self._state, suite_dir / run / "train.json"),
                              partial(self._train, plan, suite_dir, run)))
            steps += [Step(run, "evaluate", f"evaluate {run} {k}",
                           partial(self._state, suite_dir / run / f"eval-{k}.json"),
                           partial(self._evaluate, suite_dir, run, k), after=(f"train {run}",))
                      for k in range(plan.evaluations)]
        return steps

    def report_path(self, suite: Suite) -> Path:
        return Path("reports") / f"{suite.name}.md"

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(f"# {suite.name}\n\n{suite_command}\n")
        return output

    def render_records(self, records: list[tuple[Path, ResultRecord]], output: Path, *,
                       command: str, warnings: list[str], options: Mapping[str, Any]) -> Path:
        raise NotImplementedError


TASK = ChainTask()


PLUGIN = TaskPlugin(name="chain", summary="Trainings with evaluations after them (tests).",
                    suite_task="chain_task:TASK")
