"""Data-parallel training with 2 gloo ranks: one process's weights and validation with
--sync-norm, each slice's own statistics without it, resume after a kill, sharded validation,
a diverging rank's one-line error, synchronised statistics against one process's BN."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from evaluation_helpers import synthetic_images, synthetic_split, train_tiny_model
from npz_helpers import assert_one_line_error, kill_job, rank_env

from robust_sabn.data import ImageTensors
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.sharded import plan_batches
from robust_sabn.parallel.context import DistContext
from robust_sabn.parallel.launch import DistributedRunFailed, launch
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.train import TrainConfig, train
from robust_sabn.train import loop as train_loop

# 272 validation images: two validation batches (256 + 16), one per rank
TRAIN_ARGS = ["train", "--dataset", "npz", "--width", "4", "--batch-size", "16",
              "--max-train-examples", "64", "--val-examples", "272", "--attack-steps", "2",
              "--device", "cpu", "--quiet"]


def _env() -> dict[str, str]:
    return rank_env(120)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ddp-data")
    data = synthetic_split(3000)  # the npz rule holds out 10%: 300 validation images
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
    _finish(_train(data_dir, out, "--epochs", "3", "--sync-norm"))
    return out


def _val_rows(run: Path) -> list[dict[str, dict[str, float]]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["val"] for line in lines]


@pytest.mark.slow
def test_two_ranks_with_sync_norm_reach_one_process_weights_and_validation(
        data_dir: Path, single: Path, tmp_path: Path) -> None:
    _finish(_train(data_dir, tmp_path / "ddp", "--epochs", "3", "--sync-norm", "--nproc", "2"))
    _assert_close(_weights(tmp_path / "ddp"), _weights(single))
    record = (tmp_path / "ddp" / "train_record.json").read_text()
    assert '"world_size": 2' in record and '"sync_norm": true' in record
    # each rank validated one of the two batches; the sums are one process's
    sharded, whole = _val_rows(tmp_path / "ddp"), _val_rows(single)
    assert len(sharded) == len(whole) == 3
    for row, expected in zip(sharded, whole, strict=True):
        assert row.keys() == expected.keys() == {"clean", "adv"}
        for branch, metrics in expected.items():
            assert row[branch] == pytest.approx(metrics, rel=1e-5, abs=1e-6)


@pytest.mark.slow
def test_two_ranks_with_fused_branches_reach_one_process_weights(
        data_dir: Path, single: Path, tmp_path: Path) -> None:
    """--fused-branches under DDP with --sync-norm: each rank's clean and adversarial halves go
    through one forward, the statistics still span the ranks per branch."""
    _finish(_train(data_dir, tmp_path / "fused", "--epochs", "3", "--sync-norm",
                   "--fused-branches", "--nproc", "2"))
    _assert_close(_weights(tmp_path / "fused"), _weights(single))
    assert '"fused_branches": true' in (tmp_path / "fused" / "train_record.json").read_text()


_TRAINING_LOSS = train_loop.training_loss


def _per_slice_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                    config: TrainConfig, generator: torch.Generator | None, *,
                    start: torch.Tensor | None = None, pair: torch.nn.Module | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """One process doing what 2 ranks without --sync-norm do with a global batch: the PGD start
    drawn for the whole batch, then each half attacked and put through the loss alone (its own
    batch statistics), the loss (so the gradient) averaged over the halves; the running
    statistics are the first half's (rank 0's, which DDP broadcasts), so the second half's
    updates are undone."""
    from robust_sabn.attacks.pgd import random_point

    assert start is None  # one process: it draws the start
    start = random_point(x, config.eps, config.attack_norm, generator)
    half = len(x) // 2
    saved = [buffer.clone() for buffer in model.buffers()]
    second = _TRAINING_LOSS(model, x[half:], y[half:], config, None, start=start[half:],
                            pair=pair)
    for buffer, value in zip(model.buffers(), saved, strict=True):
        # like DDP's broadcast, without a version bump: train-mode backward reads no running stats
        buffer.data.copy_(value)
    first = _TRAINING_LOSS(model, x[:half], y[:half], config, None, start=start[:half],
                           pair=pair)
    assert first[1] is not None and second[1] is not None  # the hybrid loss
    return ((first[0] + second[0]) / 2, torch.cat([first[1], second[1]]),
            torch.cat([first[2], second[2]]))


@pytest.mark.slow
def test_two_ranks_without_sync_norm_normalise_each_slice_alone(
        data_dir: Path, single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ddp = tmp_path / "ddp"
    _finish(_train(data_dir, ddp, "--epochs", "3", "--nproc", "2"))
    record = json.loads((ddp / "train_record.json").read_text())
    assert record["status"] == "ok"
    runtime = record["extras"]["runtime"]
    assert (runtime["world_size"], runtime["sync_norm"]) == (2, False)
    config = TrainConfig(**json.loads((ddp / "config.json").read_text())["config"])
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(train_loop, "training_loss", _per_slice_loss)
    train(config, tmp_path / "reference", quiet=True)
    # weights and running statistics (rank 0's) of the per-slice reference ...
    _assert_close(_weights(ddp), _weights(tmp_path / "reference"))
    for row, expected in zip(_val_rows(ddp), _val_rows(tmp_path / "reference"), strict=True):
        for branch, metrics in expected.items():
            assert row[branch] == pytest.approx(metrics, rel=1e-5, abs=1e-6)
    # ... which are not those of the global batch's statistics
    synced = _weights(single)
    assert any(not torch.allclose(synced[k].float(), v.float(), rtol=1e-3, atol=1e-4)
               for k, v in _weights(ddp).items() if k.endswith("weight"))


@pytest.mark.slow
def test_a_killed_two_rank_run_resumes_to_the_same_weights(data_dir: Path, single: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = _train(data_dir, out, "--epochs", "3", "--sync-norm", "--nproc", "2")
    deadline = time.monotonic() + 300
    while not (out / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    kill_job(process, out)
    saved = torch.load(out / "last.pt", weights_only=True)["epoch"]
    assert saved < 2  # killed before the end
    _finish(_train(data_dir, out, "--epochs", "3", "--sync-norm", "--nproc", "2", "--resume"))
    _assert_close(_weights(out), _weights(single))


@pytest.mark.slow
def test_a_diverging_two_rank_run_names_the_divergence_in_one_line(data_dir: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "diverged"
    process = _train(data_dir, out, "--epochs", "1", "--lr", "1e9", "--nproc", "2")
    stdout, stderr = process.communicate(timeout=600)
    line = assert_one_line_error(process.returncode or 0, stdout, stderr,
                                 "learning rate 1e+09 is likely too high; lower --lr")
    assert re.match(r"error: rank [01] of the distributed run failed: training diverged at "
                    r"epoch 1, step \d: the loss is (nan|inf|-inf|\S+, over 10000 times)",
                    line), line
    assert json.loads((out / "train_record.json").read_text())["status"] == "diverged"


def test_validation_sums_over_any_split_of_the_batches_add_up() -> None:
    """A validation batch's PGD start comes from its global index, so ranks that split the
    batches as plan_batches does add up to one process's sums, whatever the split."""
    model = train_tiny_model()
    images, labels = synthetic_images(40, seed=3)
    data = ImageTensors(images=images, labels=labels, name="synthetic", augment_pad=0,
                        augment_flip=False)
    config = TrainConfig(eps=0.05, step_size=0.02, attack_steps=3, attack_norm="Linf", seed=0,
                         device="cpu")
    whole = train_loop.validation_sums(model, data, config, plan_batches(40, 8, None))
    assert whole.shape == (2, 4) and whole[:, 1].sum() < whole[:, 0].sum()  # PGD bites
    for world in (2, 3):
        parts = [train_loop.validation_sums(model, data, config,
                                            plan_batches(40, 8, DistContext(r, world, r, "gloo")))
                 for r in range(world)]
        torch.testing.assert_close(sum(parts), whole)
    one_batch = train_loop.validation_sums(model, data, config, plan_batches(40, 256, None))
    means = train_loop.validate(model, data, config)
    assert list(means) == ["clean", "adv"]
    for row, branch in enumerate(means):
        assert list(means[branch].values()) == pytest.approx((one_batch[row] / 40).tolist())


