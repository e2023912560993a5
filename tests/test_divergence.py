"""Issue 23 item 3: one divergence guard for every trainer; a diverged run is recorded as
"diverged" with the step, the value and a one-line message, never as "ok"."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from npz_helpers import TINY, assert_one_line_error, run_cli, write_image_npz
from torch import nn

from robust_sabn.artifacts.result import read_result
from robust_sabn.runs.divergence import EXPLOSION_FACTOR, DivergenceGuard, TrainingDiverged
from robust_sabn.train import loop as train_loop


def test_a_loss_that_explodes_by_orders_of_magnitude_counts_as_diverged(tmp_path: Path) -> None:
    guard = DivergenceGuard(lr=0.1, checkpoint=tmp_path / "last.pt")
    guard.check(torch.tensor(2.0), step=0)
    guard.check(torch.tensor(2.0 * EXPLOSION_FACTOR), step=1)  # at the limit: still healthy
    with pytest.raises(TrainingDiverged, match=r"^training diverged at step 3: the loss is "
                                               r"6e\+05, over 10000 times its first value 2;"
                       ) as caught:
        guard.check(torch.tensor(6e5), step=2)
    assert (caught.value.step, caught.value.value, caught.value.quantity) == (2, "6e+05",
                                                                               "the loss")


def test_small_first_losses_are_measured_from_one(tmp_path: Path) -> None:
    guard = DivergenceGuard(lr=0.1, checkpoint=tmp_path / "last.pt")
    guard.check(torch.tensor(-0.01), step=0)  # a GAN's generator loss may start near 0
    guard.check(torch.tensor(-0.9 * EXPLOSION_FACTOR), step=1)
    with pytest.raises(TrainingDiverged, match=r"the loss is -1\.1e"):
        guard.check(torch.tensor(-1.1 * EXPLOSION_FACTOR), step=2)


def test_an_infinite_running_variance_is_found_with_its_name(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    guard = DivergenceGuard(lr=3.0, checkpoint=tmp_path / "search.pt", lr_option="lr")
    guard.check_modules(net, step=0)
    net[1].running_var[1] = math.inf
    (tmp_path / "search.pt").write_bytes(b"")
    with pytest.raises(TrainingDiverged, match=r"^training diverged at epoch 2, step 8: buffer "
                                               r"1\.running_var is inf; the learning rate 3 is "
                                               r"likely too high; lower lr \(the last finite "
                                               r"checkpoint is .*search\.pt\)$"):
        guard.check_modules(net, step=7, epoch=1)
    net[1].running_var[1] = 1.0
    with torch.no_grad():
        net[0].weight[0, 0, 0, 0] = math.nan
    with pytest.raises(TrainingDiverged, match=r"parameter 0\.weight is nan"):
        guard.check_modules(net, step=7)


def test_nested_numbers_are_checked_by_name(tmp_path: Path) -> None:
    guard = DivergenceGuard(lr=0.1, checkpoint=tmp_path / "last.pt")
    guard.check_values({"adv": {"clean_acc": 0.5, "n": 3, "ok": True}}, what="validation",
                       step=0)
    with pytest.raises(TrainingDiverged, match=r"validation adv\.pgd_loss is nan"):
        guard.check_values({"adv": {"clean_acc": 0.5, "pgd_loss": math.nan}},
                           what="validation", step=0)


def test_adversarial_validation_that_turns_nan_is_recorded_as_diverged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The training loss stays finite; validation alone turns NaN (issue 23: a traceback)."""
    real_sums = train_loop.validation_sums

    def nan_sums(*args: object, **kwargs: object) -> torch.Tensor:
        return real_sums(*args, **kwargs) * math.nan

    monkeypatch.setattr(train_loop, "validation_sums", nan_sums)
    data = write_image_npz(tmp_path / "d.npz", size=8)
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), *TINY,
                              "--out", str(run)], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "training diverged at epoch 1, step",
                          "validation clean.clean_acc is nan", "no epoch finished")
    record = read_result(run / "train_record.json")
    assert record.status == "diverged"
    assert record.extras["diverged"]["quantity"] == "validation clean.clean_acc"
    assert record.extras["diverged"]["value"] == "nan"
    assert not (run / "last.pt").exists()


