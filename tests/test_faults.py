"""Fault injection: ``kill -9`` a training process (and a suite) at arbitrary points, resume,
and compare with an uninterrupted run.

A run killed at any instant, then continued with ``--resume`` (as often as it takes), must end
with the same weights, bit for bit, as a run never interrupted (same machine, one thread).
The fast test kills once, right after the first epoch is reported; the slow ones kill at random
instants, including inside checkpoint writes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from npz_helpers import tiny_suite, write_image_npz

from robust_sabn.artifacts import load_checkpoint, read_result

SCRIPT = Path(sys.executable).parent / "robust-sabn"
EPOCHS = 3


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "120"}


def _train_args(data: Path, out: Path) -> list[str]:
    return [str(SCRIPT), "train", "--dataset", "npz", "--data-dir", str(data), "--model",
            "small_cnn", "--width", "4", "--epochs", str(EPOCHS), "--batch-size", "16",
            "--val-examples", "16", "--attack-steps", "2", "--seed", "5", "--out", str(out)]


def _run_to_completion(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == 0, done.stderr


def _assert_same_weights(a: Path, b: Path) -> None:
    left, right = load_checkpoint(a), load_checkpoint(b)
    assert left["epoch"] == right["epoch"] == EPOCHS - 1
    assert left["state_dict"].keys() == right["state_dict"].keys()
    for key, tensor in left["state_dict"].items():
        assert torch.equal(tensor, right["state_dict"][key]), key
    for key, state in left["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"],
                           right["optimizer"]["state"][key]["momentum_buffer"]), key


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the npz, an uninterrupted run of it)."""
    folder = tmp_path_factory.mktemp("faults")
    data = write_image_npz(folder / "d.npz", size=12, train=176, test=16)
    _run_to_completion(_train_args(data, folder / "uninterrupted"))
    return data, folder / "uninterrupted"


def test_kill_after_the_first_epoch_then_resume_gives_the_same_weights(
        reference: tuple[Path, Path], tmp_path: Path) -> None:
    data, uninterrupted = reference
    run = tmp_path / "killed"
    process = subprocess.Popen(_train_args(data, run), stderr=subprocess.PIPE, text=True,
                               stdout=subprocess.DEVNULL, env=_env())
    assert process.stderr is not None
    line = process.stderr.readline()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert line.startswith("epoch 1:"), line
    assert not (run / "train_record.json").exists()
    _run_to_completion([*_train_args(data, run), "--resume"])
    _assert_same_weights(run / "last.pt", uninterrupted / "last.pt")
    assert read_result(run / "train_record.json").status == "ok"
    assert not list(run.glob(".*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_at_random_instants_then_resume_gives_the_same_weights(
        reference: tuple[Path, Path], tmp_path: Path, seed: int) -> None:
    data, uninterrupted = reference
    run = tmp_path / "killed"
    rng = random.Random(seed)
    start = time.perf_counter()
    _run_to_completion(_train_args(data, tmp_path / "timing"))
    duration = time.perf_counter() - start
    for _ in range(4):  # four kills at random instants of a whole run, then one to the end
        args = [*_train_args(data, run), *(["--resume"] if run.exists() else [])]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, env=_env())
        try:
            _, err = process.communicate(timeout=rng.uniform(0.2, 1.2) * duration)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            _, err = process.communicate(timeout=60)
        assert process.returncode in (0, -signal.SIGKILL), err
    if not (run / "train_record.json").exists():
        _run_to_completion([*_train_args(data, run), "--resume"])
    _assert_same_weights(run / "last.pt", uninterrupted / "last.pt")
    assert not list(run.glob(".*.tmp"))


def _suite_results(suite_dir: Path) -> dict[str, object]:
    """Per run: the final weights and the evaluation's metrics (provenance left out)."""
    from robust_sabn.artifacts.result import read_result

    results: dict[str, object] = {}
    for run in sorted(p for p in suite_dir.iterdir() if p.is_dir() and p.name != ".steps"):
        weights = load_checkpoint(run / "last.pt")["state_dict"]
        results[f"{run.name}/weights"] = {k: v.tolist() for k, v in weights.items()}
        for record in sorted(run.glob("eval-*.json")):
            results[f"{run.name}/{record.name}"] = [
                metric.model_dump() for metric in read_result(record).metrics]
    return results


@pytest.mark.slow
def test_a_killed_suite_resumes_to_the_records_of_an_uninterrupted_one(tmp_path: Path) -> None:
    data = write_image_npz(tmp_path / "d.npz", size=12, train=96, test=16)
    suite = tiny_suite(tmp_path, data)
    command = [str(SCRIPT), "suite", "run", str(suite), "--quiet"]
    _run_to_completion([*command, "--out", str(tmp_path / "uninterrupted")])
    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--out", str(killed)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=_env())
    deadline = time.monotonic() + 300
    while not list(killed.glob("tiny-faults/*/eval-*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL  # killed with work left (4 runs)
    assert list((killed / "tiny-faults" / ".steps").glob("*.lock"))  # stale: taken over below
    _run_to_completion([*command, "--out", str(killed)])
    assert _suite_results(killed / "tiny-faults") == _suite_results(
        tmp_path / "uninterrupted" / "tiny-faults")
