"""The images a NAS search and a retraining see: a fixed subset, optionally at lower resolution.

The search set is the first ``search_examples`` training images in a permutation fixed by
``data_seed`` (the same subset for every search seed), split in two halves as DARTS does: the
first half trains the weights, the second the architecture. Retraining trains on the whole search
set and tests on the first ``test_examples`` official test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from robust_sabn.data import load_split
from robust_sabn.data.splits import ImageTensors


@dataclass(frozen=True)
class SearchData:
    """Weight half, architecture half and test set (uint8 images, int64 labels)."""

    weights: ImageTensors
    arch: ImageTensors
    test: ImageTensors

    @property
    def in_channels(self) -> int:
        return int(self.weights.images.shape[1])

    @property
    def whole(self) -> ImageTensors:
        """Both halves together (the retraining set)."""
        return _subset(self.weights, torch.cat([self.weights.images, self.arch.images]),
                       torch.cat([self.weights.labels, self.arch.labels]))


def _subset(like: ImageTensors, images: torch.Tensor, labels: torch.Tensor) -> ImageTensors:
    return ImageTensors(images=images, labels=labels, name=like.name,
                        augment_pad=like.augment_pad, augment_flip=like.augment_flip)


def resize(data: ImageTensors, resolution: int | None) -> ImageTensors:
    """``data`` resampled (antialiased bilinear) to ``resolution`` pixels square; None keeps it.

    The training crop's padding shrinks in proportion (at least 1 pixel if it was not 0).
    """
    height = int(data.images.shape[2])
    if resolution is None or resolution == height:
        return data
    small = F.interpolate(data.images.float(), size=(resolution, resolution), mode="bilinear",
                          antialias=True, align_corners=False)
    pad = data.augment_pad or 0
    return ImageTensors(
        images=small.round().clamp(0, 255).to(torch.uint8), labels=data.labels, name=data.name,
        augment_pad=max(1, round(pad * resolution / height)) if pad else 0,
        augment_flip=data.augment_flip,
    )


def load_search_data(dataset: str, *, data_dir: str | Path | None, search_examples: int,
                     test_examples: int, resolution: int | None, data_seed: int = 0
                     ) -> SearchData:
    """Load the search subset (split in halves) and the test subset.

    Raises:
        UserInputError: unknown dataset, missing files, or sizes that do not fit.
    """
    train = load_split(dataset, "train", data_dir=data_dir, seed=data_seed, val_size=0,
                       max_examples=search_examples)
    test = load_split(dataset, "test", data_dir=data_dir, max_examples=test_examples)
    train, test = resize(train, resolution), resize(test, resolution)
    half = len(train) // 2
    return SearchData(
        weights=_subset(train, train.images[:half], train.labels[:half]),
        arch=_subset(train, train.images[half:], train.labels[half:]),
        test=test,
    )
