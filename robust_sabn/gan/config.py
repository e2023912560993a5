"""GAN training configuration: one dataclass, named presets, and checks with one-line errors.

A G-iteration is ``n_critic`` discriminator steps (real batch of ``d_batch`` + as many fakes)
followed by one generator step on ``g_batch`` fakes; fake labels are drawn uniformly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from robust_sabn.artifacts.user_files import check_field_types
from robust_sabn.errors import UserInputError
from robust_sabn.gan.names import CONDITIONAL_NORMS, GENERATOR_LABELS
from robust_sabn.vocabulary import check_norm

PRESETS: dict[str, dict[str, Any]] = {
    # The authors' CIFAR-10 recipe (method notes sec. 3, authors' code sec. 4): 50k G-iterations,
    # G batch 128, D batch 64, n_critic 5, Adam 2e-4 (0, 0.9), EMA 0.999, G 256 / D 128 channels.
    "paper-cifar10": {
        "dataset": "cifar10", "iterations": 50_000, "g_batch": 128, "d_batch": 64,
        "n_critic": 5, "g_width": 256, "d_width": 128, "ema_decay": 0.999, "ema_start": 0,
        "eval_every": 5000, "probe_samples": 5000, "checkpoint_every": 1000,
    },
    # The CPU preset: SNGAN at width 16 on Fashion-MNIST, about 3 CPU-minutes per run. Far fewer
    # iterations than the paper's 50k; with so few, an EMA of 0.999 would still hold mostly the
    # initial weights, so it uses 0.99 started after a quarter of the run.
    "fmnist-cpu": {
        "dataset": "fashion-mnist", "iterations": 400, "g_batch": 32, "d_batch": 32,
        "n_critic": 5, "g_width": 16, "d_width": 16, "ema_decay": 0.99, "ema_start": 100,
        "eval_every": 100, "probe_samples": 500, "checkpoint_every": 100,
    },
}


@dataclass(frozen=True)
class GANConfig:
    """Everything that defines a GAN training run.

    Attributes:
        dataset: registry name (``fashion-mnist``, ``cifar10``, ...).
        generator: ``sngan32``, ``autogan32`` or ``biggan32``.
        norm: generator norm kind (``bn``, ``ccbn``, ``sabn``).
        seed: seeds weights, data order, latents and labels.
        iterations: generator iterations.
        g_batch, d_batch: fakes per generator step; reals (and fakes) per discriminator step.
        n_critic: discriminator steps per generator step.
        lr_g, lr_d, beta1, beta2: Adam settings of both networks.
        aux_weight: weight of an auxiliary classification loss (AC-GAN, Odena et al. 2017) on
            a classifier head of the discriminator: D learns to classify real images, G to
            make fakes that head classifies as their label. 0 (the paper's recipe): the
            projection alone carries the label. A stronger label signal for short CPU runs;
            the label still reaches the generator only through its conditional norms.
        ema_decay: generator EMA decay; BN buffers are copied, not averaged.
        ema_start: iterations before the EMA starts averaging (it copies the generator until).
        g_width, d_width, latent_dim: model sizes.
        eval_every: iterations between FID probes (0: none); probe_samples: fakes per probe.
        checkpoint_every: iterations between checkpoints of the full training state.
        max_train_examples: use only the first N training images (seeded order).
        device: torch device, or auto (the GPU when there is one, else the CPU).
        data_dir: where the dataset files are.
    """

    dataset: str = "fashion-mnist"
    generator: str = "sngan32"
    norm: str = "sabn"
    seed: int = 0
    iterations: int = 400
    g_batch: int = 64
    d_batch: int = 32
    n_critic: int = 5
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    aux_weight: float = 0.0
    ema_decay: float = 0.999
    ema_start: int = 0
    g_width: int = 32
    d_width: int = 32
    latent_dim: int = 128
    eval_every: int = 100
    probe_samples: int = 500
    checkpoint_every: int = 100
    max_train_examples: int | None = None
    device: str = "auto"
    data_dir: str | None = None

    @classmethod
    def from_preset(cls, preset: str | None, **overrides: Any) -> GANConfig:
        """A config from ``preset`` (or the defaults) with ``overrides`` (None values skipped).

        Raises:
            UserInputError: unknown preset or option, or a value out of range.
        """
        if preset is not None and preset not in PRESETS:
            raise UserInputError(f"unknown GAN preset {preset!r}; choose one of "
                                 f"{', '.join(PRESETS)}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise UserInputError(f"unknown GAN training option(s) {unknown}; "
                                 f"allowed: {', '.join(sorted(names))}")
        values = {**(PRESETS[preset] if preset else {}),
                  **{k: v for k, v in overrides.items() if v is not None}}
        config = replace(cls(), **values)
        config.check()
        return config

    def check(self) -> None:
        """Raise UserInputError for a value of the wrong type (a string or NaN for a number),
        an unknown generator or norm, or values no run can use."""
        check_field_types(self, "GAN training")
        check_norm("gan", self.norm)
        if self.generator not in GENERATOR_LABELS:
            raise UserInputError(f"unknown generator {self.generator!r}; choose one of "
                                 f"{', '.join(GENERATOR_LABELS)}")
        positive = ("iterations", "g_batch", "d_batch", "n_critic", "g_width", "d_width",
                    "latent_dim", "probe_samples", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise UserInputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.aux_weight >= 0.0:
            raise UserInputError(f"aux_weight must be 0 or more, got {self.aux_weight}")
        if self.aux_weight > 0 and self.norm not in CONDITIONAL_NORMS:
            raise UserInputError(f"aux_weight needs a class-conditional generator norm "
                                 f"({', '.join(CONDITIONAL_NORMS)}); {self.norm} ignores the "
                                 "label")
        if self.eval_every < 0 or self.ema_start < 0:
            raise UserInputError("eval_every and ema_start must be 0 or more")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserInputError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.g_batch < 2 or self.d_batch < 2:
            raise UserInputError("g_batch and d_batch must be at least 2 (batch statistics)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
