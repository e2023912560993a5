"""What a set of runs can resolve, and what resolving a smaller difference would take.

For each compared pair (:func:`robust_sabn.adversarial.report.paired.comparison_pairs`),
metric and branch: the seed-to-seed and test-sample noise of the difference
(:func:`robust_sabn.report.power.estimate_noise`, per-example flags where the records hold
them), the half-width of the 95 % interval the runs give (the smallest difference they can call
resolved), and the seeds (at the runs' test points) or test points (at their seeds) a target
difference needs. Torch-free; differences in percentage points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robust_sabn.adversarial.report.collect import ResultSet
from robust_sabn.adversarial.report.differences import by_seed
from robust_sabn.adversarial.report.paired import comparison_pairs, flags_of, runs_by_seed
from robust_sabn.adversarial.report.tables import Group, group_runs, metric_label
from robust_sabn.report.kit import markdown_table
from robust_sabn.report.power import (
    Noise,
    estimate_noise,
    examples_needed,
    half_width,
    seeds_needed,
)

POINTS = 100.0
"""Fractions to percentage points."""


@dataclass(frozen=True)
class PowerRow:
    """The noise and sample sizes of one comparison (fractions; ``None``: not reachable)."""

    metric: str
    branch: str
    row: str
    minus: str
    noise: Noise
    resolvable: float
    seeds_for_target: int | None
    examples_for_target: int | None


def _example_differences(row: Group, minus: Group, branch: str, metric: str,
                         eps: float | None, seeds: Sequence[int]) -> list[np.ndarray]:
    """Per shared seed with flags on the same points: the per-example differences (0/±1)."""
    out = []
    a_runs, b_runs = runs_by_seed(row), runs_by_seed(minus)
    for seed in seeds:
        a = flags_of(a_runs[seed], branch, metric, eps)
        b = flags_of(b_runs[seed], branch, metric, eps)
        if a is not None and b is not None and a.points == b.points:
            out.append(np.asarray(a.flags, dtype=float) - np.asarray(b.flags, dtype=float))
    return out


def _points(group: Group, branch: str, metric: str, eps: float | None) -> int:
    """Test points behind the group's values (the smallest over its runs)."""
    from robust_sabn.adversarial.report.collect import CLEAN, eps_key

    counts = []
    for run in group.runs:
        resolved = run.resolve_branch(branch)
        key = (resolved or branch, metric, None if metric == CLEAN else eps_key(eps or 0.0))
        if key in run.values:
            counts.append(run.values[key][1])
    return min(counts) if counts else 0


def power_rows(results: ResultSet, metrics: Sequence[str], branches: Sequence[str],
               eps: float | None, target: float) -> list[PowerRow]:
    """One row per pair, metric and branch with values for both groups; ``target`` is the
    difference (fraction) to resolve."""
    rows = []
    groups = group_runs(results)
    for metric in metrics:
        for branch in branches:
            for row, minus in comparison_pairs(groups):
                a, b = by_seed(row, branch, metric, eps), by_seed(minus, branch, metric, eps)
                seeds = sorted(set(a) & set(b))
                examples = min(_points(row, branch, metric, eps),
                               _points(minus, branch, metric, eps))
                if not seeds or examples < 1:
                    continue
                noise = estimate_noise(
                    [a[s] - b[s] for s in seeds], examples,
                    _example_differences(row, minus, branch, metric, eps, seeds),
                    accuracies=(float(np.mean([a[s] for s in seeds])),
                                float(np.mean([b[s] for s in seeds]))))
                rows.append(PowerRow(metric, branch, row.label, minus.label, noise,
                                     half_width(noise, len(seeds), examples),
                                     seeds_needed(noise, target, examples),
                                     examples_needed(noise, target, len(seeds))))
    return rows


def _cell(value: int | None, unit: str) -> str:
    return "unreachable" if value is None else f"{value} {unit}"


def power_table(rows: Sequence[PowerRow], target: float) -> str:
    """The rows as a Markdown table (noise and half-widths in percentage points)."""
    header = ["metric", "branch", "row", "minus", "seeds x points", "seed sd (per seed)",
              "test-sample sd (per seed)", "resolvable now",
              f"seeds for {POINTS * target:g} at these points",
              f"points for {POINTS * target:g} at these seeds"]
    body = []
    for r in rows:
        n = r.noise
        seed_sd = ("unknown (1 seed)" if n.seeds < 2 else f"{POINTS * n.seed_var ** 0.5:.2f}")
        sample_sd = f"{POINTS * (n.example_var / n.examples) ** 0.5:.2f}" + (
            "" if n.example_var_from_flags else " (no flags: binomial)")
        now = "needs 2 seeds" if r.resolvable == float("inf") else f"±{POINTS * r.resolvable:.2f}"
        needs = ([_cell(r.seeds_for_target, "seeds"), _cell(r.examples_for_target, "points")]
                 if n.seeds >= 2 else ["unknown (1 seed)"] * 2)
        body.append([metric_label(r.metric), r.branch, r.row, r.minus,
                     f"{n.seeds} x {n.examples}", seed_sd, sample_sd, now, *needs])
    return markdown_table(header, body, align="llllrrrrrr")


def power_section(results: ResultSet, metrics: Sequence[str], branches: Sequence[str],
                  eps: float | None, target: float = 0.01) -> list[str]:
    """Markdown lines of the report's "What this run can resolve" section."""
    rows = power_rows(results, metrics, branches, eps, target)
    if not rows:
        return []
    return ["## What this run can resolve", "",
            "Per comparison: the standard deviation of the difference from seed to seed "
            "(training noise, test-sample part removed) and from test sampling at these points "
            "(from the per-example flags), the half-width of the 95 % paired-t interval these "
            "seeds and points give (a smaller difference cannot be resolved), and what a "
            f"{POINTS * target:g}-point difference would need (`robust-sabn suite plan`; "
            "\"unreachable\": seed-to-seed noise alone is too large at these seeds).", "",
            power_table(rows, target), ""]
