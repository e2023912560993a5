"""Dataset registry: what each dataset is (shape, classes, statistics) and its attack defaults.

Every ``eps`` and ``step_size`` here is on the [0, 1] pixel scale (L-inf).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from robust_sabn.errors import UserInputError

NPZ_DATASET = "npz"


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is and how it is trained and attacked by default.

    Attributes:
        name: registry name (``cifar10``).
        display_name: name for people (``CIFAR-10``).
        num_classes: labels are ``0 .. num_classes - 1``.
        in_channels: image channels C.
        image_size: (H, W) in pixels.
        mean, std: per-channel statistics of the training images on the [0, 1] scale.
        default_eps: L-inf radius of the standard threat model, [0, 1] pixel scale.
        default_step_size: PGD step for adversarial training, [0, 1] pixel scale.
        default_attack_steps: PGD iterations for adversarial training.
        val_size: training images held out for validation.
        augment_pad: zero padding (pixels per side) before the random crop back to ``image_size``;
            0 means no crop.
        augment_flip: whether a random horizontal flip is part of the training augmentation.
    """

    name: str
    display_name: str
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    default_eps: float
    default_step_size: float
    default_attack_steps: int
    val_size: int
    augment_pad: int
    augment_flip: bool


_FIXED_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        # Fashion-MNIST: eps 0.1 is the usual L-inf radius (Wong et al. 2018, "Scaling provable
        # adversarial defenses"; Croce & Hein 2019). Step 0.01 x 20 steps follows the rule of the
        # CIFAR recipe: a total step length of about 2 eps. Crop with 2-pixel padding and no
        # flip, the usual augmentation of the MNIST family.
        DatasetInfo(
            name="fashion-mnist", display_name="Fashion-MNIST", num_classes=10, in_channels=1,
            image_size=(28, 28), mean=(0.2860,), std=(0.3530,),
            default_eps=0.1, default_step_size=0.01, default_attack_steps=20,
            val_size=5000, augment_pad=2, augment_flip=False,
        ),
        # CIFAR-10/100: PGD-7, eps 8/255, step 2/255 (Madry et al. 2018), as in the SaBN paper;
        # crop 32 with 4-pixel padding + horizontal flip; 5000 validation images as the paper.
        DatasetInfo(
            name="cifar10", display_name="CIFAR-10", num_classes=10, in_channels=3,
            image_size=(32, 32), mean=(0.4914, 0.4822, 0.4465), std=(0.2471, 0.2435, 0.2616),
            default_eps=8 / 255, default_step_size=2 / 255, default_attack_steps=7,
            val_size=5000, augment_pad=4, augment_flip=True,
        ),
        DatasetInfo(
            name="cifar100", display_name="CIFAR-100", num_classes=100, in_channels=3,
            image_size=(32, 32), mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
            default_eps=8 / 255, default_step_size=2 / 255, default_attack_steps=7,
            val_size=5000, augment_pad=4, augment_flip=True,
        ),
        # SVHN: PGD-10 with step 1/255 at eps 8/255 (Rice et al. 2020, "Overfitting in
        # adversarially robust deep learning"); crop with 4-pixel padding, no flip (digits).
        DatasetInfo(
            name="svhn", display_name="SVHN", num_classes=10, in_channels=3,
            image_size=(32, 32), mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
            default_eps=8 / 255, default_step_size=1 / 255, default_attack_steps=10,
            val_size=5000, augment_pad=4, augment_flip=False,
        ),
    )
}

# The npz dataset (a user's own arrays) takes the CIFAR attack defaults, holds out 10% of the
# training images, and augments with a crop padded by 1/8 of the image side and no flip.
NPZ_EPS, NPZ_STEP_SIZE, NPZ_ATTACK_STEPS = 8 / 255, 2 / 255, 7
NPZ_VAL_FRACTION = 0.1


def npz_augmentation(image_size: tuple[int, int]) -> tuple[int, bool]:
    """(augment_pad, augment_flip) for user arrays of ``image_size`` (H, W)."""
    return min(image_size) // 8, False


def list_datasets() -> list[str]:
    """Registered dataset names, ``npz`` (a user's own arrays) last."""
    return [*sorted(_FIXED_DATASETS), NPZ_DATASET]


def fixed_dataset_info(name: str) -> DatasetInfo | None:
    """The info of a built-in dataset, or None for ``npz`` and unknown names."""
    return _FIXED_DATASETS.get(name)


def default_eps(name: str) -> float:
    """The standard L-inf radius of dataset ``name`` ([0, 1] pixel scale), known without
    reading any file (for ``npz``: the CIFAR default, 8/255).

    Raises:
        UserInputError: unknown name.
    """
    check_dataset_name(name)
    info = _FIXED_DATASETS.get(name)
    return info.default_eps if info is not None else NPZ_EPS


def check_dataset_name(name: str) -> None:
    """Raise UserInputError unless ``name`` is in :func:`list_datasets`."""
    if name not in _FIXED_DATASETS and name != NPZ_DATASET:
        raise UserInputError(
            f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}"
        )


def default_data_dir() -> Path:
    """Where datasets live when no data_dir is given: $ROBUST_SABN_DATA or
    ~/.cache/robust-sabn/data."""
    configured = os.environ.get("ROBUST_SABN_DATA")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "robust-sabn" / "data"
