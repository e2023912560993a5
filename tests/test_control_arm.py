"""The adversarial suite's extra arms (a clean-trained control of the same model): parsed into
their own runs, trained without an attack, and grouped apart from the norm they share."""

from __future__ import annotations

from pathlib import Path

import pytest

from robust_sabn.adversarial.record import TASK
from robust_sabn.adversarial.report.collect import ResultSet, RunResults
from robust_sabn.adversarial.report.tables import group_runs
from robust_sabn.artifacts.result import new_result
from robust_sabn.errors import UserInputError
from robust_sabn.suites import load_suite

SUITE = """
task = "adversarial"
description = "control arm"
[runs]
dataset = "fashion-mnist"
model = "small_cnn"
norms = ["bn", "auxbn"]
seeds = [0, 1]
[runs.train]
epochs = 2
lr = 0.05
[[runs.override]]
norms = ["bn"]
train = { lr = 0.02 }
[[runs.arms]]
name = "control"
norm = "bn"
train = { loss = "clean" }
[[evaluations]]
name = "clean"
eps = [0.1]
"""


def _suite(tmp_path: Path, text: str = SUITE) -> object:
    path = tmp_path / "arms.toml"
    path.write_text(text)
    return load_suite(path)


def test_arms_become_runs_over_the_same_seeds(tmp_path: Path) -> None:
    runs = {run.run_id: run for run in _suite(tmp_path).plan.runs}
    assert list(runs) == ["bn-seed0", "bn-seed1", "auxbn-seed0", "auxbn-seed1",
                          "control-seed0", "control-seed1"]
    control = runs["control-seed1"]
    assert control.norm == "bn" and control.seed == 1
    assert control.config["loss"] == "clean" and control.config["epochs"] == 2
    assert control.config["lr"] == 0.05  # norm overrides are for the norm's own runs
    assert runs["bn-seed0"].config["lr"] == 0.02 and "loss" not in runs["bn-seed0"].config


@pytest.mark.parametrize(("name", "problem"), [("bn", "new, non-empty arm name"),
                                                ("a-seed1", "without '-seed'")])
def test_an_arm_name_that_would_collide_is_refused(tmp_path: Path, name: str,
                                                   problem: str) -> None:
    with pytest.raises(UserInputError, match=problem):
        _suite(tmp_path, SUITE.replace('name = "control"', f'name = "{name}"'))


def test_the_control_is_grouped_apart_from_its_norm() -> None:
    def run(name: str, norm: str, clean: bool) -> RunResults:
        config = {"loss": "clean" if clean else "hybrid"}
        trained = new_result(TASK, "training", subject={"config": config})
        return RunResults(key=name, name=name, dataset="fashion-mnist", model="small_cnn",
                          norm=norm, records=[trained])

    runs = [run("control-seed0", "bn", True), run("bn-seed0", "bn", False),
            run("auxbn-seed0", "auxbn", False), run("bn-seed1", "bn", False)]
    groups = group_runs(ResultSet(runs=runs, record_files=[], warnings=[]))
    assert [g.norm for g in groups] == ["bn", "auxbn", None]
    assert [r.name for r in groups[0].runs] == ["bn-seed0", "bn-seed1"]
    assert "control" in groups[2].label and groups[2].runs[0].name == "control-seed0"

