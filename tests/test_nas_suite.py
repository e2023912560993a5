"""The nas task kind end to end (tiny), its suite-file checks, and the nas CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robust_sabn.artifacts.result import read_result
from robust_sabn.cli import app
from robust_sabn.errors import UserInputError
from robust_sabn.suites.runner import run_suite
from robust_sabn.suites.spec import load_suite

TINY_SEARCH = """dataset = "fashion-mnist"
search_examples = 64
resolution = 8
channels = 2
cells_per_stage = 1
epochs = 1
schedule_epochs = 1
batch_size = 16
"""
"""A tiny search's settings in a suite file's [search] table, beside its norms and seeds."""
TINY = f"""
task = "nas"
[search]
algorithms = ["darts"]
norms = ["bn", "saauxbn"]
seeds = [0, 1]
{TINY_SEARCH}[retrain]
seeds = [0]
epochs = 1
batch_size = 16
test_examples = 32
"""
CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
        "skip_connect~2|")


def write_suite(folder: Path, text: str, name: str = "nas-tiny") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_tiny_suite_end_to_end(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, TINY)
    report = tmp_path / "reports" / "nas-tiny.md"
    first = run_suite(suite, out_root=tmp_path / "runs", progress=False, report_path=report)
    assert len(first.executed) == 8  # 4 searches, 4 scorings
    run_dir = tmp_path / "runs" / "nas-tiny" / "darts-saauxbn-seed1"
    search = read_result(run_dir / "train_record.json")
    assert search.kind == "search" and search.subject["norm"] == "saauxbn"
    assert len(search.extras["genotypes"]) == 1
    assert len(search.find("alpha_entropy", epoch=1)) == 6
    score = read_result(run_dir / "score.json")
    assert score.extras["genotype"] == search.extras["genotype"]
    assert len(score.find("accuracy", method="retrain")) == 1
    assert score.value("accuracy", method="table", table="analog-nasbench") is not None
    cache = list((tmp_path / "runs" / "nas-tiny" / "retrain-cache").glob("*/train_record.json"))
    assert {read_result(p).kind for p in cache} == {"retraining"}
    distinct = {read_result(p / "score.json").extras["genotype"]
                for p in (tmp_path / "runs" / "nas-tiny").iterdir()
                if p.name not in ("retrain-cache", ".steps")}
    assert len(cache) == len(distinct)  # a cell found twice is retrained once per seed
    text = report.read_text()
    for heading in ("## Final cell accuracy", "Standalone retraining on Fashion-MNIST",
                    "Transfer to CIFAR-10", "## The paper's numbers", "44.05 ± 7.47",
                    "## Collapse towards parameter-free cells", "## Cells found per seed",
                    "## What it shows", "DARTS SaAuxBN minus DARTS BN"):
        assert heading in text
    assert (report.parent / "nas-tiny-parameter-free.png").stat().st_size > 1000
    assert "\\|nor_conv" in text or "\\|avg_pool" in text or "\\|skip" in text or (
        "\\|none" in text)  # pipes escaped inside table cells
    again = run_suite(suite, out_root=tmp_path / "runs", progress=False, report_path=report)
    assert again.executed == [] and len(again.skipped) == 8


def test_missing_nb201_file_is_named_with_the_suite_key(tmp_path: Path) -> None:
    path = write_suite(tmp_path, TINY + '[tables]\nnb201 = "missing-NAS-Bench-201.pth"\n')
    with pytest.raises(UserInputError) as info:
        run_suite(path, out_root=tmp_path / "runs", progress=False,
                  report_path=tmp_path / "r.md")
    message = str(info.value)
    assert f"{path}: tables.nb201: NAS-Bench-201 table not found" in message
    assert not (tmp_path / "runs" / "nas-tiny" / "darts-bn-seed0" / "search.pt").exists()


@pytest.mark.parametrize(("change", "problem"), [
    (("norms = [\"bn\", \"saauxbn\"]", "norms = [\"bn\", \"auxbn\"]"),
     "search.norms[1]: unknown norm for the nas task 'auxbn'"),
    (("algorithms = [\"darts\"]", "algorithms = [\"enas\"]"),
     "unknown algorithm 'enas'"),
    (("epochs = 1\nschedule", "epochs = 3\nschedule"), "--schedule-epochs (1) must be at least"),
    (("batch_size = 16\n[retrain]", "batchsize = 16\n[retrain]"), "did you mean 'batch_size'"),
])
def test_suite_file_errors_name_file_and_key(tmp_path: Path, change: tuple[str, str],
                                             problem: str) -> None:
    old, new = change
    assert old in TINY
    path = write_suite(tmp_path, TINY.replace(old, new, 1))
    with pytest.raises(UserInputError) as info:
        load_suite(path)
    assert problem in str(info.value) and str(path) in str(info.value)


def test_cli_score_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["nas", "score", CELL, "-o", str(tmp_path / "s.json")])
    assert ok.exit_code == 0, ok.output
    assert "analog-nasbench, cifar10: 93.30 %" in ok.output
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["extras"]["genotype"] == CELL
    for args, problem in (
        (["nas", "score", "|nor_conv_3x3~0|"], "malformed genotype"),
        (["nas", "score", CELL, "--nb201", str(tmp_path / "missing.pth")], "not found"),
        (["nas", "score", CELL, "--retrain-seeds", "a,b"], "--retrain-seeds"),
        (["nas", "train", "--norm", "auxbn", "--out", str(tmp_path / "x")], "makes no sense"),
        (["nas", "train", "--algorithm", "enas", "--out", str(tmp_path / "x")], "enas"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code != 0
        assert isinstance(result.exception, UserInputError)
        assert problem in str(result.exception)
