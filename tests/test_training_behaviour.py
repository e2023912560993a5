"""What the adversarial trainer does, watched from outside: every forward of the model it builds
is recorded (a spy on ``ModelSpec.build``), and every optimizer step counted (torch's global
step hook). These tests hold whatever shape the training loop takes inside.

- The adversarial branch trains on PGD points of the eps-ball, not on the clean images, and the
  attack that finds them runs through the adversarial branch in the configured mode.
- ``--resume`` continues: a resumed run takes only the steps the interrupted one had left.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from robust_sabn.artifacts import ModelSpec
from robust_sabn.nn import branch_layers
from robust_sabn.train import TrainConfig, train

EPS = 0.1


@dataclass(eq=False)
class Call:
    """One forward of the trained model."""

    x: Tensor
    branch: Any
    training: bool
    input_requires_grad: bool
    grad_enabled: bool

    @property
    def is_loss_forward(self) -> bool:
        """A training forward on fixed inputs (the loss), not an attack's or a validation's."""
        return self.training and self.grad_enabled and not self.input_requires_grad


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every forward of every model the trainer builds, in order."""
    recorded: list[Call] = []
    build = ModelSpec.build

    def spy_build(spec: ModelSpec) -> nn.Module:
        model = build(spec)
        layers = branch_layers(model)

        def record(module: nn.Module, args: tuple, kwargs: dict) -> None:
            branch = kwargs.get("branch", layers[0].routed_branch if layers else None)
            x = args[0]
            recorded.append(Call(x.detach().clone(), branch, module.training,
                                 x.requires_grad, torch.is_grad_enabled()))

        model.register_forward_pre_hook(record, with_kwargs=True)
        return model

    monkeypatch.setattr(ModelSpec, "build", spy_build)
    return recorded


@pytest.fixture
def optimizer_steps() -> Iterator[list[int]]:
    """One entry per optimizer step taken while the test runs."""
    steps: list[int] = []
    handle = register_optimizer_step_post_hook(lambda optimizer, args, kwargs: steps.append(1))
    yield steps
    handle.remove()


def quick_config(**overrides: object) -> TrainConfig:
    """Fashion-MNIST, 3 steps of 32 images per epoch, step size 2 eps (every PGD step ends on
    the boundary of the ball in every pixel with a gradient)."""
    options: dict[str, Any] = dict(
        dataset="fashion-mnist", model="small_cnn", norm="saauxbn", width=4, epochs=1,
        batch_size=32, max_train_examples=96, val_examples=8, attack_steps=2, eps=EPS,
        step_size=2 * EPS, warmup_iters=1, seed=3)
    options.update(overrides)
    return TrainConfig(**options)


@pytest.mark.parametrize("attack_mode", ["train", "eval"])
def test_the_adversarial_branch_trains_on_the_eps_ball_found_through_itself(
        calls: list[Call], tmp_path: Path, attack_mode: str) -> None:
    train(quick_config(attack_mode=attack_mode), tmp_path / "run", quiet=True)
    loss_forwards = [c for c in calls if c.is_loss_forward]
    assert [c.branch for c in loss_forwards] == ["clean", "adv"] * 3  # 3 steps, hybrid loss
    for clean, adv in zip(loss_forwards[::2], loss_forwards[1::2], strict=True):
        delta = adv.x - clean.x
        assert delta.abs().max() <= EPS + 1e-6, "outside the eps-ball"
        assert 0 <= adv.x.min() and adv.x.max() <= 1
        # step size 2 eps: a PGD step takes every pixel with a gradient to the boundary of the
        # ball; clean images and random starts are inside it. Counted where the pixel range
        # leaves room on both sides.
        interior = (clean.x >= EPS) & (clean.x <= 1 - EPS)
        on_sphere = float(((delta.abs() - EPS).abs() < 1e-5)[interior].float().mean())
        assert on_sphere > 0.8, f"only {on_sphere:.0%} of the pixels on the ball's boundary"
    # the attacks: attack_steps input-gradient forwards before each step's loss forwards, all
    # through "adv", in the configured mode, starting inside the ball
    first_loss = calls.index(loss_forwards[0])
    attacks = [c for c in calls[:first_loss] if c.input_requires_grad]
    assert len(attacks) == 2
    assert all(c.branch == "adv" for c in attacks), [c.branch for c in attacks]
    assert all(c.training == (attack_mode == "train") for c in attacks)
    assert (attacks[0].x - loss_forwards[0].x).abs().max() <= EPS + 1e-6
    between = calls[calls.index(loss_forwards[1]) + 1:calls.index(loss_forwards[2])]
    assert [c.branch for c in between if c.input_requires_grad] == ["adv", "adv"]


def test_plain_pgd_training_uses_only_the_adversarial_branch(calls: list[Call],
                                                             tmp_path: Path) -> None:
    train(quick_config(loss="adv"), tmp_path / "run", quiet=True)
    loss_forwards = [c for c in calls if c.is_loss_forward]
    assert [c.branch for c in loss_forwards] == ["adv"] * 3


def test_a_resumed_run_takes_only_the_steps_that_were_left(
        tmp_path: Path, optimizer_steps: list[int]) -> None:
    config = quick_config(epochs=2, val_examples=4)

    def interrupt(row: dict) -> None:
        if row["epoch"] == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", quiet=True, on_epoch_end=interrupt)
    assert len(optimizer_steps) == 3
    optimizer_steps.clear()
    train(config, tmp_path / "run", resume=True, quiet=True)
    assert len(optimizer_steps) == 3, "a resume that restarts takes all 6 steps again"
    optimizer_steps.clear()
    train(config, tmp_path / "restart", resume=True, quiet=True)  # nothing to resume
    assert len(optimizer_steps) == 6
