"""PNG plot for GAN reports (matplotlib, Agg): probe FID over training iterations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Curve = Sequence[tuple[float, float]]


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
                label=f"{label} (mean of {len(seeds)} seeds)")
    ax.set_xlabel("generator iteration")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
