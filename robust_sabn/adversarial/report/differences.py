"""The report's "Differences" section: is a norm's gain over another resolved?

For each metric and branch, every group minus the reference group (BN when present), and
SaAuxBN minus AuxBN, paired over the seeds both groups have (a run's training seed), with the
95 % Student-t interval of the mean difference in percentage points; "not resolved" where the
interval contains 0 (:mod:`robust_sabn.report.stats`). Baselines (one model, no seeds) are left
out.
"""

from __future__ import annotations

from collections.abc import Sequence

from robust_sabn.adversarial.report.tables import Group, metric_label
from robust_sabn.report.kit import difference_rows, markdown_table
from robust_sabn.vocabulary import norm_label

_PAIRS = (("saauxbn", "auxbn"),)
"""Comparisons shown besides "each row vs the reference": (row norm, minus norm)."""


def _by_seed(group: Group, branch: str, metric: str, eps: float | None) -> dict[int, float]:
    values: dict[int, float] = {}
    for index, run in enumerate(group.runs):
        value = run.value(branch, metric, eps)
        if value is not None:
            values[run.seed if run.seed is not None else index] = value
    return values


def _rows_for(groups: Sequence[Group], branch: str, metric: str, eps: float | None
              ) -> list[list[str]]:
    values = {g.label: _by_seed(g, branch, metric, eps) for g in groups if not g.baseline}
    ours = [g for g in groups if values.get(g.label)]
    if len(ours) < 2:
        return []
    reference = next((g for g in ours if g.norm == "bn"), ours[0])
    values = {g.label: values[g.label] for g in ours}
    rows = difference_rows(values, reference.label, scale=100.0, digits=2)
    by_norm = {g.norm: g for g in ours}
    for row_norm, minus_norm in _PAIRS:
        row, minus = by_norm.get(row_norm), by_norm.get(minus_norm)
        if row is not None and minus is not None and minus is not reference:
            rows += difference_rows({row.label: values[row.label],
                                     minus.label: values[minus.label]}, minus.label,
                                    scale=100.0, digits=2)
    return [[metric_label(metric), branch, *row] for row in rows]


def differences_section(groups: Sequence[Group], branches: Sequence[str],
                        metrics: Sequence[str], eps: float | None) -> list[str]:
    """Markdown lines of the section (empty when fewer than two groups of ours)."""
    rows = [row for metric in metrics for branch in branches
            for row in _rows_for(groups, branch, metric, eps)]
    if not rows:
        return []
    reference = next((norm_label(g.norm) for g in groups if g.norm == "bn"), "the first row")
    header = ["metric", "branch", "row", "minus", "difference, points [95 % CI]", "seeds"]
    return ["## Differences with 95 % confidence intervals", "",
            f"Each row minus {reference} (and SaAuxBN minus AuxBN), in percentage points of "
            "accuracy, paired over the training seeds both have; Student-t interval over seeds "
            "(it covers seed-to-seed variation, not only test-sample noise). \"not resolved\": "
            "the interval contains 0, so this run cannot tell the two apart.", "",
            markdown_table(header, rows, align="lllrrr"), ""]
