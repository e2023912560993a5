"""Train / validation / test splits as in-memory uint8 tensors, and per-dataset info."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from robust_sabn.data.registry import (
    NPZ_DATASET,
    NPZ_VAL_FRACTION,
    DatasetInfo,
    check_dataset_name,
    fixed_dataset_info,
    npz_augmentation,
)
from robust_sabn.data.sources import RawDataset, load_raw
from robust_sabn.errors import UserInputError

SPLITS = ("train", "val", "test")
_STATS_CHUNK = 4096


@dataclass
class ImageTensors:
    """A labelled image set held in memory.

    Attributes:
        images: (N, C, H, W), uint8 pixels 0..255 or float pixels in [0, 1] (e.g. images from
            a torchvision ``ToTensor`` pipeline).
        labels: int64 (N,).
        name: the dataset's registry name.
        indices: int64 (N,), each image's position in the dataset's official train or test set
            (None when the images come from elsewhere).
        augment_pad: zero padding per side for the training random crop; None takes the
            dataset's standard (:class:`DatasetInfo`, or the npz rule for other names).
        augment_flip: whether training augmentation flips horizontally; None as above.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    indices: torch.Tensor | None = None
    augment_pad: int | None = None
    augment_flip: bool | None = None

    def __post_init__(self) -> None:
        floating = self.images.is_floating_point()
        if not (floating or self.images.dtype == torch.uint8) or self.images.ndim != 4:
            raise UserInputError(
                f"images must be (N, C, H, W), uint8 in 0..255 or float in [0, 1]; got "
                f"{self.images.dtype} {tuple(self.images.shape)}"
            )
        if floating and self.images.numel() and not (
                self.images.min() >= 0 and self.images.max() <= 1):
            raise UserInputError(
                f"float images must lie in [0, 1], these span {float(self.images.min()):g} to "
                f"{float(self.images.max()):g}: divide 0..255 pixels by 255 (or pass uint8), "
                "and undo any mean/std normalization (models normalize inside)"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise ValueError(
                f"labels must be int64 ({len(self.images)},), got {self.labels.dtype} "
                f"{tuple(self.labels.shape)}"
            )
        info = fixed_dataset_info(self.name)
        standard_pad, standard_flip = (
            (info.augment_pad, info.augment_flip)
            if info is not None
            else npz_augmentation((self.images.shape[2], self.images.shape[3]))
        )
        if self.augment_pad is None:
            self.augment_pad = standard_pad
        if self.augment_flip is None:
            self.augment_flip = standard_flip

    def __len__(self) -> int:
        return len(self.labels)


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std on the [0, 1] scale of uint8 images (N, C, H, W), exactly,
    from 256-bin histograms (no float copy of the whole set)."""
    counts = torch.zeros(images.shape[1], 256, dtype=torch.float64)
    for start in range(0, len(images), _STATS_CHUNK):
        chunk = images[start : start + _STATS_CHUNK]
        for channel in range(images.shape[1]):
            counts[channel] += torch.bincount(chunk[:, channel].reshape(-1).long(), minlength=256)
    levels = torch.arange(256, dtype=torch.float64) / 255
    total = counts.sum(dim=1)
    mean = (counts * levels).sum(dim=1) / total
    variance = (counts * levels**2).sum(dim=1) / total - mean**2
    std = variance.clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def get_dataset_info(name: str, *, data_dir: str | Path | None = None) -> DatasetInfo:
    """What dataset ``name`` is: shape, classes, statistics, attack and split defaults.

    For ``npz`` the file in ``data_dir`` is read: classes as declared in the file (or the
    contiguous labels 0..K-1, see :mod:`robust_sabn.data.sources`), mean/std from the training
    images, val_size = 10% of them, attack defaults of CIFAR (eps 8/255, step 2/255,
    7 steps).

    Raises:
        UserInputError: unknown name, or ``npz`` without a readable data_dir.
    """
    check_dataset_name(name)
    info = fixed_dataset_info(name)
    if info is not None:
        return info
    raw = load_raw(NPZ_DATASET, data_dir, download=False)
    assert raw.num_classes is not None  # always set for an npz
    _, channels, height, width = raw.train_images.shape
    mean, std = _channel_stats(raw.train_images)
    pad, flip = npz_augmentation((height, width))
    return DatasetInfo(
        name=NPZ_DATASET, display_name=NPZ_DATASET, num_classes=raw.num_classes,
        in_channels=channels, image_size=(height, width), mean=mean, std=std,
        val_size=_npz_val_size(raw),
        augment_pad=pad, augment_flip=flip,
    )


def _npz_val_size(raw: RawDataset) -> int:
    return int(len(raw.train_labels) * NPZ_VAL_FRACTION)


def load_split(
    name: str,
    split: str,
    *,
    data_dir: str | Path | None = None,
    seed: int = 0,
    val_size: int | None = None,
    max_examples: int | None = None,
    download: bool = True,
) -> ImageTensors:
    """Load one split of a dataset into memory.

    ``val`` is ``val_size`` training images drawn by a permutation seeded with ``seed``; ``train``
    is the rest, never overlapping. Both keep the permutation's order, so ``max_examples`` takes
    a random but seed-determined subset; ``test`` keeps the official order (first N images).

    Args:
        name: a name from :func:`list_datasets`.
        split: ``train``, ``val`` or ``test``.
        data_dir: where the files are (see :func:`robust_sabn.data.sources.load_raw`).
        seed: seed of the train/val permutation.
        val_size: held-out training images; None takes the dataset's default (0 allowed: no val).
        max_examples: keep the first N images of the split's order.
        download: let torchvision download a missing CIFAR/SVHN/Fashion-MNIST.

    Returns:
        ImageTensors with uint8 images (N, C, H, W) and int64 labels (N,).

    Raises:
        UserInputError: unknown dataset or split, missing files, or a bad val_size/max_examples.
    """
    check_dataset_name(name)
    if split not in SPLITS:
        raise UserInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if max_examples is not None and max_examples < 1:
        raise UserInputError(f"max_examples must be at least 1, got {max_examples}")
    raw = load_raw(name, data_dir, download)
    if split == "test":
        images, labels = raw.test_images, raw.test_labels
        indices = torch.arange(len(labels))
    else:
        images, labels = raw.train_images, raw.train_labels
        indices = _train_val_indices(name, raw, split, seed, val_size)
    if max_examples is not None:
        indices = indices[:max_examples]
    return ImageTensors(
        images=images.index_select(0, indices),
        labels=labels.index_select(0, indices),
        name=name,
        indices=indices,
    )


def _train_val_indices(
    name: str, raw: RawDataset, split: str, seed: int, val_size: int | None
) -> torch.Tensor:
    info = fixed_dataset_info(name)
    if val_size is None:
        val_size = info.val_size if info is not None else _npz_val_size(raw)
    count = len(raw.train_labels)
    if not 0 <= val_size < count:
        raise UserInputError(
            f"val_size {val_size} does not fit {name}'s {count} training images; "
            f"pass a val_size from 0 to {count - 1}"
        )
    if split == "val" and val_size == 0:
        raise UserInputError("val_size is 0, so there is no val split; pass val_size > 0")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[:val_size] if split == "val" else order[val_size:]
