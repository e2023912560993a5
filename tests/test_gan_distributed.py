"""Data-parallel GAN training with 2 gloo ranks (``train --task gan --nproc 2``): with
--sync-norm one process's losses, discriminator, generator and probe FID (rank 0 probing
alone); resume after a kill; a global batch that does not split; the synchronised conditional
norms against the plain ones."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from npz_helpers import assert_one_line_error, kill_job
from test_distributed_train import _assert_close, _env, _finish
from test_gan_train import FASHION_MNIST

from robust_sabn.errors import UserInputError
from robust_sabn.gan.config import GANConfig
from robust_sabn.gan.evaluate import classifier_probe
from robust_sabn.gan.models import GANSpec
from robust_sabn.gan.reference import ReferenceClassifier, train_reference_classifier
from robust_sabn.gan.train import train_gan
from robust_sabn.runs.distributed import check_global_batch

ITERATIONS, PROBE_SAMPLES = 8, 20
GAN_ARGS = ["train", "--task", "gan", "--dataset", "fashion-mnist", "--data-dir", FASHION_MNIST,
            "--norm", "sabn", "--iterations", str(ITERATIONS), "--g-batch", "4", "--d-batch", "4",
            "--n-critic", "2", "--g-width", "4", "--d-width", "4", "--ema-decay", "0.5",
            "--ema-start", "1", "--checkpoint-every", "2", "--max-train-examples", "32",
            "--eval-every", "4", "--probe-samples", str(PROBE_SAMPLES), "--device", "cpu",
            "--quiet"]


def _gan(out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "robust_sabn", *GAN_ARGS, "--out", str(out), *extra]
    return subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _last(run: Path) -> dict:
    return torch.load(run / "last.pt", weights_only=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny reference classifier for the probe FID."""
    path = tmp_path_factory.mktemp("gan-reference") / "classifier.pt"
    train_reference_classifier("fashion-mnist", path, data_dir=FASHION_MNIST, epochs=1, width=4,
                               max_train_examples=128, real_examples=200, real_samples=50)
    return path


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory, reference: Path) -> Path:
    """A finished 2-rank --sync-norm run with probes, through ``train --task gan``."""
    out = tmp_path_factory.mktemp("gan-ddp") / "run"
    _finish(_gan(out, "--sync-norm", "--nproc", "2", "--reference", str(reference)))
    return out


def _train_mode_images(ckpt: dict, part: str) -> torch.Tensor:
    """The generator ``part`` of a checkpoint on fixed latents, in training mode (batch
    statistics): (16, C, H, W)."""
    generator = GANSpec.from_dict(ckpt["model"]).build_generator()
    generator.load_state_dict(ckpt[part])
    rng = torch.Generator().manual_seed(1)
    z = torch.randn(16, generator.latent_dim, generator=rng)
    with torch.no_grad():
        return generator.train()(z, torch.arange(16) % generator.num_classes)


