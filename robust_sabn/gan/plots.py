"""PNGs for GAN reports (matplotlib, Agg): probe FID over training iterations, labelled sample
grids."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from robust_sabn.vocabulary import count

Curve = Sequence[tuple[float, float]]
MIN_CELL_PX = 64
"""Every image of a sample grid is drawn at least this many pixels high and wide."""
_LABEL_PX, _MARGIN_PX = 120, 6


def labelled_grid(images: torch.Tensor, row_labels: Sequence[str], path: str | Path) -> Path:
    """Write images as a grid, one row per label, each cell upscaled (nearest neighbour, an
    integer factor) to at least :data:`MIN_CELL_PX` pixels, the labels left of the rows.

    Args:
        images: (R * n, C, H, W) in [0, 1], row by row, C = 1 or 3.
        row_labels: R row titles (class names).
        path: the PNG to write; the image pixels land 1:1 on the PNG's pixels.
    """
    from torchvision.utils import make_grid

    per_row = len(images) // len(row_labels)
    factor = math.ceil(MIN_CELL_PX / min(images.shape[-2:]))
    big = torch.nn.functional.interpolate(images.float(), scale_factor=factor, mode="nearest")
    grid = make_grid(big.clamp(0, 1), nrow=per_row, padding=2, pad_value=1.0)
    height, width = grid.shape[1:]
    fig_w, fig_h = width + _LABEL_PX + _MARGIN_PX, height + 2 * _MARGIN_PX
    fig = plt.figure(figsize=(fig_w / 100, fig_h / 100), dpi=100)
    ax = fig.add_axes((_LABEL_PX / fig_w, _MARGIN_PX / fig_h, width / fig_w, height / fig_h))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    cell = big.shape[-2] + 2
    ax.set_yticks([2 + cell * i + big.shape[-2] / 2 for i in range(len(row_labels))],
                  list(row_labels))
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_fid_curves(curves: Mapping[str, Mapping[int, Curve]], path: str | Path, *,
                    ylabel: str) -> Path:
    """One colour per row label: each seed's (iteration, FID) curve thin, their mean thick.

    Args:
        curves: row label -> seed -> [(iteration, fid), ...].
        path: the PNG to write.
        ylabel: the y axis title (says which features the FID uses).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, seeds) in enumerate(curves.items()):
        colour = colours[i % len(colours)]
        for points in seeds.values():
            ax.plot([p[0] for p in points], [p[1] for p in points], color=colour, alpha=0.3,
                    linewidth=0.8)
        steps = sorted(set.intersection(*(set(p[0] for p in pts) for pts in seeds.values())))
        means = [sum(dict(pts)[s] for pts in seeds.values()) / len(seeds) for s in steps]
        ax.plot(steps, means, color=colour, linewidth=2.0,
                label=f"{label} (mean of {count(len(seeds), 'seed')})")
    ax.set_xlabel("generator iteration")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
