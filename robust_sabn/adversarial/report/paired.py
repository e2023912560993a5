"""Paired comparisons of norms: which pairs are compared, per seed and per example.

Two runs that share a training seed and were evaluated on the same test points (same dataset,
split, first N examples and attack seed) are compared example by example: the difference of
their accuracies with a paired bootstrap interval over the examples and the exact McNemar test
(:mod:`robust_sabn.report.stats`). That interval covers test-sample noise only; the paired-t
interval over seeds (:mod:`robust_sabn.adversarial.report.differences`) covers training noise
too and is the one a claim rests on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from robust_sabn.adversarial.report.collect import CLEAN, ExampleFlags, RunResults, eps_key
from robust_sabn.adversarial.report.tables import Group, metric_label
from robust_sabn.report.kit import markdown_table
from robust_sabn.report.stats import Interval, bootstrap_difference, format_difference, mcnemar_p

EXTRA_PAIRS = (("saauxbn", "auxbn"),)
"""Comparisons shown besides "each group minus the reference": (row norm, minus norm)."""


def comparison_pairs(groups: Sequence[Group]) -> list[tuple[Group, Group]]:
    """(row, minus) pairs among our groups (baselines left out): each group minus the reference
    (BN when present, else the first group), then SaAuxBN minus AuxBN."""
    ours = [g for g in groups if not g.baseline]
    if len(ours) < 2:
        return []
    reference = next((g for g in ours if g.norm == "bn"), ours[0])
    pairs = [(g, reference) for g in ours if g is not reference]
    by_norm = {g.norm: g for g in ours}
    for row_norm, minus_norm in EXTRA_PAIRS:
        row, minus = by_norm.get(row_norm), by_norm.get(minus_norm)
        if row is not None and minus is not None and minus is not reference:
            pairs.append((row, minus))
    return pairs


def runs_by_seed(group: Group) -> dict[int, RunResults]:
    """A group's runs by training seed (position in the group when the seed is unknown)."""
    return {run.seed if run.seed is not None else i: run for i, run in enumerate(group.runs)}


def flags_of(run: RunResults, branch: str, metric: str, eps: float | None) -> ExampleFlags | None:
    """The run's per-example flags for ``metric`` on ``branch`` (a one-branch model's shared
    branch stands for every branch), or None."""
    resolved = run.resolve_branch(branch)
    if resolved is None:
        return None
    key = (resolved, metric, None if metric == CLEAN else eps_key(eps or 0.0))
    return run.example_flags.get(key)


@dataclass(frozen=True)
class SeedComparison:
    """One seed's per-example comparison of two runs.

    Attributes:
        seed: the training seed both runs share.
        interval: accuracy difference (fraction) with its paired bootstrap interval.
        mcnemar: the exact McNemar p-value of the same flags.
    """

    seed: int
    interval: Interval
    mcnemar: float


def seed_comparisons(row: Group, minus: Group, branch: str, metric: str, eps: float | None
                     ) -> list[SeedComparison]:
    """Per shared seed whose two runs hold flags on the same points: the comparison."""
    found = []
    minus_runs = runs_by_seed(minus)
    for seed, run in sorted(runs_by_seed(row).items()):
        other = minus_runs.get(seed)
        a = flags_of(run, branch, metric, eps)
        b = flags_of(other, branch, metric, eps) if other is not None else None
        if a is None or b is None or a.points != b.points or len(a.flags) != len(b.flags):
            continue
        found.append(SeedComparison(seed, bootstrap_difference(a.flags, b.flags, seed=seed),
                                    mcnemar_p(a.flags, b.flags)))
    return found


def resolved_summary(comparisons: Sequence[SeedComparison]) -> str:
    """``"3 of 5 (3 +, 0 -)"``: in how many seeds the per-example interval excludes 0, by sign;
    ``"-"`` without per-example flags."""
    if not comparisons:
        return "-"
    up = sum(c.interval.resolved and c.interval.estimate > 0 for c in comparisons)
    down = sum(c.interval.resolved and c.interval.estimate < 0 for c in comparisons)
    return f"{up + down} of {len(comparisons)} ({up} +, {down} -)"


def per_example_section(groups: Sequence[Group], branches: Sequence[str],
                        metrics: Sequence[str], eps: float | None) -> list[str]:
    """Markdown lines: one row per pair, metric, branch and seed (empty without flags)."""
    rows = []
    for metric in metrics:
        for branch in branches:
            for row, minus in comparison_pairs(groups):
                for c in seed_comparisons(row, minus, branch, metric, eps):
                    rows.append([metric_label(metric), branch, row.label, minus.label,
                                 str(c.seed), format_difference(c.interval, 100.0, 2),
                                 f"{c.mcnemar:.3g}", str(c.interval.n)])
    if not rows:
        return []
    header = ["metric", "branch", "row", "minus", "seed", "difference, points [95 % CI]",
              "McNemar p", "test points"]
    return ["## Per-example differences within each seed", "",
            "Two runs with the same training seed, evaluated on the same test points, compared "
            "example by example: accuracy difference in percentage points with a paired "
            "bootstrap interval over the test points (2000 resamples, percentile) and the exact "
            "McNemar p-value. This interval covers test-sample noise only, not training noise: "
            "a pair resolved here but not across seeds differs as trained models, not as "
            "recipes.", "",
            markdown_table(header, rows, align="lllllrrr"), ""]
