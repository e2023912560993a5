"""The report's "Differences" section: is a norm's gain over another resolved?

For each metric and branch, every group minus the reference group (BN when present), and
SaAuxBN minus AuxBN, paired over the seeds both groups have (a run's training seed), with the
95 % Student-t interval of the mean difference in percentage points; "not resolved" where the
interval contains 0 (:mod:`robust_sabn.report.stats`). Beside it, in how many seeds the
per-example comparison (:mod:`robust_sabn.adversarial.report.paired`) is resolved. Baselines
(one model, no seeds) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from robust_sabn.adversarial.report.paired import (
    comparison_pairs,
    resolved_summary,
    runs_by_seed,
    seed_comparisons,
)
from robust_sabn.adversarial.report.tables import Group, metric_label
from robust_sabn.report.kit import difference_rows, markdown_table
from robust_sabn.vocabulary import norm_label


def by_seed(group: Group, branch: str, metric: str, eps: float | None) -> dict[int, float]:
    """A group's values of ``metric`` on ``branch`` by training seed."""
    values = {seed: run.value(branch, metric, eps) for seed, run in runs_by_seed(group).items()}
    return {seed: value for seed, value in values.items() if value is not None}


def _rows_for(groups: Sequence[Group], branch: str, metric: str, eps: float | None
              ) -> list[list[str]]:
    rows = []
    for row, minus in comparison_pairs(groups):
        a, b = by_seed(row, branch, metric, eps), by_seed(minus, branch, metric, eps)
        if not a or not b:
            continue
        per_example = resolved_summary(seed_comparisons(row, minus, branch, metric, eps))
        for cells in difference_rows({row.label: a, minus.label: b}, minus.label, scale=100.0,
                                     digits=2):
            rows.append([metric_label(metric), branch, *cells, per_example])
    return rows


def differences_section(groups: Sequence[Group], branches: Sequence[str],
                        metrics: Sequence[str], eps: float | None) -> list[str]:
    """Markdown lines of the section (empty when fewer than two groups of ours)."""
    rows = [row for metric in metrics for branch in branches
            for row in _rows_for(groups, branch, metric, eps)]
    if not rows:
        return []
    reference = next((norm_label(g.norm) for g in groups if g.norm == "bn"), "the first row")
    header = ["metric", "branch", "row", "minus", "difference, points [95 % CI]", "seeds",
              "per-example resolved in"]
    return ["## Differences with 95 % confidence intervals", "",
            f"Each row minus {reference} (and SaAuxBN minus AuxBN), in percentage points of "
            "accuracy, paired over the training seeds both have; Student-t interval over seeds "
            "(it covers seed-to-seed variation, not only test-sample noise). \"not resolved\": "
            "the interval contains 0, so this run cannot tell the two apart. \"per-example "
            "resolved in\": in how many seeds the two runs differ beyond test-sample noise "
            "(paired bootstrap over the same test points, next section), by sign.", "",
            markdown_table(header, rows, align="lllrrrr"), ""]
