"""A new task kind moves in by adding a folder: the toy task in tests/toy_task/ declares itself
in its ``entry_points.txt`` (the ``robust_sabn.tasks`` group), as a package would, and is then
handled by ``suite run``, ``suite list``, ``report``, the claims page, the record reader, the
model registry, the norm vocabulary and the command line (``robust-sabn toy train``,
``train --task toy``), with no line of robust_sabn/ naming it."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from robust_sabn import plugins
from robust_sabn.artifacts.result import read_result
from robust_sabn.cli import app
from robust_sabn.errors import UserInputError
from robust_sabn.models import create_model, families, list_models
from robust_sabn.report.claims import claims_markdown
from robust_sabn.suites import run_suite, suite_status, task_kinds
from robust_sabn.vocabulary import check_norm, norm_label

TESTS = Path(__file__).parent
SUITE = """task = "toy"
description = "a toy task with a sample step and a tiny trainer"
[toy]
seeds = [0, 1, 2]
n = 50
norms = ["bn", "meancenter"]
steps = 300
"""


def install_toy_task(site: Path) -> Path:
    """What ``pip install`` of a package declaring the toy task leaves on the path: a
    ``.dist-info`` folder with the task's ``entry_points.txt``."""
    info = site / "toy_task-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-task\nVersion: 0.1\n")
    shutil.copy(TESTS / "toy_task" / "entry_points.txt", info / "entry_points.txt")
    return site


@pytest.fixture
def toy_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The toy task installed into a fresh folder on sys.path (and the tasks re-read)."""
    site = install_toy_task(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    plugins.task_plugins.cache_clear()
    yield site
    monkeypatch.undo()
    plugins.task_plugins.cache_clear()


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "toy-suite.toml").write_text(SUITE)
    return folder


def least_squares_mse(seed: int) -> float:
    """The smallest mean squared error a line reaches on the toy points (numpy's lstsq)."""
    from toy_task.trainer import toy_points

    x, y = (t.double().numpy() for t in toy_points(seed))
    design = np.hstack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.mean((design @ coef - y) ** 2))


def test_the_task_is_unknown_until_installed(tmp_path: Path) -> None:
    assert "toy" not in task_kinds()
    with pytest.raises(UserInputError, match="unknown task 'toy'"):
        check_norm("toy", "meancenter")


