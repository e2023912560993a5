"""Beyond one process: sharded evaluation with 2 gloo ranks, failing ranks, device choice."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from evaluation_helpers import tiny_npz_checkpoint
from npz_helpers import rank_env

from robust_sabn.adversarial.record import evaluation_record, example_flags
from robust_sabn.adversarial.report.collect import ResultSet, RunResults
from robust_sabn.adversarial.report.timing import evaluation_seconds, timing_section
from robust_sabn.artifacts.result import read_result
from robust_sabn.cli.parse import parse_device
from robust_sabn.evaluate import evaluate_checkpoint
from robust_sabn.evaluate.sharded import plan_batches
from robust_sabn.parallel.context import DistContext
from robust_sabn.parallel.launch import (
    ERROR_FILE_ENV,
    LAUNCHER_ENV,
    DistributedRunFailed,
    _failure_line,
    launch,
    strip_nproc,
    write_rank_error,
)

EVAL_ARGS = {"attacks": ("pgd", "autoattack"), "eps": 0.05, "n_examples": 12, "batch_size": 4,
             "version": "custom", "autoattack_attacks": ["apgd-ce", "apgd-t"], "pgd_steps": 3,
             "seed": 1, "device": "cpu"}


def _env() -> dict[str, str]:
    return rank_env(60)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_npz_checkpoint(tmp_path_factory.mktemp("sharded"))


@pytest.mark.parametrize(("n", "batch_size", "world", "blocks"), [
    (12, 4, 2, [(0,), (1, 2)]), (10, 4, 3, [(0,), (1,), (2,)]), (8, 8, 1, [(0,)]),
    (17, 2, 4, [(0, 1), (2, 3), (4, 5), (6, 7, 8)]), (4, 4, 2, [(), (0,)]),
])
def test_each_rank_takes_a_contiguous_balanced_block_of_batches(
        n: int, batch_size: int, world: int, blocks: list[tuple[int, ...]]) -> None:
    plans = [plan_batches(n, batch_size, DistContext(r, world, r, "gloo")) for r in range(world)]
    assert [p.batches for p in plans] == blocks
    covered = [i for p in plans for b in p.batches for i in range(*p.bounds(b))]
    assert covered == list(range(n))


@pytest.mark.slow
def test_two_gloo_ranks_give_the_flags_of_one_process(checkpoint: Path, tmp_path: Path) -> None:
    single = evaluate_checkpoint(checkpoint, data_dir=checkpoint.parent, **EVAL_ARGS)
    out = tmp_path / "sharded.json"
    command = [sys.executable, "-m", "robust_sabn", "eval", str(checkpoint),
               "--data-dir", str(checkpoint.parent), "--attacks", "pgd,autoattack",
               "--eps", "0.05", "--n-examples", "12", "--batch-size", "4", "--version", "custom",
               "--aa-attacks", "apgd-ce,apgd-t", "--pgd-steps", "3", "--seed", "1",
               "--device", "cpu", "--quiet", "-o", str(out), "--nproc", "2"]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    sharded = read_result(out)
    assert example_flags(sharded) == example_flags(single)
    assert sharded.metrics == single.metrics
    for branch, entry in single.extras["autoattack"].items():
        assert sharded.extras["autoattack"][branch]["cascade"] == entry["cascade"]
        assert set(sharded.extras["autoattack"][branch]["time_s"]) == {"apgd-ce", "apgd-t"}
    assert sharded.extras["runtime"]["world_size"] == 2
    assert single.extras["runtime"] == {**single.extras["runtime"], "world_size": 1,
                                        "device": "cpu", "tf32": False}


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rank.py"
    path.write_text(textwrap.dedent("""
        import sys, time
        from torch.distributed.elastic.multiprocessing.errors import record
        from robust_sabn.parallel.context import distributed_context

        @record
        def main() -> None:
            ctx = distributed_context("cpu")
        """) + textwrap.indent(textwrap.dedent(body), "    ") + "\nmain()\n")
    return path


def _launch(script: Path, monkeypatch: pytest.MonkeyPatch, timeout_s: str) -> str:
    for key, value in {**_env(), "ROBUST_SABN_DIST_TIMEOUT": timeout_s}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(DistributedRunFailed) as caught:
        launch(2, [str(script)], python_args=())
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_rank_that_exits_stops_the_run_with_one_line(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(tmp_path, """
        if ctx.rank == 1:
            sys.exit(3)
        ctx.barrier()
        """)
    message = _launch(script, monkeypatch, "60")
    assert message == ("rank 1 of the distributed run exited with code 3; "
                       "the other ranks were stopped")


@pytest.mark.slow
def test_a_hung_rank_times_out_the_collective(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(tmp_path, """
        if ctx.rank == 1:
            time.sleep(600)
        ctx.barrier()
        """)
    message = _launch(script, monkeypatch, "3")
    assert message.startswith("rank 0 of the distributed run exited with code 1 (")
    assert message.endswith("; the other ranks were stopped")


def test_a_ranks_one_line_error_reaches_the_launcher_through_the_agents_error_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from npz_helpers import run_cli
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
    from torch.distributed.elastic.multiprocessing.errors.error_handler import ErrorHandler

    error_file = tmp_path / "error.json"
    monkeypatch.setenv(ERROR_FILE_ENV, str(error_file))
    monkeypatch.delenv(LAUNCHER_ENV, raising=False)
    # a CLI error under plain torchrun: printed by the rank and written for the agent
    code, _, err = run_cli(["train", "--lr", "nan", "--out", str(tmp_path / "r")], capsys,
                           monkeypatch)
    assert code == 2 and err.startswith("error: --lr must be a finite number")
    failure = ProcessFailure(local_rank=1, pid=123, exitcode=2, error_file=str(error_file))
    assert _failure_line(ChildFailedError("robust_sabn", {1: failure})) == (
        "rank 1 of the distributed run failed: " + err.removeprefix("error: ").strip())
    # under --nproc the parent prints it, so the rank does not
    monkeypatch.setenv(LAUNCHER_ENV, "1")
    code, _, err = run_cli(["train", "--lr", "inf", "--out", str(tmp_path / "r")], capsys,
                           monkeypatch)
    assert (code, err) == (2, "")
    assert json.loads(error_file.read_text())["message"].startswith("--lr must be a finite")
    # any other exception: @record's file, named with the rank's exit code
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError as error:
        ErrorHandler().record_exception(error)
    failure = ProcessFailure(local_rank=0, pid=123, exitcode=1, error_file=str(error_file))
    assert _failure_line(ChildFailedError("robust_sabn", {0: failure})) == (
        "rank 0 of the distributed run exited with code 1 (RuntimeError: boom); "
        "the other ranks were stopped")
    monkeypatch.delenv(ERROR_FILE_ENV)
    assert write_rank_error("not a torchrun rank") is False


def test_nproc_is_dropped_from_what_each_rank_runs() -> None:
    argv = ["eval", "ck.pt", "--nproc", "2", "--seed", "1", "--nproc=3"]
    assert strip_nproc(argv) == ["eval", "ck.pt", "--seed", "1"]


def test_device_auto_is_the_gpu_when_there_is_one() -> None:
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert parse_device("auto") == expected




def test_report_splits_the_evaluation_time_by_pass_and_autoattack_stage() -> None:
    branch = {"clean_accuracy": 1.0, "robust_accuracy": {"pgd-20": 0.5,
                                                         "autoattack-standard": 0.25},
              "flags": {}, "time_s": {"clean": 1.0, "pgd-20": 9.0, "autoattack-standard": 90.0},
              "autoattack": {"version": "standard", "attacks": ["apgd-ce", "apgd-t"],
                             "cascade": [], "flags": [],
                             "time_s": {"apgd-ce": 20.0, "apgd-t": 70.0}}}
    record = evaluation_record(subject={}, settings={"eps": 0.1, "n_examples": 4},
                               branches={"adv": branch, "clean": branch}, wall_time_s=100.0)
    results = ResultSet(runs=[RunResults(key="a", name="a", records=[record])],
                        record_files=[])
    assert evaluation_seconds(results) == {
        "clean": 2.0, "pgd-20": 18.0, "autoattack-standard / apgd-ce": 40.0,
        "autoattack-standard / apgd-t": 140.0}
    text = "\n".join(timing_section(results))
    assert "| autoattack-standard / apgd-t | 2m 20s | 70.0% |" in text
    assert "| clean | 2s | 1.0% |" in text
    assert timing_section(ResultSet(runs=[], record_files=[])) == []


def test_eval_progress_writes_one_line_per_stage_off_a_terminal() -> None:
    from io import StringIO

    from rich.console import Console

    from robust_sabn.evaluate.progress import EvaluationProgress

    out = StringIO()
    with EvaluationProgress(True, Console(file=out, force_terminal=False, width=200)) as shown:
        with shown.stage("adv", "pgd-20", 2) as stage:
            stage.advance(3, 4)
            stage.advance(0, 4)
    with EvaluationProgress(False, Console(file=out, force_terminal=False)) as hidden:
        with hidden.stage("adv", "clean", 1) as stage:
            stage.advance(1, 1)
    assert out.getvalue().startswith("adv / pgd-20: 37.5% of 8 (")
    assert out.getvalue().count("\n") == 1
