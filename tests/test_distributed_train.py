"""Data-parallel training with 2 gloo ranks: one process's weights with --sync-norm, resume
after a kill, synchronised statistics against one process's BN."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from evaluation_helpers import synthetic_split

from robust_sabn.parallel.launch import DistributedRunFailed, launch

TRAIN_ARGS = ["train", "--dataset", "npz", "--width", "4", "--batch-size", "16",
              "--max-train-examples", "64", "--val-examples", "16", "--attack-steps", "2",
              "--device", "cpu", "--quiet", "--sync-norm"]


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src,
            "ROBUST_SABN_DIST_TIMEOUT": "120"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ddp-data")
    data = synthetic_split(160)
    images = data.images[:, 0].numpy()
    np.savez(folder / "synthetic.npz", x_train=images, y_train=data.labels.numpy(),
             x_test=images[:40], y_test=data.labels.numpy()[:40], num_classes=10)
    return folder


def _train(data_dir: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "robust_sabn", *TRAIN_ARGS, "--data-dir", str(data_dir),
               "--out", str(out), *extra]
    return subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(process: subprocess.Popen[str]) -> None:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-2000:]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", weights_only=True)["state_dict"]


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key].float(), b[key].float(), rtol=1e-4, atol=1e-5,
                                   msg=lambda m, k=key: f"{k}: {m}")


@pytest.fixture(scope="module")
def single(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    _finish(_train(data_dir, out, "--epochs", "3"))
    return out


@pytest.mark.slow
def test_two_ranks_with_sync_norm_reach_one_process_weights(data_dir: Path, single: Path,
                                                            tmp_path: Path) -> None:
    _finish(_train(data_dir, tmp_path / "ddp", "--epochs", "3", "--nproc", "2"))
    _assert_close(_weights(tmp_path / "ddp"), _weights(single))
    record = (tmp_path / "ddp" / "train_record.json").read_text()
    assert '"world_size": 2' in record and '"sync_norm": true' in record


@pytest.mark.slow
def test_a_killed_two_rank_run_resumes_to_the_same_weights(data_dir: Path, single: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = _train(data_dir, out, "--epochs", "3", "--nproc", "2")
    deadline = time.monotonic() + 300
    while not (out / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    saved = torch.load(out / "last.pt", weights_only=True)["epoch"]
    assert saved < 2  # killed before the end
    _finish(_train(data_dir, out, "--epochs", "3", "--nproc", "2", "--resume"))
    _assert_close(_weights(out), _weights(single))


def test_a_batch_that_does_not_split_over_the_ranks_is_refused(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    args = [a if a != "16" else "15" for a in TRAIN_ARGS]
    with pytest.raises(DistributedRunFailed, match=r"^rank 0 of the distributed run exited "
                                                   r"with code 2"):
        launch(2, [*args, "--epochs", "1", "--data-dir", str(data_dir),
                   "--out", str(tmp_path / "odd")])


def test_sync_norm_in_one_process_is_batch_norm(tmp_path: Path) -> None:
    """A world of one: the synchronised layer gives F.batch_norm's output, gradients and
    running statistics."""
    import torch.distributed as dist

    from robust_sabn.parallel.sync_norm import sync_batch_norm

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0,
                            world_size=1)
    try:
        torch.manual_seed(0)
        x = torch.randn(6, 3, 4, 4, requires_grad=True)
        w, b = torch.rand(3, requires_grad=True), torch.randn(3, requires_grad=True)
        stats = [torch.zeros(3), torch.ones(3)]
        ref_stats = [torch.zeros(3), torch.ones(3)]
        ours = sync_batch_norm(x, *stats, w, b, momentum=0.1, eps=1e-5, group=None)
        ref = F.batch_norm(x, *ref_stats, w, b, True, 0.1, 1e-5)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(stats, ref_stats)
        grads = torch.autograd.grad((ours * ours.detach()).sum(), (x, w, b))
        ref_grads = torch.autograd.grad((ref * ref.detach()).sum(), (x, w, b))
        for g, r in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)
    finally:
        dist.destroy_process_group()
