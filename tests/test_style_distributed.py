"""Data-parallel style-transfer training with 2 gloo ranks: the global batch's gradient is the
mean of its slices' (float64), a 2-rank run reaches the weights of one process training on the
same slices, a run stopped after 2 iterations resumes to them, a batch that does not split and a
diverging run are one-line errors.

Why the 2-rank weights are compared with one process that averages the slices' losses, not with
one process on the whole batch: in float32 the two give the same gradients only up to rounding,
and most decoder gradients are tiny (relu dead zones), where Adam's step ``m / (sqrt(v) + eps)``
turns a rounding difference into a step of up to ``lr``; the identity itself is checked exactly
in float64 (:func:`test_the_global_batch_gradient_is_the_mean_of_the_slice_gradients`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from npz_helpers import assert_one_line_error, rank_env, run_cli
from torch import Tensor

from robust_sabn.errors import UserInputError
from robust_sabn.parallel.launch import DistributedRunFailed, launch
from robust_sabn.runs.distributed import check_global_batch
from robust_sabn.style import trainer
from robust_sabn.style.config import StyleConfig, make_config
from robust_sabn.style.encoder import resolve_encoder_spec

TINY = ["--iterations", "4", "--batch-size", "2", "--crop", "16", "--resize", "24",
        "--val-pairs", "2", "--val-images", "2", "--val-every", "2", "--device", "cpu", "--quiet"]


def _env() -> dict[str, str]:
    return rank_env(120)


def _style_train(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``robust-sabn train --task style`` (the forwarded path) on the tiny settings."""
    command = [sys.executable, "-m", "robust_sabn", "train", "--task", "style", *TINY,
               "--out", str(out), *extra]
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)


def _finish(out: Path, *extra: str) -> None:
    result = _style_train(out, *extra)
    assert result.returncode == 0, result.stderr[-2000:]


def _weights(run: Path) -> dict[str, Tensor]:
    return torch.load(run / "last.pt", weights_only=True)["state_dict"]


def _assert_close(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5,
                                   msg=lambda m, k=key: f"{k}: {m}")


def _tiny_config(**options: object) -> StyleConfig:
    values: dict[str, object] = {"iterations": 4, "batch_size": 2, "crop": 16, "resize": 24,
                                 "val_pairs": 2, "val_images": 2, "val_every": 2}
    values.update(options)
    return make_config("cpu", **values)


class _SliceMean(trainer.TransferObjective):
    """One process doing what 2 ranks do: each half of the batch through the losses alone,
    the losses (so the gradients) averaged over the halves."""

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        half = len(content) // 2
        parts = [super().forward(content[:half], style[:half]),
                 super().forward(content[half:], style[half:])]
        return torch.stack(parts).mean(0)


