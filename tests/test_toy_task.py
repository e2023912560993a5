"""A new task kind moves in by adding a folder: the toy task in tests/toy_task/ is registered
with one line and handled by `suite run`, `suite list`, `report` and the record reader, with
no edit anywhere else."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from toy_task.suite_task import TASK, sample_mean
from typer.testing import CliRunner

from robust_sabn.artifacts.result import read_result
from robust_sabn.cli import app
from robust_sabn.suites import register_task, run_suite, suite_status, unregister_task

SUITE = """task = "toy"
description = "a toy task with a sample step"
[toy]
seeds = [0, 1, 2]
n = 50
"""


@pytest.fixture
def toy_registered() -> Iterator[None]:
    register_task("toy", TASK)
    yield
    unregister_task("toy")


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "toy-suite.toml").write_text(SUITE)
    return folder


def test_runner_status_and_report_handle_a_new_task(toy_registered: None, suites: Path,
                                                    tmp_path: Path) -> None:
    out, report = tmp_path / "runs", tmp_path / "toy.md"
    assert suite_status("toy-suite", out_root=out, suites_dir=suites).counts == {
        "sample": (0, 3)}
    result = run_suite("toy-suite", out_root=out, suites_dir=suites, progress=False,
                       report_path=report)
    assert result.executed == ["sample seed 0", "sample seed 1", "sample seed 2"]
    status = suite_status("toy-suite", out_root=out, suites_dir=suites)
    assert status.complete and status.summary() == "sample 3/3"
    record = read_result(out / "toy-suite" / "seed1" / "sample.json")
    assert (record.task, record.kind) == ("toy", "sample")
    assert record.value("mean") == pytest.approx(sample_mean(1, 50))
    means = [sample_mean(s, 50) for s in range(3)]
    text = report.read_text()
    assert f"| all seeds | {statistics.mean(means):.2f} ± {statistics.stdev(means):.2f} |" in text
    # a difference that is identically 0 over the seeds: its interval is [0, 0], contains 0
    assert "not resolved" in text
    again = run_suite("toy-suite", out_root=out, suites_dir=suites, progress=False,
                      report_path=report)
    assert again.executed == [] and len(again.skipped) == 3


def test_cli_lists_runs_and_reports_the_new_task(toy_registered: None, suites: Path,
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
    assert "- Records: 3 sample" in report.read_text()


def test_the_published_schema_is_the_records_schema(tmp_path: Path) -> None:
    published = Path(__file__).parents[1] / "schemas" / "result-record.schema.json"
    done = CliRunner().invoke(app, ["schema", "-o", str(tmp_path / "s.json")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "s.json").read_text() == published.read_text()
    schema = json.loads(published.read_text())
    assert set(schema["required"]) == {"task", "kind", "provenance"}
    assert schema["$defs"]["Metric"]["required"] == ["name", "value"]
