"""Data-parallel NAS with 2 gloo ranks: DARTS (SaBN) and GDAS searches with --sync-norm reach one
process's supernet and alpha (without it, each slice's own statistics), a killed 2-rank search
resumes to it, a global batch that does not split is one line, a 2-rank retraining scores a cell
as one process does; which settings a checkpoint's config must match to be resumed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from npz_helpers import assert_one_line_error, kill_job, rank_env

from robust_sabn.nas.config import SearchConfig
from robust_sabn.nas.search import CHECKPOINT_NAME, changed_settings

# 192 images: halves of 96, 12 steps of the global batch 8 per epoch
SEARCH_ARGS = ["--dataset", "npz", "--search-examples", "192", "--channels", "4",
               "--cells-per-stage", "1", "--epochs", "3", "--schedule-epochs", "3",
               "--batch-size", "8", "--device", "cpu", "--no-analog", "--norm", "saauxbn"]


def _env() -> dict[str, str]:
    return rank_env(120, COLUMNS="200")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """256 training and 64 test images of 8 x 8 pixels whose class is their brightness decile
    (learnable, so that a retrained cell's accuracy says something)."""
    folder = tmp_path_factory.mktemp("nas-ddp-data")
    rng = np.random.default_rng(0)
    images = (rng.integers(0, 128, (320, 8, 8)) + rng.integers(0, 128, (320, 1, 1))).astype(
        np.uint8)
    brightness = images.mean(axis=(1, 2))
    labels = np.digitize(brightness, np.quantile(brightness, np.linspace(0.1, 0.9, 9)))
    np.savez(folder / "synthetic.npz", x_train=images[:256], y_train=labels[:256],
             x_test=images[256:], y_test=labels[256:], num_classes=10)
    return folder


def _search(data_dir: Path, out: Path, *extra: str, command: tuple[str, ...] = ("nas", "train")
            ) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "robust_sabn", *command, *SEARCH_ARGS,
            "--data-dir", str(data_dir), "--out", str(out), *extra]
    return subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-2000:]
    return stdout


def _state(run: Path) -> dict[str, Any]:
    return torch.load(run / CHECKPOINT_NAME, weights_only=True)


def _assert_same_search(a: Path, b: Path, final_alpha_atol: float = 1e-5) -> None:
    """Weights, running statistics and alpha within float tolerance (the final alpha within
    ``final_alpha_atol``); the same argmax cells."""
    first, second = _state(a), _state(b)
    assert first["state_dict"].keys() == second["state_dict"].keys()
    for key, value in first["state_dict"].items():
        atol = final_alpha_atol if key == "alpha" else 1e-5
        torch.testing.assert_close(value.float(), second["state_dict"][key].float(), rtol=1e-4,
                                   atol=atol, msg=lambda m, k=key: f"{k}: {m}")
    assert [row["genotype"] for row in first["history"]] == [
        row["genotype"] for row in second["history"]]
    for row, other in zip(first["history"], second["history"], strict=True):
        assert row["weight_loss"] == pytest.approx(other["weight_loss"], rel=1e-5)
        assert row["arch_accuracy"] == other["arch_accuracy"]


