"""Mini-batches from in-memory uint8 images, with training augmentation done on whole batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from robust_sabn.data.splits import ImageTensors


def random_crop_flip(
    images: torch.Tensor,
    *,
    pad: int,
    flip: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random crop after zero padding, and optionally a random horizontal flip, per image.

    Each image is zero-padded by ``pad`` pixels per side and cropped back to its size at an
    offset drawn uniformly from ``0 .. 2 * pad`` in each axis (a shift of the content by
    ``-pad .. pad`` pixels); with ``flip`` it is mirrored left-right with probability 1/2. Crop and
    flip are one gather over the padded batch.

    Args:
        images: (B, C, H, W), any dtype, on any device.
        pad: padding per side in pixels (0: no crop).
        flip: draw horizontal flips.
        generator: CPU generator for the random offsets and flips (None: torch's global one);
            the same generator state gives the same result on any device.

    Returns:
        Tensor like ``images``: (B, C, H, W), same dtype and device.
    """
    if pad == 0 and not flip:
        return images
    batch, channels, height, width = images.shape
    device = images.device
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator).to(device)
    rows = offsets[:, 0:1] + torch.arange(height, device=device)  # (B, H)
    cols = offsets[:, 1:2] + torch.arange(width, device=device)  # (B, W)
    if flip:
        mirrored = (torch.rand(batch, generator=generator) < 0.5).to(device)
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
    return padded[
        torch.arange(batch, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]


def iterate_batches(
    data: ImageTensors,
    batch_size: int,
    *,
    shuffle: bool,
    augment: bool,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One pass over ``data`` in mini-batches.

    With ``shuffle`` the order is a permutation drawn when iteration starts; with ``augment``
    every batch gets the dataset's crop/flip (``data.augment_pad``, ``data.augment_flip``), drawn
    per image. All randomness comes from ``generator`` (a CPU generator; None: torch's global
    one), so the same generator state gives the same batches. Images travel to ``device`` in
    their own dtype (uint8 or float) and are augmented there.

    Args:
        data: images and labels from :func:`load_split`.
        batch_size: images per batch (the last one may be smaller unless ``drop_last``).
        shuffle: visit the images in a random order.
        augment: apply the training augmentation.
        generator: source of the permutation, offsets and flips.
        device: where the batches are put.
        drop_last: skip a final batch smaller than ``batch_size``.

    Yields:
        (x, y): x float32 (B, C, H, W) in [0, 1], y int64 (B,), both on ``device``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    count = len(data)
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    stop = count - count % batch_size if drop_last else count
    pad = data.augment_pad or 0
    flip = bool(data.augment_flip)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        images = data.images.index_select(0, index).to(device, non_blocking=True)
        if augment:
            images = random_crop_flip(images, pad=pad, flip=flip, generator=generator)
        labels = data.labels.index_select(0, index).to(device, non_blocking=True)
        yield (images.float().div_(255) if images.dtype == torch.uint8 else images.float()), labels