@pytest.mark.slow
def test_two_ranks_with_sync_norm_train_one_process_gan(two_ranks: Path, reference: Path,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    record = json.loads((two_ranks / "train_record.json").read_text())
    assert record["status"] == "ok"
    assert record["extras"]["runtime"] == {"world_size": 2, "sync_norm": True}
    config = GANConfig(**json.loads((two_ranks / "config.json").read_text())["config"])
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    probe = classifier_probe(ReferenceClassifier(reference, "fashion-mnist"), PROBE_SAMPLES)
    train_gan(config, tmp_path / "one", quiet=True, probe=probe)
    ddp, one = _last(two_ranks), _last(tmp_path / "one")
    assert ddp["iteration"] == one["iteration"] == ITERATIONS
    probed = [row["iteration"] for row in ddp["history"] if "probe_fid" in row]
    assert probed == [4, 8]
    for row, expected in zip(ddp["history"], one["history"], strict=True):
        # the global batch's losses; rank 0's probe of the EMA generator
        assert row.keys() == expected.keys()
        for key in row.keys() - {"iteration", "elapsed_s"}:
            assert row[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-5), key
    _assert_close(ddp["discriminator"], one["discriminator"])  # spectral-norm vectors too
    # The generators are compared as functions in training mode: a conv bias followed by a batch
    # norm has gradient 0 in exact arithmetic, and Adam scales its rounding noise up to the lr.
    for part in ("generator", "state_dict"):  # the trained generator and its EMA
        torch.testing.assert_close(_train_mode_images(ddp, part), _train_mode_images(one, part),
                                   rtol=1e-4, atol=1e-5)
    assert torch.load(two_ranks / "generator.pt", weights_only=True)["iteration"] == ITERATIONS


@pytest.mark.slow
def test_a_killed_two_rank_run_resumes_to_the_same_weights(two_ranks: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = _gan(out, "--sync-norm", "--nproc", "2")
    deadline = time.monotonic() + 300
    while not (out / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_job(process, out)
    assert _last(out)["iteration"] < ITERATIONS  # killed before the end
    _finish(_gan(out, "--sync-norm", "--nproc", "2", "--resume"))
    resumed, straight = _last(out), _last(two_ranks)
    for part in ("state_dict", "generator", "discriminator"):
        _assert_close(resumed[part], straight[part])
    for part in ("opt_g", "opt_d"):
        _assert_close(_flat_state(resumed[part]), _flat_state(straight[part]))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in rows] == list(range(1, ITERATIONS + 1))


def _flat_state(optimizer_state: dict) -> dict[str, torch.Tensor]:
    """An optimizer state dict's tensors by ``param.key`` name."""
    return {f"{index}.{key}": torch.as_tensor(value)
            for index, state in optimizer_state["state"].items()
            for key, value in state.items()}


@pytest.mark.slow
def test_a_global_batch_that_does_not_split_over_the_ranks_is_one_line(tmp_path: Path) -> None:
    process = _gan(tmp_path / "odd", "--d-batch", "5", "--nproc", "2")
    stdout, stderr = process.communicate(timeout=600)
    line = assert_one_line_error(process.returncode or 0, stdout, stderr,
                                 "d_batch 5 (the global batch) does not split over 2 ranks; "
                                 "pass a multiple of 2")
    assert line.startswith("error: rank ") and "of the distributed run failed: " in line
    assert not (tmp_path / "odd" / "last.pt").exists()


def test_both_global_batches_must_split_over_the_ranks() -> None:
    config = GANConfig(d_batch=8, g_batch=6)
    batches = {"d_batch": config.d_batch, "g_batch": config.g_batch}
    check_global_batch(1, **batches)
    check_global_batch(2, **batches)
    with pytest.raises(UserInputError, match=r"^d_batch 8 \(the global batch\) does not split "
                                             r"over 3 ranks; pass a multiple of 3$"):
        check_global_batch(3, **batches)
    with pytest.raises(UserInputError, match=r"^g_batch 6 .* over 4 ranks"):
        check_global_batch(4, **batches)


def test_synchronised_conditional_generator_in_a_world_of_one_is_the_plain_one(
        tmp_path: Path) -> None:
    """CCBN/SaBN take per-sample class labels in training mode; converted for --sync-norm they
    give the plain layers' images, gradients and running statistics."""
    import torch.distributed as dist

    from robust_sabn.parallel.sync_norm import convert_sync_norm

    spec = GANSpec(generator="sngan32", norm="sabn", num_classes=10, channels=1, image_size=28,
                   g_width=4, d_width=4, latent_dim=8)
    torch.manual_seed(0)
    plain = spec.build_generator().train()
    synced = copy.deepcopy(plain)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0,
                            world_size=1)
    try:
        assert convert_sync_norm(synced) == 7  # 3 blocks x 2 SaBN + the output BatchNorm2d
        z, y = torch.randn(6, 8), torch.tensor([0, 3, 3, 9, 1, 0])
        images, plain_images = synced(z, y), plain(z, y)
        torch.testing.assert_close(images, plain_images, rtol=1e-5, atol=1e-5)
        images.square().sum().backward()
        plain_images.square().sum().backward()
    finally:
        dist.destroy_process_group()
    # float rounding relative to the largest gradient (a conv bias before a norm has gradient 0
    # in exact arithmetic: only rounding noise)
    scale = max(float(p.grad.abs().max()) for p in plain.parameters() if p.grad is not None)
    for (name, a), b in zip(synced.named_parameters(), plain.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6 * scale, msg=name)
    for a, b in zip(synced.buffers(), plain.buffers(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
