"""PNG plots for reports (matplotlib, Agg backend): robust accuracy vs eps, training curves.

Lines are group means over seeds; bands are ± one sample standard deviation. Accuracy axes are
in percent; eps is on the [0, 1] pixel scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from robust_sabn.adversarial.report.collect import SHARED_BRANCH, RunResults
from robust_sabn.adversarial.report.tables import Group, metric_label
from robust_sabn.report.kit import mean_std


def _band(ax: Any, xs: list[float], samples: list[list[float]], label: str,
          scale: float = 100.0) -> None:
    """Plot the mean line of ``samples`` (one list per x) with a ± std band, times ``scale``."""
    stats = [mean_std(s) for s in samples]
    means = [scale * m for m, _ in stats]
    stds = [scale * (s or 0.0) for _, s in stats]
    line = ax.plot(xs, means, marker="o", markersize=3, label=label)[0]
    ax.fill_between(xs, [m - s for m, s in zip(means, stds, strict=True)],
                    [m + s for m, s in zip(means, stds, strict=True)],
                    color=line.get_color(), alpha=0.2, linewidth=0)


def plot_robust_vs_eps(groups: Sequence[Group], metric: str, branch: str,
                       eps_values: Sequence[float], path: Path) -> Path:
    """One line per group: robust accuracy (%) of ``metric`` on ``branch`` against eps."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for group in groups:
        xs, samples = [], []
        for eps in eps_values:
            values = group.values(branch, metric, eps)
            if values:
                xs.append(eps)
                samples.append(values)
        if xs:
            _band(ax, xs, samples, group.label)
    ax.set_xlabel("eps (L-inf, [0, 1] pixel scale)")
    ax.set_ylabel(f"{metric_label(metric)} accuracy (%)")
    ax.set_title(f"Robust accuracy against eps ({branch} branch)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def val_branch(row: dict[str, Any], branch: str) -> dict[str, float] | None:
    """One epoch's validation entry of ``branch`` (a plain-BN run's shared one), or None."""
    val = row.get("val") or {}
    if branch in val:
        return val[branch]
    if list(val) == [SHARED_BRANCH]:
        return val[SHARED_BRANCH]
    return None


def _per_epoch(runs: Sequence[RunResults], read: Any) -> tuple[list[float], list[list[float]]]:
    by_epoch: dict[int, list[float]] = {}
    for run in runs:
        for row in run.curve:
            value = read(row)
            if value is not None:
                by_epoch.setdefault(int(row["epoch"]) + 1, []).append(float(value))
    epochs = sorted(by_epoch)
    return [float(e) for e in epochs], [by_epoch[e] for e in epochs]


def has_curves(groups: Sequence[Group]) -> bool:
    """Whether any run has per-epoch training metrics."""
    return any(run.curve for group in groups for run in group.runs)


def plot_training_curves(groups: Sequence[Group], branch: str, path: Path) -> Path:
    """Four panels per epoch, mean ± std over seeds: train loss, val clean and PGD accuracy
    (%) and val PGD cross-entropy (the robust-overfitting curve) of ``branch`` (the single
    branch of plain-BN models)."""
    panels = [
        ("train loss", lambda row: row.get("train_loss"), 1.0),
        (f"val clean accuracy, {branch} branch (%)",
         lambda row: (val_branch(row, branch) or {}).get("clean_acc"), 100.0),
        (f"val PGD accuracy, {branch} branch (%)",
         lambda row: (val_branch(row, branch) or {}).get("pgd_acc"), 100.0),
        (f"val PGD loss, {branch} branch (nats)",
         lambda row: (val_branch(row, branch) or {}).get("pgd_loss"), 1.0),
    ]
    return _epoch_panels(groups, panels, path, width=17)


def _grad_balance(key: str) -> Any:
    return lambda row: (row.get("grad_balance") or {}).get(key)


def plot_gradient_balance(groups: Sequence[Group], path: Path) -> Path:
    """Two panels per epoch, mean ± std over seeds of the runs' epoch means: the imbalance of
    the branch affines' gradient norms (std / mean) and their mean pairwise cosine similarity
    (:mod:`robust_sabn.nn.gradient_balance`); groups without branch affines are left out."""
    panels = [("gradient-norm imbalance of the branch affines (std / mean)",
               _grad_balance("imbalance"), 1.0),
              ("mean pairwise cosine of the branch affines' gradients", _grad_balance("cosine"),
               1.0)]
    return _epoch_panels(groups, panels, path, width=10)


def _epoch_panels(groups: Sequence[Group], panels: Sequence[tuple[str, Any, float]], path: Path,
                  *, width: float) -> Path:
    """One panel per (title, read, scale): each group's per-epoch mean ± std over its runs of
    ``read(row)`` times ``scale``, against the epoch; saved as a PNG at ``path``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 3.8))
    for ax, (title, read, scale) in zip(axes, panels, strict=True):
        for group in groups:
            epochs, samples = _per_epoch(group.runs, read)
            if epochs:
                _band(ax, epochs, samples, group.label, scale)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