@pytest.fixture(scope="module")
def per_slice_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny 4-iteration run in this process with :class:`_SliceMean` (one thread, as each
    rank runs)."""
    out = tmp_path_factory.mktemp("style-reference") / "run"
    threads = torch.get_num_threads()
    patch = pytest.MonkeyPatch()
    patch.setattr(trainer, "TransferObjective", _SliceMean)
    patch.delenv("WORLD_SIZE", raising=False)
    torch.set_num_threads(1)
    try:
        trainer.train_style(_tiny_config(), out, quiet=True)
    finally:
        torch.set_num_threads(threads)
        patch.undo()
    yield out


def test_a_global_batch_must_split_evenly_over_the_ranks() -> None:
    for batch, world in ((4, 1), (4, 2), (8, 4), (3, 1)):
        check_global_batch(world, **{"--batch-size": batch})
    with pytest.raises(UserInputError, match=r"^--batch-size 6 \(the global batch\) does not "
                                             r"split over 4 ranks; pass a multiple of 4$"):
        check_global_batch(4, **{"--batch-size": 6})


@pytest.mark.parametrize("norm", ["adain", "saadain"])
def test_the_global_batch_gradient_is_the_mean_of_the_slice_gradients(norm: str) -> None:
    """Both losses are means over equally sized samples and AdaIN/SaAdaIN use each sample's
    own statistics, so averaging the slices' gradients (what DDP does) gives the global batch's
    gradient: exactly, in float64, for 2 and 4 ranks."""
    config = _tiny_config(norm=norm)
    net = trainer.build_network(config, resolve_encoder_spec("random", 0)).double()
    objective = trainer.TransferObjective(net)
    params = [p for p in net.parameters() if p.requires_grad]
    content = torch.rand(4, 3, 16, 16, dtype=torch.float64)
    style = torch.rand(4, 3, 16, 16, dtype=torch.float64) * 0.5

    def gradients(rows: slice) -> list[Tensor]:
        losses = objective(content[rows], style[rows])
        return list(torch.autograd.grad(losses[0] + config.style_weight * losses[1], params))

    whole = gradients(slice(None))
    assert all(g.abs().sum() > 0 for g in whole)
    for world in (2, 4):
        size = 4 // world
        slices = [gradients(slice(r * size, (r + 1) * size)) for r in range(world)]
        for index, expected in enumerate(whole):
            mean = sum(parts[index] for parts in slices) / world
            torch.testing.assert_close(mean, expected, rtol=1e-10, atol=1e-12)


def test_nproc_with_a_batch_that_does_not_split_is_one_line_before_any_rank_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "odd"
    args = [a if a != "2" else "3" for a in TINY]
    code, stdout, stderr = run_cli(["train", "--task", "style", *args, "--nproc", "2",
                                    "--out", str(out)], capsys, monkeypatch)
    assert_one_line_error(code, stdout, stderr, "--batch-size 3 (the global batch) does not "
                                                "split over 2 ranks; pass a multiple of 2")
    assert not out.exists()


@pytest.mark.slow
def test_two_ranks_reach_the_weights_of_one_process_on_the_same_slices(
        per_slice_reference: Path, tmp_path: Path) -> None:
    ddp = tmp_path / "ddp"
    _finish(ddp, "--nproc", "2")
    _assert_close(_weights(ddp), _weights(per_slice_reference))
    record = json.loads((ddp / "train_record.json").read_text())
    assert record["status"] == "ok" and record["extras"]["runtime"] == {"world_size": 2}
    # the logged losses are the global batch's, the validation rank 0's: one process's rows
    rows = [json.loads(line) for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    expected = [json.loads(line)
                for line in (per_slice_reference / "metrics.jsonl").read_text().splitlines()]
    assert [(r.pop("iteration"), r.pop("split")) for r in rows] == [
        (e.pop("iteration"), e.pop("split")) for e in expected] == [
        (2, "val"), (4, "train"), (4, "val")]
    assert rows == [pytest.approx(row, rel=1e-5, abs=1e-7) for row in expected]


@pytest.mark.slow
def test_a_two_rank_run_stopped_after_two_iterations_resumes_to_the_same_weights(
        per_slice_reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "stopped"
    _finish(out, "--nproc", "2", "--iterations", "2")
    assert torch.load(out / "last.pt", weights_only=True)["iteration"] == 2
    _finish(out, "--nproc", "2", "--resume")
    assert torch.load(out / "last.pt", weights_only=True)["iteration"] == 4
    _assert_close(_weights(out), _weights(per_slice_reference))


@pytest.mark.slow
def test_a_diverging_two_rank_run_stops_every_rank_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "diverged"
    result = _style_train(out, "--nproc", "2", "--lr", "1e9")
    line = assert_one_line_error(result.returncode, result.stdout, result.stderr,
                                 "learning rate 1e+09 is likely too high; lower --lr")
    assert line.startswith("error: rank 0 of the distributed run failed: training diverged "
                           "at step ") or line.startswith(
        "error: rank 1 of the distributed run failed: training diverged at step "), line
    record = json.loads((out / "train_record.json").read_text())
    assert record["status"] == "diverged" and record["extras"]["runtime"] == {"world_size": 2}


@pytest.mark.slow
def test_under_torchrun_a_batch_that_does_not_split_is_refused_by_the_ranks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    args = [a if a != "2" else "3" for a in TINY]
    with pytest.raises(DistributedRunFailed, match=r"^rank [01] of the distributed run failed: "
                                                   r"--batch-size 3 \(the global batch\) does "
                                                   r"not split over 2 ranks; pass a multiple "
                                                   r"of 2$"):
        launch(2, ["style", "train", *args, "--out", str(tmp_path / "odd")])
    assert not (tmp_path / "odd").exists()
