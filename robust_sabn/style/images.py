"""Stylized images: one content/style pair to a file, and side-by-side grids of several networks.

Images are RGB in [0, 1]; files are written with :func:`torchvision.utils.save_image`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor
from torchvision.utils import save_image

from robust_sabn.artifacts.checkpoint import atomic_write_bytes
from robust_sabn.errors import UserInputError
from robust_sabn.style.data import read_rgb
from robust_sabn.style.network import StyleTransferNet

MIN_SIDE = 16


def load_resized(path: Path, size: int | None) -> Tensor:
    """An image file as float (1, 3, H, W), shorter side resized to ``size`` (None: as is)."""
    return read_rgb(path, size, MIN_SIDE)[None].float() / 255.0


def save_png(images: Tensor, path: Path, nrow: int = 8) -> Path:
    """Write (N, 3, H, W) images in [0, 1] as one PNG grid, atomically."""
    path = Path(path)
    atomic_write_bytes(path, lambda f: save_image(images, f, format="png", nrow=nrow,
                                                  padding=2, pad_value=1.0))
    return path


@torch.no_grad()
def stylize_file(net: StyleTransferNet, content: Path, style: Path, *, alpha: float,
                 size: int | None, output: Path, device: str = "cpu") -> Path:
    """Stylize ``content`` with ``style`` at strength ``alpha`` and write ``output`` (PNG).

    The content keeps its aspect ratio (shorter side ``size``); the style is resized to the
    same shorter side.

    Raises:
        UserInputError: alpha outside [0, 1], or an unreadable image.
    """
    if not 0.0 <= alpha <= 1.0:
        raise UserInputError(f"--alpha {alpha} is outside [0, 1]; 1 is full style, 0 none")
    content_image = load_resized(content, size).to(device)
    style_image = load_resized(style, size or min(content_image.shape[-2:])).to(device)
    return save_png(net.stylize(content_image, style_image, alpha).cpu(), output)


@torch.no_grad()
def stylization_grid(nets: Mapping[str, StyleTransferNet], contents: Tensor, styles: Tensor
                     ) -> tuple[Tensor, int]:
    """A grid of stylizations: the first row shows each style above its columns, then one row
    per content image: the content, then for each style one column per network (in the
    mapping's order).

    Args:
        nets: label -> network, e.g. ``{"AdaIN": ..., "SaAdaIN": ...}``.
        contents: (R, 3, S, S) content images.
        styles: (C, 3, S, S) style images.

    Returns:
        (images (1 + R) * (1 + C * len(nets)) as (M, 3, S, S), images per row).
    """
    blank = torch.ones_like(contents[:1])
    header = [blank] + [style[None] for style in styles for _ in nets]
    rows = [torch.cat(header)]
    for content in contents:
        cells = [content[None]]
        for style in styles:
            cells += [net.stylize(content[None], style[None]) for net in nets.values()]
        rows.append(torch.cat(cells))
    return torch.cat(rows), 1 + len(styles) * len(nets)


def write_grid(nets: Mapping[str, StyleTransferNet], contents: Tensor, styles: Tensor,
               output: Path) -> Path:
    """:func:`stylization_grid` written as a PNG."""
    images, per_row = stylization_grid(nets, contents, styles)
    return save_png(images, output, nrow=per_row)

