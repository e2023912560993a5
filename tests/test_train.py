"""Training: hybrid-loss routing, PGD bounds, lr schedule, resume, run-folder safety."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from robust_sabn.artifacts import load_checkpoint, read_jsonl, read_result
from robust_sabn.attacks import model_mode, pgd_attack
from robust_sabn.errors import UserInputError
from robust_sabn.models import create_model
from robust_sabn.nn import SandwichNorm2d
from robust_sabn.train import TrainConfig, hybrid_adversarial_loss, lr_factor, train
from robust_sabn.train.objective import warmup_steps


def _tiny(norm: str = "saauxbn") -> torch.nn.Module:
    return create_model("small_cnn", norm=norm, in_channels=1, width=4)


def test_hybrid_loss_routes_clean_and_adversarial_samples_to_their_own_branch() -> None:
    model = _tiny().train()
    x_clean = torch.rand(8, 1, 12, 12)
    x_adv = torch.rand(8, 1, 12, 12) + 3.0  # far from the clean batch's statistics
    y = torch.randint(0, 10, (8,))
    first = next(m for m in model.modules() if isinstance(m, SandwichNorm2d))
    loss, clean_logits, adv_logits = hybrid_adversarial_loss(model, x_clean, x_adv, y)
    expected = 0.5 * F.cross_entropy(clean_logits, y) + 0.5 * F.cross_entropy(adv_logits, y)
    torch.testing.assert_close(loss, expected)
    # The first norm sees conv1 of each batch: its running means must follow its own batch.
    with torch.no_grad():
        conv_clean = model.convs[0](model.normalize(x_clean))
        conv_adv = model.convs[0](model.normalize(x_adv))
    torch.testing.assert_close(first.running_mean[0], 0.1 * conv_clean.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(first.running_mean[1], 0.1 * conv_adv.mean(dim=(0, 2, 3)))
    loss.backward()
    assert first.branch_affine.grad is not None
    assert first.branch_affine.grad[0].abs().sum() > 0
    assert first.branch_affine.grad[1].abs().sum() > 0
    # Only the adversarial half: the clean row must get no gradient at all.
    model.zero_grad()
    F.cross_entropy(model(x_adv, branch="adv"), y).backward()
    assert torch.count_nonzero(first.branch_affine.grad[0]) == 0
    assert first.branch_affine.grad[1].abs().sum() > 0


@pytest.mark.parametrize("norm_kind", ["Linf", "L2"])
def test_pgd_stays_in_the_ball_and_the_pixel_range(norm_kind: str) -> None:
    model = _tiny("bn").eval()
    x = torch.rand(16, 1, 12, 12)
    y = torch.randint(0, 10, (16,))
    eps = 0.1 if norm_kind == "Linf" else 1.0
    x_adv = pgd_attack(model, x, y, eps=eps, step_size=eps / 2, steps=5, norm=norm_kind,
                       generator=torch.Generator().manual_seed(0))
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm_kind == "Linf" else delta.norm(dim=1)
    assert size.max() <= eps + 1e-6
    assert size.max() > 0.5 * eps  # it moved
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


@pytest.mark.parametrize("eps", [0.1, 8 / 255, 0.3])
def test_linf_pgd_is_the_textbook_update_bit_for_bit(eps: float) -> None:
    """x' = clip_[0,1](min(max(x' + a*sign(grad), x - eps), x + eps)), the projected step of
    Madry et al., from the same start: equal, not just close."""
    torch.manual_seed(0)
    model = _tiny("bn").eval()
    x = torch.rand(16, 1, 12, 12)
    x[:, :, :3], x[:, :, -3:] = 0.0, 1.0  # pixels at both ends of the range
    y = torch.randint(0, 10, (16,))
    start = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    expected = start.clone()
    for _ in range(6):
        expected.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(expected), y), expected)
        with torch.no_grad():
            stepped = expected + eps / 4 * grad.sign()
            expected = torch.min(torch.max(stepped, x - eps), x + eps).clamp(0, 1)
    ours = pgd_attack(model, x, y, eps=eps, step_size=eps / 4, steps=6, start=start)
    assert torch.equal(ours, expected.detach())


def test_pgd_zero_steps_without_random_start_returns_the_input() -> None:
    x = torch.rand(2, 1, 8, 8)
    out = pgd_attack(_tiny("bn"), x, torch.zeros(2, dtype=torch.long), eps=0.1,
                     step_size=0.01, steps=0, random_start=False)
    assert torch.equal(out, x)


def test_model_mode_restores_mixed_modes() -> None:
    model = _tiny().train()
    model.convs[0].eval()
    with model_mode(model, False):
        assert not any(m.training for m in model.modules())
    assert model.training and not model.convs[0].training and model.convs[1].training


def test_lr_schedule_warmup_multistep_and_cosine() -> None:
    multistep = TrainConfig(epochs=10, warmup_iters=4, schedule="multistep", milestones=[5, 8],
                            gamma=0.1).resolved()
    assert lr_factor(0, 10, multistep) == pytest.approx(0.25)
    assert lr_factor(3, 10, multistep) == pytest.approx(1.0)
    assert lr_factor(49, 10, multistep) == pytest.approx(1.0)
    assert lr_factor(50, 10, multistep) == pytest.approx(0.1)
    assert lr_factor(80, 10, multistep) == pytest.approx(0.01)
    cosine = TrainConfig(epochs=10, warmup_iters=0, schedule="cosine").resolved()
    assert lr_factor(50, 10, cosine) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_a_short_run_warms_up_and_decays_within_its_own_steps() -> None:
    # 2 epochs of 10 steps: warm-up is 10% of the run (2 steps), decays at 50% and 75%.
    short = TrainConfig(epochs=2, schedule="multistep", gamma=0.1).resolved()
    assert short.warmup_iters is None and short.milestones is None
    factors = [lr_factor(step, 10, short) for step in range(20)]
    assert factors[:2] == pytest.approx([0.5, 1.0])
    assert factors[9] == pytest.approx(1.0) and factors[10] == pytest.approx(0.1)
    assert factors[14] == pytest.approx(0.1) and factors[15] == pytest.approx(0.01)
    long = TrainConfig(epochs=100, schedule="cosine").resolved()
    assert lr_factor(199, 100, long) == pytest.approx(1.0, abs=1e-3)  # warm-up capped at 200
    cosine_at_98 = 0.5 * (1 + math.cos(math.pi * 98 / 10_000))
    assert lr_factor(98, 100, long) == pytest.approx(99 / 200 * cosine_at_98)


def test_a_warm_up_longer_than_the_run_is_refused() -> None:
    config = TrainConfig(epochs=2, warmup_iters=20).resolved()
    with pytest.raises(UserInputError, match=r"warmup_iters 20 covers the whole run \(20 steps"):
        lr_factor(0, 10, config)


def test_preset_milestones_scale_with_the_epochs() -> None:
    assert TrainConfig(preset="paper-cifar10", epochs=2).resolved().milestones == [0.5, 1.5]
    config = TrainConfig(preset="paper-cifar10", epochs=2, warmup_iters=0).resolved()
    assert [lr_factor(s, 10, config) for s in (4, 5, 14, 15)] == pytest.approx(
        [1.0, 0.1, 0.1, 0.01])
    with pytest.raises(UserInputError, match=r"milestones \[3\] must lie between epoch 1"):
        TrainConfig(epochs=3, milestones=[3]).resolved()


def test_a_presets_warm_up_is_ten_percent_of_the_run_at_most_200() -> None:
    for preset, epochs in (("paper-cifar10", None), ("paper-cifar10", 1), ("fmnist-quick", 1)):
        config = TrainConfig(preset=preset, epochs=epochs).resolved()
        assert config.warmup_iters is None
    paper = TrainConfig(preset="paper-cifar10").resolved()
    assert warmup_steps(paper, 200 * 351) == 200  # the paper's 200 iterations, full length
    assert warmup_steps(paper, 1 * 351) == 35
    assert warmup_steps(TrainConfig(preset="paper-cifar10", warmup_iters=7).resolved(), 20) == 7


def test_a_first_tiny_run_of_a_preset_trains(tmp_path, monkeypatch, capsys) -> None:
    from npz_helpers import TINY, run_cli, write_image_npz

    data = write_image_npz(tmp_path / "d.npz", size=8, train=96)
    code, _, err = run_cli(["train", "--preset", "fmnist-quick", "--dataset", "npz",
                            "--data-dir", str(data), *TINY, "--out", str(tmp_path / "run")],
                           capsys, monkeypatch)
    assert code == 0, err
    config = read_result(tmp_path / "run" / "train_record.json").subject["config"]
    assert (config["epochs"], config["warmup_iters"]) == (1, None)  # 10% of its few steps


def test_warmup_iters_is_a_train_option(tmp_path, monkeypatch, capsys) -> None:
    from npz_helpers import TINY, assert_one_line_error, run_cli, write_image_npz

    data = write_image_npz(tmp_path / "d.npz", size=8, train=96)
    args = ["train", "--dataset", "npz", "--data-dir", str(data), *TINY]
    code, out, err = run_cli([*args, "--warmup-iters", "9", "--out", str(tmp_path / "a")],
                             capsys, monkeypatch)
    assert_one_line_error(code, out, err, "warmup_iters 9 covers the whole run (2 steps",
                          "--warmup-iters")
    assert not (tmp_path / "a").exists(), "a refused run left its folder behind"
    code, _, err = run_cli([*args, "--warmup-iters", "1", "--out", str(tmp_path / "b")],
                           capsys, monkeypatch)
    assert code == 0, err
    assert read_result(tmp_path / "b" / "train_record.json").subject["config"]["warmup_iters"] == 1


def test_paper_preset_is_the_papers_recipe() -> None:
    config = TrainConfig(preset="paper-cifar10", norm="saauxbn").resolved()
    assert (config.dataset, config.model, config.epochs, config.batch_size) == (
        "cifar10", "preact_resnet18", 200, 128)
    assert config.eps == pytest.approx(8 / 255) and config.step_size == pytest.approx(2 / 255)
    assert (config.attack_steps, config.milestones, config.attack_mode) == (7, [50, 150], "train")
    assert TrainConfig(preset="paper-cifar10", epochs=3).resolved().epochs == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "nope"}, "unknown preset 'nope'"),
        ({"eps": 8.0}, "eps 8.0 is outside \\[0, 1\\]"),
        ({"loss": "trades"}, "loss must be one of hybrid, adv"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"dataset": "mnist"}, "mnist"),
    ],
)
def test_bad_training_options_get_a_message(options: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        TrainConfig(**options).resolved()


def _quick_config(**overrides: object) -> TrainConfig:
    options = dict(dataset="fashion-mnist", model="small_cnn", norm="saauxbn", width=4,
                   epochs=2, batch_size=32, max_train_examples=96, val_examples=32,
                   attack_steps=2, warmup_iters=2, seed=3)
    options.update(overrides)
    return TrainConfig(**options)


def test_training_writes_the_run_folder(tmp_path) -> None:
    record = train(_quick_config(), tmp_path / "run", quiet=True)
    run = tmp_path / "run"
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1]
    assert set(rows[0]["val"]) == {"clean", "adv"}
    assert 0.0 <= rows[1]["val"]["adv"]["pgd_acc"] <= rows[1]["val"]["adv"]["clean_acc"] + 1e-9
    saved = read_result(run / "train_record.json")
    assert saved.kind == "training" and saved.subject["config"] == record.subject["config"]
    assert json.loads((run / "config.json").read_text())["model"]["norm"] == "saauxbn"
    last = load_checkpoint(run / "last.pt")
    assert last["epoch"] == 1 and last["dataset"] == "fashion-mnist"
    assert load_checkpoint(run / "best.pt")["model"] == last["model"]


def test_resume_after_interruption_reproduces_the_uninterrupted_weights(tmp_path) -> None:
    full = tmp_path / "full"
    train(_quick_config(), full, quiet=True)

    def interrupt(row: dict) -> None:
        if row["epoch"] == 0:
            raise KeyboardInterrupt

    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        train(_quick_config(), part, quiet=True, on_epoch_end=interrupt)
    assert load_checkpoint(part / "last.pt")["epoch"] == 0
    train(_quick_config(), part, resume=True, quiet=True)
    a = load_checkpoint(full / "last.pt")["state_dict"]
    b = load_checkpoint(part / "last.pt")["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    full_rows, part_rows = read_jsonl(full / "metrics.jsonl"), read_jsonl(part / "metrics.jsonl")
    assert full_rows[1]["val"] == part_rows[1]["val"]


def test_a_finished_run_is_not_overwritten_and_resume_rejects_changed_options(tmp_path) -> None:
    run = tmp_path / "run"
    train(_quick_config(epochs=1), run, quiet=True)
    with pytest.raises(UserInputError, match="already holds a training run; pass --resume"):
        train(_quick_config(epochs=1), run, quiet=True)
    with pytest.raises(UserInputError, match=r"options \['lr'\] differ"):
        train(_quick_config(epochs=1, lr=0.5), run, resume=True, quiet=True)