def _assert_recorded_as_diverged(error: TrainingDiverged, record_file: Path,
                                 checkpoint: Path) -> dict:
    """The record says "diverged" with the error's one-line message, step and value, and no
    non-finite checkpoint was kept; returns the record's ``diverged`` fields."""
    message = str(error)
    assert "\n" not in message and message.startswith("training diverged at ")
    record = read_result(record_file)
    assert record.status == "diverged"
    diverged = record.extras["diverged"]
    assert diverged["message"] == message
    assert (diverged["step"], diverged["value"]) == (error.step, error.value)
    if checkpoint.is_file():
        assert str(checkpoint) in message
        state = torch.load(checkpoint, weights_only=True)
        tensors = [t for part in state.values() if isinstance(part, dict)
                   for t in part.values() if isinstance(t, torch.Tensor)]
        assert tensors and all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())
    else:
        assert "last.pt" not in message and "search.pt" not in message
    return diverged


def test_a_gan_at_lr_1e6_is_recorded_as_diverged_not_ok(tmp_path: Path) -> None:
    """Issue 23: it used to end "ok" with losses around 6e5."""
    from test_gan_train import tiny_config

    from robust_sabn.gan.train import train_gan

    with pytest.raises(TrainingDiverged) as caught:
        train_gan(tiny_config(lr_g=1e6, lr_d=1e6, eval_every=0), tmp_path, quiet=True)
    diverged = _assert_recorded_as_diverged(caught.value, tmp_path / "train_record.json",
                                            tmp_path / "last.pt")
    assert diverged["quantity"] == "the loss" and float(diverged["value"]) > 1e4
    assert "the learning rate 1e+06 is likely too high" in diverged["message"]
    assert not (tmp_path / "generator.pt").exists()


def test_a_nas_search_whose_running_variances_go_infinite_is_recorded_as_diverged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: the losses stayed finite, the search ended "ok" with infinite BN variances."""
    from test_nas_search import fake_data, tiny_config

    import robust_sabn.nas.search as search

    real_step = search.search_step
    calls: list[int] = []

    def step_that_breaks_a_running_variance(net: nn.Module, *args: object,
                                            **kwargs: object) -> object:
        stats = real_step(net, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:  # epoch 2's first step (2 steps per epoch)
            variances = [b for name, b in net.named_buffers() if name.endswith("running_var")]
            variances[-1].fill_(math.inf)
        return stats

    monkeypatch.setattr(search, "search_step", step_that_breaks_a_running_variance)
    with pytest.raises(TrainingDiverged, match=r"at epoch 2, step 4: buffer \S+running_var "
                                               r"is inf") as caught:
        search.run_search(tiny_config(norm="bn"), tmp_path, data=fake_data())
    _assert_recorded_as_diverged(caught.value, tmp_path / "train_record.json",
                                 tmp_path / "search.pt")
    assert len(torch.load(tmp_path / "search.pt", weights_only=True)["history"]) == 1


def test_a_nas_search_whose_loss_explodes_is_recorded_as_diverged(tmp_path: Path) -> None:
    from test_nas_search import fake_data, tiny_config

    from robust_sabn.nas.search import run_search

    with pytest.raises(TrainingDiverged, match="over 10000 times its first value") as caught:
        run_search(tiny_config(lr=1e3), tmp_path, data=fake_data())
    _assert_recorded_as_diverged(caught.value, tmp_path / "train_record.json",
                                 tmp_path / "search.pt")


def test_style_divergence_names_no_checkpoint_that_does_not_exist(tmp_path: Path) -> None:
    """Issue 23: the message named a last.pt that was never written."""
    from test_style import _tiny_config

    from robust_sabn.style.trainer import train_style

    with pytest.raises(TrainingDiverged) as caught:
        train_style(_tiny_config(lr=1e9, checkpoint_every=4), tmp_path, quiet=True)
    _assert_recorded_as_diverged(caught.value, tmp_path / "train_record.json",
                                 tmp_path / "last.pt")
    assert not (tmp_path / "last.pt").exists()
    assert "no epoch finished, so no checkpoint was kept" in str(caught.value)
