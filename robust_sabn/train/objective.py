"""The training objective: PGD through the adversarial branch and the paper's hybrid loss, or
plain cross-entropy on clean images (the clean-trained control arm)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from robust_sabn.attacks import model_mode, pgd_attack
from robust_sabn.errors import UserInputError
from robust_sabn.nn import BranchSegments
from robust_sabn.parallel.data_parallel import DataParallelStep
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.train.config import TrainConfig

CLEAN, ADV = "clean", "adv"


class BranchPair(nn.Module):
    """One forward of the training loss: clean images through the clean branch (when given),
    adversarial ones through the adversarial branch; what DistributedDataParallel wraps, so a
    step is one DDP forward and one backward.

    With ``fused`` the two batches go through the network as one batch of 2N whose norm layers
    normalise each half on its branch with its own statistics (:class:`BranchSegments`): the
    same math as two forwards, in one pass (needs SaBN-family norm layers; plain BN layers
    would mix the halves' statistics).

    Shapes: x and x_adv (N, C, H, W) -> (clean logits (N, K) or None, adv logits (N, K) or
    None); either input may be None (that branch is skipped).
    """

    def __init__(self, model: nn.Module, *, fused: bool = False) -> None:
        super().__init__()
        self.model = model
        self.fused = fused

    def forward(self, x: Tensor | None, x_adv: Tensor | None
                ) -> tuple[Tensor | None, Tensor | None]:
        if x_adv is None:
            return self.model(x, branch=CLEAN), None
        if x is None:
            return None, self.model(x_adv, branch=ADV)
        if self.fused:
            segments = BranchSegments((CLEAN, ADV), (len(x), len(x_adv)))
            logits = self.model(torch.cat([x, x_adv]), branch=segments)
            return logits[:len(x)], logits[len(x):]
        return self.model(x, branch=CLEAN), self.model(x_adv, branch=ADV)


def hybrid_adversarial_loss(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor
                            ) -> tuple[Tensor, Tensor, Tensor]:
    """``0.5*CE(f(x, clean), y) + 0.5*CE(f(x_adv, adv), y)`` (AdvProp style, the SaBN paper).

    Clean images only pass the clean branch, adversarial ones only the adversarial branch (a
    plain-BN model has one branch, so both pass the same layers in separate batches).
    ``model`` is the network or its (DDP-wrapped) :class:`BranchPair`.

    Returns:
        (loss, clean logits (N, K), adversarial logits (N, K)).
    """
    pair = model if isinstance(model, BranchPair | DistributedDataParallel) else BranchPair(model)
    clean_logits, adv_logits = pair(x, x_adv)
    loss = 0.5 * F.cross_entropy(clean_logits, y) + 0.5 * F.cross_entropy(adv_logits, y)
    return loss, clean_logits, adv_logits


def adversarial_examples(model: nn.Module, x: Tensor, y: Tensor, config: TrainConfig,
                         generator: torch.Generator | None, start: Tensor | None = None
                         ) -> Tensor:
    """PGD examples for (x, y) through the adversarial branch, in the configured model mode,
    from ``start`` when given (else a random start drawn from ``generator``)."""
    with model_mode(model, config.attack_mode == "train"):
        return pgd_attack(
            lambda z: model(z, branch=ADV), x, y, eps=config.eps, step_size=config.step_size,
            steps=config.attack_steps, norm=config.attack_norm, generator=generator,
            start=start,
        )


def training_loss(model: nn.Module, x: Tensor, y: Tensor, config: TrainConfig,
                  generator: torch.Generator | None, *, start: Tensor | None = None,
                  pair: nn.Module | None = None
                  ) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The configured loss on one batch; returns (loss, clean logits or None, adv logits or
    None).

    ``loss="clean"`` is standard training: cross-entropy of the clean branch on ``x``, no attack
    (adv logits None); ``"hybrid"`` and ``"adv"`` attack through the adversarial branch first.

    Args:
        model: the network (attacked directly, never through DDP).
        x, y: the batch (N, C, H, W) in [0, 1] and labels (N,).
        config: the run's loss, attack and mode.
        generator: the PGD random start's source.
        start: the PGD start (a data-parallel rank's slice of the global draw) instead.
        pair: the loss forward (``BranchPair(model)``, or it wrapped in DDP); None: direct.
    """
    pair = BranchPair(model, fused=bool(config.fused_branches)) if pair is None else pair
    if config.loss == "clean":
        model.train()
        clean_logits, _ = pair(x, None)
        return F.cross_entropy(clean_logits, y), clean_logits, None
    x_adv = adversarial_examples(model, x, y, config, generator, start)
    model.train()
    if config.loss == "hybrid":
        return hybrid_adversarial_loss(pair, x, x_adv, y)
    _, adv_logits = pair(None, x_adv)
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


def wrap_data_parallel(model: nn.Module, config: TrainConfig, dist: DistributedRun
                       ) -> DataParallelStep:
    """How this rank steps ``model``: its :class:`BranchPair` (fused when configured),
    DDP-wrapped under torchrun; every rank calls it after loading any checkpoint (DDP then
    checks all ranks hold the same weights)."""
    return dist.data_parallel(BranchPair(model, fused=bool(config.fused_branches)),
                              sync_norm=bool(config.sync_norm),
                              find_unused_parameters=config.loss != "hybrid",
                              amp=bool(config.amp))
