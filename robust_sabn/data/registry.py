"""Dataset registry: what each dataset is (shape, classes, statistics, augmentation).

Each dataset's standard threat model (eps, PGD steps) is the adversarial benchmark's business:
:mod:`robust_sabn.attacks.defaults`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from robust_sabn.errors import UserInputError

NPZ_FORMAT = ("an .npz holds x_train and x_test (uint8 images, (N, H, W) or (N, H, W, C) with "
              "C <= 4) and y_train and y_test (integer labels 0..K-1, shape (N,)), optionally "
              "num_classes (a scalar K) or classes (K names); no pickled objects")
"""The npz dataset format in one line (``--data-dir`` help and error messages)."""

NPZ_DATASET = "npz"


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is and how it is augmented.

    Attributes:
        name: registry name (``cifar10``).
        display_name: name for people (``CIFAR-10``).
        num_classes: labels are ``0 .. num_classes - 1``.
        in_channels: image channels C.
        image_size: (H, W) in pixels.
        mean, std: per-channel statistics of the training images on the [0, 1] scale.
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
    val_size: int
    augment_pad: int
    augment_flip: bool


_FIXED_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        # Fashion-MNIST: crop with 2-pixel padding and no flip, the usual augmentation of the
        # MNIST family.
        DatasetInfo(
            name="fashion-mnist", display_name="Fashion-MNIST", num_classes=10, in_channels=1,
            image_size=(28, 28), mean=(0.2860,), std=(0.3530,),
            val_size=5000, augment_pad=2, augment_flip=False,
        ),
        # CIFAR-10/100: crop 32 with 4-pixel padding + horizontal flip; 5000 validation images
        # as the SaBN paper.
        DatasetInfo(
            name="cifar10", display_name="CIFAR-10", num_classes=10, in_channels=3,
            image_size=(32, 32), mean=(0.4914, 0.4822, 0.4465), std=(0.2471, 0.2435, 0.2616),
            val_size=5000, augment_pad=4, augment_flip=True,
        ),
        DatasetInfo(
            name="cifar100", display_name="CIFAR-100", num_classes=100, in_channels=3,
            image_size=(32, 32), mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
            val_size=5000, augment_pad=4, augment_flip=True,
        ),
        # SVHN: crop with 4-pixel padding, no flip (digits).
        DatasetInfo(
            name="svhn", display_name="SVHN", num_classes=10, in_channels=3,
            image_size=(32, 32), mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
            val_size=5000, augment_pad=4, augment_flip=False,
        ),
    )
}

# The npz dataset (a user's own arrays) holds out 10% of the training images and augments with
# a crop padded by 1/8 of the image side and no flip.
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
