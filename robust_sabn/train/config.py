"""Training configuration: one dataclass, named presets, and dataset-aware defaults.

Every field may be left ``None``; :meth:`TrainConfig.resolved` fills it from the preset (if any),
then from the dataset's literature defaults (eps, step size, attack steps), then from the
general defaults below. Explicitly set fields always win.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from robust_sabn.attacks.defaults import attack_defaults
from robust_sabn.errors import UserInputError

PRESETS: dict[str, dict[str, Any]] = {
    # The SaBN paper's CIFAR-10 recipe (arXiv 2102.11382, sec. 4.3; method spec sec. 2). Its
    # 200 warm-up iterations are the default warm-up (10% of the run, at most 200) of any run of
    # 2000 iterations or more, and shrink with a shorter run, as without a preset.
    "paper-cifar10": {
        "dataset": "cifar10", "model": "preact_resnet18", "epochs": 200, "batch_size": 128,
        "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "multistep",
        "milestones": [50, 150], "gamma": 0.1, "loss": "hybrid",
        "attack_norm": "Linf", "eps": 8 / 255, "step_size": 2 / 255, "attack_steps": 7,
        "attack_mode": "train", "val_size": 5000,
    },
    # The CPU default: a few minutes on 2 cores.
    "fmnist-quick": {
        "dataset": "fashion-mnist", "model": "small_cnn", "width": 16, "epochs": 4,
        "batch_size": 128, "lr": 0.05, "schedule": "cosine",
        "max_train_examples": 12000, "attack_steps": 5, "step_size": 0.03, "val_examples": 500,
    },
}

GENERAL_DEFAULTS: dict[str, Any] = {
    "dataset": "fashion-mnist", "model": "small_cnn", "norm": "saauxbn", "epochs": 10,
    "batch_size": 128, "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
    "schedule": "multistep", "milestones": None, "gamma": 0.1, "warmup_iters": None, "seed": 0,
    "val_examples": 1000, "loss": "hybrid", "attack_norm": "Linf", "attack_mode": "train",
    "device": "auto",
}

CHOICES: dict[str, tuple[str, ...]] = {
    "schedule": ("multistep", "cosine"),
    "loss": ("hybrid", "adv", "clean"),
    "attack_norm": ("Linf", "L2"),
    "attack_mode": ("train", "eval"),
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; eps and step_size on the [0, 1] pixel scale.

    ``loss="hybrid"`` is the paper's ``0.5*CE(f(x, clean), y) + 0.5*CE(f(x_adv, adv), y)``;
    ``loss="adv"`` is plain PGD-AT on the adversarial branch; ``loss="clean"`` is standard
    training on clean images through the clean branch, no attack (the control arm).
    ``attack_mode`` is the model's mode while the training attack runs (the paper attacks in
    train mode). ``milestones`` are epochs (fractions allowed) at which the multistep schedule
    multiplies lr by ``gamma``; None (the default) decays at 50% and 75% of the run's steps, so
    short runs decay too; a preset's milestones scale with ``epochs`` when it is changed
    (paper-cifar10's [50, 150] of 200 epochs become [0.5, 1.5] of 2). ``warmup_iters`` ramps lr
    linearly from 0 over the first iterations; None (the default, presets included) takes 10% of
    the run's steps, at most 200 (see :mod:`robust_sabn.train.objective`), so it shrinks with a
    shorter run. Under torchrun ``batch_size`` is the global batch (each of W ranks takes
    ``batch_size / W``); ``sync_norm`` normalises with the global batch's statistics per branch
    (None/False: each rank's own, as PyTorch's BN under DDP). ``tf32`` allows TF32 matmuls on
    GPUs and ``amp`` runs the step under bf16 autocast; both change the numbers, so None (off)
    is the default. ``fused_branches`` runs the hybrid loss's clean and adversarial batches
    through the network as one batch whose norm layers normalise each half on its branch
    (:class:`robust_sabn.nn.BranchSegments`): the same math as two forwards up to float
    rounding, opt-in because it wins only where larger batches run faster per image.
    """

    dataset: str | None = None
    model: str | None = None
    norm: str | None = None
    width: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    milestones: list[float] | None = None
    gamma: float | None = None
    warmup_iters: int | None = None
    seed: int | None = None
    max_train_examples: int | None = None
    val_size: int | None = None
    val_examples: int | None = None
    loss: str | None = None
    attack_norm: str | None = None
    eps: float | None = None
    step_size: float | None = None
    attack_steps: int | None = None
    attack_mode: str | None = None
    data_dir: str | None = None
    device: str | None = None
    preset: str | None = None
    sync_norm: bool | None = None
    tf32: bool | None = None
    amp: bool | None = None
    fused_branches: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserInputError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` filled (preset, then dataset defaults, then general)."""
        from robust_sabn.data import get_dataset_info

        values = self.to_dict()
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise UserInputError(
                    f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}"
                )
            recipe = PRESETS[self.preset]
            for key, value in recipe.items():
                if values[key] is None:
                    values[key] = value
            if self.milestones is None and recipe.get("milestones") and values["epochs"] != (
                    recipe["epochs"]):
                values["milestones"] = [m * values["epochs"] / recipe["epochs"]
                                        for m in recipe["milestones"]]
        for key, value in GENERAL_DEFAULTS.items():
            if values[key] is None:
                values[key] = value
        info = get_dataset_info(values["dataset"], data_dir=values["data_dir"])
        threat = attack_defaults(values["dataset"])
        defaults = {"eps": threat.eps, "step_size": threat.step_size,
                    "attack_steps": threat.attack_steps, "val_size": info.val_size}
        for key, value in defaults.items():
            if values[key] is None:
                values[key] = value
        from robust_sabn.parallel.devices import resolve_device

        values["device"] = resolve_device(values["device"])
        config = replace(self, **values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise UserInputError naming the first bad value of a resolved config."""
        from robust_sabn.models import list_models
        from robust_sabn.nn import NORM_KINDS

        classifiers = list_models("classifier")
        if self.model not in classifiers:
            raise UserInputError(
                f"unknown model {self.model!r}; choose one of {', '.join(classifiers)}"
            )
        if self.norm not in NORM_KINDS:
            raise UserInputError(
                f"unknown norm {self.norm!r}; choose one of {', '.join(NORM_KINDS)}"
            )
        for key, choices in CHOICES.items():
            if getattr(self, key) not in choices:
                raise UserInputError(
                    f"{key} must be one of {', '.join(choices)}, got {getattr(self, key)!r}"
                )
        for key in ("eps", "step_size"):
            value = getattr(self, key)
            if self.attack_norm == "Linf" and not 0.0 <= value <= 1.0:
                raise UserInputError(
                    f"{key} {value} is outside [0, 1]: it is on the [0, 1] pixel scale "
                    f"(for 8/255 write 8/255 or 0.0314)"
                )
        for key in ("epochs", "batch_size", "val_examples", "width"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise UserInputError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.max_train_examples is not None and self.max_train_examples < self.batch_size:
            raise UserInputError(
                f"max_train_examples {self.max_train_examples} is below one batch "
                f"({self.batch_size}); raise it or lower batch_size"
            )
        for key in ("lr", "momentum", "weight_decay", "gamma", "eps", "step_size"):
            if not math.isfinite(getattr(self, key)):
                raise UserInputError(f"{key} must be a finite number, got {getattr(self, key)}")
        if self.fused_branches and (self.norm == "bn" or self.loss != "hybrid"):
            raise UserInputError(
                "fused_branches fuses the hybrid loss's clean and adversarial forwards through "
                f"SaBN-family norm layers; norm {self.norm!r} with loss {self.loss!r} has "
                "nothing to fuse (plain BN would mix the halves' statistics): drop "
                "--fused-branches or use --norm auxbn/saauxbn and --loss hybrid")
        if self.attack_steps < 0 or self.lr <= 0:
            raise UserInputError("attack_steps must be >= 0 and lr > 0")
        if self.warmup_iters is not None and self.warmup_iters < 0:
            raise UserInputError(f"warmup_iters must be >= 0, got {self.warmup_iters}")
        if self.milestones is not None and any(not 0 < m < self.epochs
                                               for m in self.milestones):
            raise UserInputError(
                f"milestones {self.milestones} must lie between epoch 1 and epoch "
                f"{self.epochs - 1} (epochs {self.epochs}); drop them for 50% and 75% of the run"
            )
