"""Long commands that are not training loops show their phases: `gan eval` (generate, features,
scores), `nas eval` (one retraining per seed); off a terminal as one line per finished phase."""

from __future__ import annotations

import re
from typing import Any

import pytest

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.nas.config import RetrainConfig
from robust_sabn.nas.retrain import retraining_record
from robust_sabn.nas.scoring import score_genotype
from robust_sabn.runs.progress import PhaseProgress, phase

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        "skip_connect~2|")


def test_each_finished_phase_is_a_line_with_its_seconds(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    with PhaseProgress("gan eval", 2, quiet=False) as shown:
        with shown.phase("generate 8 fakes"):
            pass
        with phase(shown, "FID, KID, IS, intra-FID"):
            pass
    with PhaseProgress("gan eval", 1, quiet=True) as hidden, hidden.phase("not shown"):
        pass
    with phase(None, "no display"):
        pass
    lines = capsys.readouterr().err.splitlines()
    assert [re.sub(r"\(\d+\.\d s\)$", "(T)", line) for line in lines] == [
        "generate 8 fakes (T)", "FID, KID, IS, intra-FID (T)"]


def test_nas_scoring_shows_each_retrained_seed(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[int] = []

    def retrain(genotype: Any, config: RetrainConfig, seed: int, out_dir: Any, *, data: Any,
                resume: bool) -> ResultRecord:
        seen.append(seed)
        return retraining_record(genotype, config, seed, history=[], accuracy=0.5 + seed / 10,
                                 n=32, wall_time_s=0.0, world_size=1)

    config = RetrainConfig(dataset="fashion-mnist", data_dir=FASHION_MNIST, search_examples=128,
                           test_examples=32, epochs=2, device="cpu")
    record = score_genotype(CELL, subject={}, retrain=config, retrain_seeds=[0, 1], tables=[],
                            retrain_fn=retrain, progress=True)
    assert seen == [0, 1] and [m.value for m in record.metrics] == [0.5, 0.6]
    lines = capsys.readouterr().err.splitlines()
    assert [re.sub(r"\(\d+\.\d s\)$", "(T)", line) for line in lines] == [
        "retrain seed 0, 2 epochs (T)", "retrain seed 1, 2 epochs (T)"]
    score_genotype(CELL, subject={}, retrain=config, retrain_seeds=[2], tables=[],
                   retrain_fn=retrain)
    assert capsys.readouterr().err == ""
