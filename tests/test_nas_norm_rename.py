"""The NAS norm once spelled ``sabn`` (statistics per branch: SaAuxBN) is ``saauxbn``: the old
spelling still works with a deprecation line, and what older runs wrote with it (configs,
records, run folders) is read as the new name without one."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path

import pytest
from test_nas_suite import TINY_SEARCH

from robust_sabn.artifacts.checkpoint import save_checkpoint
from robust_sabn.artifacts.result import new_result, write_result
from robust_sabn.errors import UserInputError
from robust_sabn.nas.claims import NAS_MEAN, nas_findings
from robust_sabn.nas.config import SearchConfig
from robust_sabn.nas.plugin import NAS_NORMS, renamed_settings
from robust_sabn.nas.records import score_record
from robust_sabn.nas.search import changed_settings
from robust_sabn.nas.space import Genotype
from robust_sabn.nas.suite_task import TASK
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.folder import RunFolder
from robust_sabn.suites.spec import load_suite

DEPRECATION = r"NAS norm 'sabn' is deprecated and goes in the next release; use 'saauxbn'"
CELL = Genotype.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                      "nor_conv_3x3~1|skip_connect~2|")
SUITE = f"""
task = "nas"
[search]
norms = ["bn", "sabn"]
seeds = [0]
{TINY_SEARCH}[comparison]
reference = "sabn"
"""


def test_the_old_spelling_is_the_new_norm_with_a_deprecation_line() -> None:
    assert "saauxbn" in NAS_NORMS and "sabn" not in NAS_NORMS
    with pytest.warns(FutureWarning, match=DEPRECATION):
        config = SearchConfig(norm="sabn")
    assert config.norm == "saauxbn"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SearchConfig(norm="saauxbn").norm == "saauxbn"


def test_a_suite_file_with_the_old_spelling_runs_the_new_norm_in_the_old_folders(
        tmp_path: Path) -> None:
    path = tmp_path / "nas-old.toml"
    path.write_text(SUITE)
    with pytest.warns(FutureWarning, match=DEPRECATION):
        suite = load_suite(path)
    assert [c.norm for c in suite.plan.searches] == ["bn", "saauxbn"]
    assert suite.plan.reference == "saauxbn"
    # a search an older suite finished in darts-sabn-seed0/ is done, not run again
    config = suite.plan.searches[1]
    old_dir = tmp_path / "runs" / "darts-sabn-seed0"
    old_dir.mkdir(parents=True)
    record = new_result("nas", "search", subject={"norm": "sabn"}, extras={"genotype": str(CELL)})
    record.suite = {"config": {**config.to_dict(), "norm": "sabn"}}
    write_result(old_dir / "train_record.json", record)
    steps = TASK.steps(suite, tmp_path / "runs", quiet=True, hooks={})
    states = {step.label: step.state() for step in steps if step.kind == "search"}
    assert states == {"search darts-bn-seed0": "todo", "search darts-saauxbn-seed0": "done"}


def test_a_run_saved_with_the_old_spelling_resumes_under_the_new_one(tmp_path: Path) -> None:
    new = SearchConfig(norm="saauxbn")
    saved = {**asdict(new), "norm": "sabn"}
    assert changed_settings(saved, new) == []
    assert changed_settings({**saved, "norm": "bn"}, new) == ["norm"]
    run = RunFolder(tmp_path, DistributedRun("cpu", None))
    run.write_config({"config": saved})
    save_checkpoint(run.checkpoint, {"model": {}, "state_dict": {}, "epoch": 3})
    with pytest.raises(UserInputError, match=r"\(norm: 'sabn' -> 'saauxbn'\)"):
        run.resume_state(asdict(new), resume=True, what="search")
    ckpt = run.resume_state(asdict(new), resume=True, what="search",
                            upgrade_saved=renamed_settings)
    assert ckpt is not None and ckpt["epoch"] == 3


def test_records_with_the_old_spelling_count_as_the_new_norm_in_the_claims(
        tmp_path: Path) -> None:
    records = []
    for norm, values in (("bn", [0.60, 0.62, 0.64]), ("sabn", [0.85, 0.86, 0.87])):
        for seed, value in enumerate(values):
            path = tmp_path / "nx" / f"darts-{norm}-seed{seed}" / "score.json"
            record = score_record(CELL, subject={"algorithm": "darts", "norm": norm,
                                                 "seed": seed},
                                  retrained={}, retrain=None,
                                  table_scores={"analog-nasbench": {"cifar10": value}},
                                  wall_time_s=1.0)
            records.append((path, record))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading old records is no deprecated use
        findings = [f for f in nas_findings(records) if f.suite == "nx"]
    (mean,) = [f for f in findings if f.claim.key == NAS_MEAN.key]
    assert mean.ours.startswith("+24.00 [")  # SaBN - BN: +25, +24, +23 points
