"""Search and retraining settings: two frozen dataclasses, checked, torch-free.

Defaults are the authors' first-order DARTS on NAS-Bench-201 (``DARTS-V1``): weights by SGD lr
0.025 with Nesterov momentum 0.9, weight decay 5e-4, gradient clip 5, cosine to 0.001 over a
50-epoch schedule stopped at epoch 35, batch 64; alpha by Adam lr 3e-4, betas (0.5, 0.999),
weight decay 1e-3; C = 16, N = 5. GDAS adds a Gumbel temperature falling linearly from 10 to 0.1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from robust_sabn.artifacts.user_files import check_field_types
from robust_sabn.errors import UserInputError
from robust_sabn.nas.plugin import nas_norm
from robust_sabn.vocabulary import check_norm

ALGORITHMS: tuple[str, ...] = ("darts", "gdas")
ALGORITHM_LABELS: dict[str, str] = {"darts": "DARTS", "gdas": "GDAS"}


def _positive(name: str, value: float, option_prefix: str = "--") -> None:
    if not value > 0:
        raise UserInputError(f"{option_prefix}{name.replace('_', '-')} must be positive, "
                             f"got {value}")


MIN_RESOLUTION = 8
"""Smallest image side a cell network takes: its two reduction cells halve the image twice, and
below 8 pixels the last cells see a single pixel."""


def _check_resolution(resolution: int | None) -> None:
    if resolution is not None and resolution < MIN_RESOLUTION:
        raise UserInputError(f"--resolution {resolution} is too small: the network halves the "
                             f"image twice; use at least {MIN_RESOLUTION}")


@dataclass(frozen=True)
class SearchConfig:
    """One weight-sharing search: algorithm, norm in the supernet, data, schedule, seed.

    ``search_examples`` training images are split in two halves (weights / alpha);
    ``resolution`` resamples images to that many pixels square (None keeps them);
    ``batch_size`` is the global batch of each half under torchrun, and ``sync_norm`` makes the
    ranks' norms use its statistics (no effect in one process).
    """

    algorithm: str = "darts"
    norm: str = "bn"
    dataset: str = "cifar10"
    data_dir: str | None = None
    search_examples: int = 50000
    resolution: int | None = None
    channels: int = 16
    cells_per_stage: int = 5
    epochs: int = 35
    schedule_epochs: int = 50
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    tau_max: float = 10.0
    tau_min: float = 0.1
    seed: int = 0
    data_seed: int = 0
    device: str = "auto"
    sync_norm: bool = False

    def __post_init__(self) -> None:
        check_field_types(self, "NAS search")
        if self.algorithm not in ALGORITHMS:
            raise UserInputError(f"unknown search algorithm {self.algorithm!r}; choose one of "
                                 f"{', '.join(ALGORITHMS)}")
        object.__setattr__(self, "norm", nas_norm(self.norm))
        check_norm("nas", self.norm)
        for name in ("search_examples", "channels", "cells_per_stage", "epochs",
                     "schedule_epochs", "batch_size", "lr", "arch_lr", "tau_max", "tau_min"):
            _positive(name, getattr(self, name))
        _check_resolution(self.resolution)
        if self.schedule_epochs < self.epochs:
            raise UserInputError(f"--schedule-epochs ({self.schedule_epochs}) must be at least "
                                 f"--epochs ({self.epochs})")
        if self.search_examples < 2 * self.batch_size:
            raise UserInputError(
                f"--search-examples {self.search_examples} gives halves smaller than one batch "
                f"of {self.batch_size}; use at least {2 * self.batch_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a dict; ``sync_norm`` only when on, so that the checkpoints, records
        and suite identities of searches without it stay as they were before it existed."""
        return _without_sync_norm_off(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """The config saved by :meth:`to_dict` (unknown keys refused)."""
        return _from_dict(cls, data)


@dataclass(frozen=True)
class RetrainConfig:
    """Standalone retraining of a genotype: a fixed short schedule on the search data.

    SGD with Nesterov momentum 0.9, weight decay 5e-4, cosine from ``lr`` to 0 (NAS-Bench-201's
    recipe, shortened); conv ops use BN with affine, as NAS-Bench-201 trains its cells. Test
    accuracy on the first ``test_examples`` official test images. ``batch_size`` is the global
    batch under torchrun; ``sync_norm`` makes the ranks' BN use its statistics.
    """

    dataset: str = "cifar10"
    data_dir: str | None = None
    search_examples: int = 50000
    test_examples: int = 10000
    resolution: int | None = None
    channels: int = 16
    cells_per_stage: int = 5
    epochs: int = 12
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    data_seed: int = 0
    device: str = "auto"
    sync_norm: bool = False

    def __post_init__(self) -> None:
        check_field_types(self, "NAS retraining")
        for name in ("search_examples", "test_examples", "channels", "cells_per_stage",
                     "epochs", "batch_size", "lr"):
            _positive(name, getattr(self, name), "--retrain-")
        _check_resolution(self.resolution)
        if self.search_examples < self.batch_size:
            raise UserInputError(
                f"--search-examples {self.search_examples} is less than one batch of "
                f"{self.batch_size}: a cell retrained on so few images scores near chance; use "
                f"at least {self.batch_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a dict; ``sync_norm`` only when on (retraining caches and records
        of runs without it keep their keys)."""
        return _without_sync_norm_off(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainConfig:
        return _from_dict(cls, data)


def _without_sync_norm_off(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without its ``sync_norm`` key when that is off (a setting added later)."""
    return data if data["sync_norm"] else {k: v for k, v in data.items() if k != "sync_norm"}


def _from_dict(cls: Any, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserInputError(f"unknown {cls.__name__} settings {unknown}; known: "
                             f"{', '.join(sorted(known))}")
    return cls(**data)
