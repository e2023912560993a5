"""The training objective: PGD through the adversarial branch and the paper's hybrid loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.attacks import model_mode, pgd_attack
from robust_sabn.errors import UserInputError
from robust_sabn.train.config import TrainConfig

CLEAN, ADV = "clean", "adv"


def hybrid_adversarial_loss(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor
                            ) -> tuple[Tensor, Tensor, Tensor]:
    """``0.5*CE(f(x, clean), y) + 0.5*CE(f(x_adv, adv), y)`` (AdvProp style, the SaBN paper).

    Clean images only pass the clean branch, adversarial ones only the adversarial branch (a
    plain-BN model has one branch, so both pass the same layers in separate batches).

    Returns:
        (loss, clean logits (N, K), adversarial logits (N, K)).
    """
    clean_logits = model(x, branch=CLEAN)
    adv_logits = model(x_adv, branch=ADV)
    loss = 0.5 * F.cross_entropy(clean_logits, y) + 0.5 * F.cross_entropy(adv_logits, y)
    return loss, clean_logits, adv_logits


def adversarial_examples(model: nn.Module, x: Tensor, y: Tensor, config: TrainConfig,
                         generator: torch.Generator | None) -> Tensor:
    """PGD examples for (x, y) through the adversarial branch, in the configured model mode."""
    with model_mode(model, config.attack_mode == "train"):
        return pgd_attack(
            lambda z: model(z, branch=ADV), x, y, eps=config.eps, step_size=config.step_size,
            steps=config.attack_steps, norm=config.attack_norm, generator=generator,
        )


def training_loss(model: nn.Module, x: Tensor, y: Tensor, config: TrainConfig,
                  generator: torch.Generator | None) -> tuple[Tensor, Tensor | None, Tensor]:
    """The configured loss on one batch; returns (loss, clean logits or None, adv logits)."""
    x_adv = adversarial_examples(model, x, y, config, generator)
    model.train()
    if config.loss == "hybrid":
        return hybrid_adversarial_loss(model, x, x_adv, y)
    adv_logits = model(x_adv, branch=ADV)
    return F.cross_entropy(adv_logits, y), None, adv_logits


AUTO_WARMUP_FRACTION, AUTO_WARMUP_MAX = 0.1, 200
AUTO_MILESTONES = (0.5, 0.75)


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    """Warm-up iterations: the configured ones, else 10% of the run (at most 200).

    Raises:
        UserInputError: configured warm-up iterations that cover the whole run.
    """
    if config.warmup_iters is None:
        return min(AUTO_WARMUP_MAX, int(AUTO_WARMUP_FRACTION * total_steps))
    if config.warmup_iters >= total_steps:
        raise UserInputError(
            f"warmup_iters {config.warmup_iters} covers the whole run ({total_steps} steps: "
            f"{config.epochs} epoch(s)); pass a smaller --warmup-iters, or leave it out for "
            f"10% of the run"
        )
    return config.warmup_iters


def lr_factor(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """Multiplier of the base lr at global iteration ``step`` (0-based): warm-up x schedule.

    Cosine decays over the run's ``epochs * steps_per_epoch`` steps; multistep multiplies by
    ``gamma`` at each milestone epoch, or at 50% and 75% of the steps when there are none.
    """
    total = config.epochs * steps_per_epoch
    warmup = warmup_steps(config, total)
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if config.schedule == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / total)))
    elif config.milestones is None:
        decay = config.gamma ** sum(step >= f * total for f in AUTO_MILESTONES)
    else:
        decay = config.gamma ** sum(step >= m * steps_per_epoch for m in config.milestones)
    return warm * decay