@pytest.mark.slow  # two real ranks; the default run has the in-process test below
def test_a_batch_that_does_not_split_over_the_ranks_is_refused(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    args = [a if a != "16" else "15" for a in TRAIN_ARGS]
    with pytest.raises(DistributedRunFailed, match=r"^rank [01] of the distributed run "
                                                   r"failed: batch_size 15 \(the global batch\) "
                                                   r"does not split over 2 ranks; pass a "
                                                   r"multiple of 2$"):
        launch(2, [*args, "--epochs", "1", "--data-dir", str(data_dir),
                   "--out", str(tmp_path / "odd")])


def test_train_refuses_a_global_batch_that_does_not_split_before_opening_its_folder(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 0 of a 2-rank run, played in this process: ``train`` checks the global batch
    against the world size first (the launch of two real ranks is the slow test above)."""
    rank0 = DistributedRun(device="cpu", ctx=DistContext(0, 2, 0, "gloo"))
    monkeypatch.setattr(DistributedRun, "join", classmethod(lambda cls, device: rank0))
    config = TrainConfig(dataset="npz", data_dir=str(data_dir), width=4, batch_size=15,
                         epochs=1, device="cpu")
    with pytest.raises(UserInputError, match=r"^batch_size 15 \(the global batch\) does not "
                                             r"split over 2 ranks; pass a multiple of 2$"):
        train(config, tmp_path / "odd", quiet=True)
    assert not (tmp_path / "odd").exists()


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