def test_a_stale_metadata_folder_of_robust_sabn_does_not_hide_the_tasks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source checkout may hold an old ``robust_sabn.egg-info`` (first on the path when run
    from there) without the tasks group; the installed package's tasks are still found."""
    stale = tmp_path / "checkout" / "robust_sabn.egg-info"
    stale.mkdir(parents=True)
    (stale / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: robust-sabn\nVersion: 0.0\n")
    (stale / "entry_points.txt").write_text("[console_scripts]\nrobust-sabn = x:y\n")
    monkeypatch.syspath_prepend(str(stale.parent))
    plugins.task_plugins.cache_clear()
    try:
        assert task_kinds() == ["adversarial", "gan", "nas", "style"]
    finally:
        monkeypatch.undo()
        plugins.task_plugins.cache_clear()


def test_its_norm_model_family_and_suite_kind_are_registered(toy_installed: Path) -> None:
    assert "toy" in task_kinds()
    assert check_norm("toy", "meancenter") == "meancenter"
    with pytest.raises(UserInputError, match="choose one of bn, meancenter"):
        check_norm("toy", "saauxbn")
    assert norm_label("meancenter") == "MeanCenter"
    assert "toy" in families()
    assert "toy_line" in list_models("toy")
    line = create_model("toy_line", norm="meancenter")
    assert type(line[0]).__name__ == "MeanCenter"


def test_runner_status_and_report_handle_the_new_task(toy_installed: Path, suites: Path,
                                                      tmp_path: Path) -> None:
    out, report = tmp_path / "runs", tmp_path / "toy.md"
    assert suite_status("toy-suite", out_root=out, suites_dir=suites).counts == {
        "sample": (0, 3), "train": (0, 6)}
    result = run_suite("toy-suite", out_root=out, suites_dir=suites, progress=False,
                       report_path=report)
    assert result.executed[:3] == ["sample seed 0", "sample seed 1", "sample seed 2"]
    assert len(result.executed) == 9
    status = suite_status("toy-suite", out_root=out, suites_dir=suites)
    assert status.complete and status.summary() == "sample 3/3, train 6/6"
    from toy_task.suite_task import sample_mean

    record = read_result(out / "toy-suite" / "seed1" / "sample.json")
    assert (record.task, record.kind) == ("toy", "sample")
    assert record.value("mean") == pytest.approx(sample_mean(1, 50))
    for norm in ("bn", "meancenter"):  # both norms let a line reach the least-squares fit
        fit = read_result(out / "toy-suite" / f"{norm}-seed2" / "train.json")
        assert fit.value("mse") == pytest.approx(least_squares_mse(2), rel=1e-6)
    means = [sample_mean(s, 50) for s in range(3)]
    text = report.read_text()
    assert f"| all seeds | {statistics.mean(means):.2f} ± {statistics.stdev(means):.2f} |" in text
    assert "| MeanCenter |" in text and "| BN |" in text
    # a difference that is identically 0 over the seeds: its interval is [0, 0], contains 0
    assert "not resolved" in text
    page = claims_markdown([out / "toy-suite"], tmp_path / "claims.md", suites_dir=suites)
    row = next(line for line in page.splitlines() if line.startswith("| MeanCenter minus BN"))
    best = statistics.mean(least_squares_mse(s) for s in range(3))
    assert f"({best:.6f} vs {best:.6f} mse, 3 seeds)" in row  # both at the least-squares fit
    again = run_suite("toy-suite", out_root=out, suites_dir=suites, progress=False,
                      report_path=report)
    assert again.executed == [] and len(again.skipped) == 9


def test_cli_lists_runs_and_reports_the_new_task(toy_installed: Path, suites: Path,
                                                 tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "runs"
    done = runner.invoke(app, ["suite", "run", "toy-suite", "--suites-dir", str(suites),
                               "--out", str(out), "--quiet", "--report", str(tmp_path / "a.md")])
    assert done.exit_code == 0, done.output
    listed = runner.invoke(app, ["suite", "list", "--suites-dir", str(suites), "--out", str(out)],
                           env={"COLUMNS": "300"})
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "toy-suite" in line)
    assert "toy" in row and "sample 3/3" in row
    report = tmp_path / "b.md"
    made = runner.invoke(app, ["report", str(out / "toy-suite"), "-o", str(report)])
    assert made.exit_code == 0, made.output
    assert report.read_text().startswith("# Toy report")
    assert "- Records: 3 sample, 6 train" in report.read_text()


def test_train_task_toy_runs_its_own_trainer_in_a_new_process(tmp_path: Path) -> None:
    """The installed console script's code path in a fresh interpreter: nothing registered by
    this test process, only the installed entry point."""
    site = install_toy_task(tmp_path / "site")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(site), str(TESTS), os.environ.get("PYTHONPATH", "")])}
    main = "from robust_sabn.cli import main; main()"
    listed = subprocess.run([sys.executable, "-c", main, "--help"], env=env, text=True,
                            capture_output=True, timeout=600)
    assert listed.returncode == 0, listed.stderr
    assert "A toy task: seeded samples and a tiny line fit." in listed.stdout
    run = tmp_path / "fit"
    done = subprocess.run([sys.executable, "-c", main, "train", "--task", "toy", "--norm",
                           "meancenter", "--seed", "2", "--steps", "300", "--out", str(run)],
                          env=env, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr
    record = read_result(run / "train.json")
    assert (record.task, record.kind, record.subject["norm"]) == ("toy", "train", "meancenter")
    assert record.value("mse") == pytest.approx(least_squares_mse(2), rel=1e-6)
    assert done.stdout.strip() == f"mse {record.value('mse'):.6f}"


def test_the_published_schema_is_the_records_schema(tmp_path: Path) -> None:
    published = Path(__file__).parents[1] / "schemas" / "result-record.schema.json"
    done = CliRunner().invoke(app, ["schema", "-o", str(tmp_path / "s.json")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "s.json").read_text() == published.read_text()
    schema = json.loads(published.read_text())
    assert set(schema["required"]) == {"task", "kind", "provenance"}
    assert schema["$defs"]["Metric"]["required"] == ["name", "value"]
