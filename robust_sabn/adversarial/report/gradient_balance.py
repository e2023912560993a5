"""The report's "Gradient balance" section: the SaBN abstract's mechanism claim, measured.

Training logs, per epoch, how the gradients of each norm layer's K independent (branch) affines
compare (:mod:`robust_sabn.nn.gradient_balance`): the **imbalance** of their norms (std / mean
over branches; 0 = balanced) and their mean pairwise **cosine** similarity (1 = one direction,
0 = orthogonal), each averaged over layers and the epoch's steps. A run's value is the mean over
its epochs; groups are compared by mean ± std over seeds. The abstract says the sandwich affine
"promotes balanced gradient norms while preserving diverse gradient directions": lower
imbalance for SaAuxBN than AuxBN, with a cosine that does not rise. Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence

from robust_sabn.adversarial.report.collect import RunResults
from robust_sabn.adversarial.report.tables import Group
from robust_sabn.report.kit import format_mean_std, markdown_table

BALANCE_KEYS = ("imbalance", "cosine")


def balance_series(run: RunResults, key: str) -> list[float]:
    """The run's per-epoch ``key`` (``"imbalance"`` or ``"cosine"``); [] when not logged."""
    values = [(row.get("grad_balance") or {}).get(key) for row in run.curve]
    return [float(v) for v in values if v is not None]


def run_balance(run: RunResults, key: str) -> float | None:
    """The mean over the run's epochs of ``key``, or None when the run logged none (a plain-BN
    run has no branch affines)."""
    series = balance_series(run, key)
    return sum(series) / len(series) if series else None


def has_balance(groups: Sequence[Group]) -> bool:
    """Whether any run logged the gradient balance."""
    return any(balance_series(run, "imbalance") for group in groups for run in group.runs)


def gradient_balance_section(groups: Sequence[Group], plot_name: str | None) -> list[str]:
    """Markdown lines of the section (empty when no run logged the balance)."""
    rows = []
    for group in groups:
        runs = [r for r in group.runs if balance_series(r, "imbalance")]
        if not runs:
            continue
        rows.append([group.label,
                     *(format_mean_std([run_balance(r, key) or 0.0 for r in runs], digits=3)
                       for key in BALANCE_KEYS),
                     str(len(runs))])
    if not rows:
        return []
    out = ["## Gradient balance of the branch affines", "",
           "The abstract's mechanism claim: the sandwich affine \"promotes balanced gradient "
           "norms while preserving diverse gradient directions\" of the independent (per-branch) "
           "affines. Per norm layer and step: imbalance = std / mean of the branches' gradient "
           "norms (0: balanced), cosine = their mean pairwise cosine similarity; averaged over "
           "layers, steps and epochs; mean ± std over seeds. The claims page compares SaAuxBN "
           "with AuxBN paired by seed.", "",
           markdown_table(["model", "imbalance", "cosine", "runs"], rows), ""]
    if plot_name:
        out += [f"![gradient balance per epoch]({plot_name})", ""]
    return out