@pytest.fixture(scope="module")
def single(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nas-single") / "run"
    _finish(_search(data_dir, out, "--sync-norm"))
    return out


@pytest.mark.slow
def test_two_rank_darts_with_sync_norm_is_one_process_search(data_dir: Path, single: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    stdout = _finish(_search(data_dir, out, "--sync-norm", "--nproc", "2"))
    _assert_same_search(out, single)
    assert stdout.count("epoch 3:") == 1  # rank 0 alone prints
    record = json.loads((out / "train_record.json").read_text())
    assert record["extras"]["runtime"] == {"world_size": 2, "sync_norm": True}
    assert record["extras"]["config"]["batch_size"] == 8  # the global batch
    assert len(record["extras"]["genotypes"]) == 3


@pytest.mark.slow
def test_two_ranks_without_sync_norm_normalise_each_slice_alone(data_dir: Path, single: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "own-stats"
    _finish(_search(data_dir, out, "--nproc", "2"))
    record = json.loads((out / "train_record.json").read_text())
    assert record["extras"]["runtime"] == {"world_size": 2, "sync_norm": False}
    # the batch statistics of 4-image slices, not of the 8-image global batch: other weights
    ours, synced = _state(out)["state_dict"], _state(single)["state_dict"]
    assert not torch.allclose(ours["alpha"], synced["alpha"], rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_two_rank_gdas_through_train_task_nas_is_one_process_search(data_dir: Path,
                                                                    tmp_path: Path) -> None:
    gdas = ("--algorithm", "gdas", "--sync-norm")
    _finish(_search(data_dir, tmp_path / "one", *gdas))
    _finish(_search(data_dir, tmp_path / "two", *gdas, "--nproc", "2",
                    command=("train", "--task", "nas")))
    # Weights and cells agree as closely as DARTS'; so does alpha while the Gumbel temperature
    # is high (epochs 1, 2: tau 10, 5.05). At tau 0.1 alpha's Adam steps (of order arch_lr,
    # 3e-4, whatever the gradient's size) amplify rounding: one process with 2 CPU threads
    # instead of 1 ends 1.6e-4 away from it too, as 2 ranks do here. So the final alpha agrees
    # to within two such steps; the sampled ops, and so the weights, do not move.
    _assert_same_search(tmp_path / "two", tmp_path / "one", final_alpha_atol=6e-4)
    for row, other in zip(_state(tmp_path / "two")["history"][:2],
                          _state(tmp_path / "one")["history"][:2], strict=True):
        assert row["tau"] > 5
        torch.testing.assert_close(torch.tensor(row["alpha"]), torch.tensor(other["alpha"]),
                                   rtol=1e-4, atol=1e-5)


def _retrained_accuracy(record: Path) -> float:
    data = json.loads(record.read_text())
    (metric,) = [m for m in data["metrics"] if m["condition"]["method"] == "retrain"]
    assert metric["n"] == 64
    return float(metric["value"])


@pytest.mark.slow
def test_two_rank_retraining_with_sync_norm_is_one_process_retraining(data_dir: Path,
                                                                      tmp_path: Path) -> None:
    cell = ("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|"
            "nor_conv_3x3~2|")
    args = ["nas", "eval", cell, "--retrain-seeds", "0", "--dataset", "npz", "--data-dir",
            str(data_dir), "--search-examples", "256", "--test-examples", "64", "--resolution",
            "8", "--channels", "4", "--cells-per-stage", "1", "--epochs", "8", "--device",
            "cpu", "--no-analog", "--sync-norm"]
    for out, extra in ((tmp_path / "one.json", []), (tmp_path / "two.json", ["--nproc", "2"])):
        process = subprocess.run([sys.executable, "-m", "robust_sabn", *args, "--out", str(out),
                                  *extra], env=_env(), capture_output=True, text=True,
                                 timeout=600)
        assert process.returncode == 0, process.stderr[-2000:]
    one, two = _retrained_accuracy(tmp_path / "one.json"), _retrained_accuracy(
        tmp_path / "two.json")
    assert one > 0.3  # learnt something (chance: 0.1), so that equal accuracies mean something
    assert two == one
    extras = json.loads((tmp_path / "two.json").read_text())["extras"]
    assert extras["runtime"] == {"world_size": 2, "sync_norm": True}
    assert extras["retrain"]["batch_size"] == 64 and extras["retrain"]["sync_norm"] is True


@pytest.mark.slow
def test_a_killed_two_rank_search_resumes_to_one_process_search(data_dir: Path, single: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = _search(data_dir, out, "--sync-norm", "--nproc", "2")
    deadline = time.monotonic() + 300
    while not (out / CHECKPOINT_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_job(process, out)
    assert len(_state(out)["history"]) < 3  # killed before the end
    _finish(_search(data_dir, out, "--sync-norm", "--nproc", "2", "--resume"))
    _assert_same_search(out, single)


@pytest.mark.slow
def test_a_global_batch_that_does_not_split_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    process = _search(data_dir, tmp_path / "odd", "--batch-size", "9", "--nproc", "2")
    stdout, stderr = process.communicate(timeout=600)
    assert_one_line_error(process.returncode or 0, stdout, stderr,
                          "--batch-size 9 (the global batch) does not split over 2 ranks; "
                          "pass a multiple of 2")
    assert not (tmp_path / "odd" / CHECKPOINT_NAME).exists()


def test_resume_compares_settings_but_not_the_device_or_ones_a_checkpoint_predates() -> None:
    config = SearchConfig(dataset="npz", search_examples=64, batch_size=8, sync_norm=True,
                          device="cpu")
    saved = {**config.to_dict(), "device": "cuda:0"}
    assert changed_settings(saved, config) == []
    older = {k: v for k, v in saved.items() if k != "sync_norm"}  # before --sync-norm existed
    without = SearchConfig(**{**config.to_dict(), "sync_norm": False})
    assert "sync_norm" not in without.to_dict()  # records and suite identities as before
    assert SearchConfig.from_dict(without.to_dict()) == without
    assert changed_settings(older, without) == []
    assert changed_settings(older, config) == ["sync_norm"]
    assert changed_settings({**saved, "epochs": 9, "seed": 1}, config) == ["epochs", "seed"]
