"""What a set of runs can resolve, and what resolving a smaller difference would take.

For each compared pair (:func:`robust_sabn.adversarial.report.paired.comparison_pairs`),
metric and branch: the seed-to-seed and test-sample noise of the difference
(:func:`robust_sabn.report.power.estimate_noise`, per-example flags where the records hold
them), the half-width of the 95 % interval the runs give (the smallest difference they can call
resolved), the smallest true difference they detect with 80 % power, and the seeds (at the runs'
test points) or test points (at their seeds) at which a target difference is detected with 80 %
power (two-sided paired t-test, alpha = 0.05). Torch-free; differences in percentage points.
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
    ALPHA,
    POWER,
    Noise,
    effect_for_power,
    estimate_noise,
    examples_needed,
    half_width,
    seed_sd,
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


def _seed_sd_cell(noise: Noise) -> str:
    if noise.seeds < 2:
        return "unknown (1 seed)"
    if noise.clipped:
        return (f"0 (clipped: observed sd {POINTS * noise.observed_var ** 0.5:.2f} is below "
                "the test-sample sd)")
    return f"{POINTS * noise.seed_var ** 0.5:.2f}"


def power_table(rows: Sequence[PowerRow], target: float) -> str:
    """The rows as a Markdown table (noise and differences in percentage points)."""
    goal = f"{POINTS * target:g} at {100 * POWER:g} % power"
    header = ["metric", "branch", "row", "minus", "seeds x points", "seed sd (per seed)",
              "test-sample sd (per seed)", "95 % CI half-width now",
              f"{100 * POWER:g} % power now at", f"seeds for {goal} (these points)",
              f"points for {goal} (these seeds)"]
    body = []
    for r in rows:
        n = r.noise
        sample_sd = f"{POINTS * (n.example_var / n.examples) ** 0.5:.2f}" + (
            "" if n.example_var_from_flags else " (no flags: binomial)")
        now = "needs 2 seeds" if r.resolvable == float("inf") else f"±{POINTS * r.resolvable:.2f}"
        detect = (f">= {POINTS * effect_for_power(seed_sd(n, n.examples), n.seeds):.2f}"
                  if n.seeds >= 2 else "needs 2 seeds")
        needs = ([_cell(r.seeds_for_target, "seeds"), _cell(r.examples_for_target, "points")]
                 if n.seeds >= 2 else ["unknown (1 seed)"] * 2)
        body.append([metric_label(r.metric), r.branch, r.row, r.minus,
                     f"{n.seeds} x {n.examples}", _seed_sd_cell(n), sample_sd, now, detect,
                     *needs])
    return markdown_table(header, body, align="llllrrrrrrr")


def power_note(rows: Sequence[PowerRow], target: float) -> str:
    """What the table sizes for, and which rows rest on a clipped seed variance."""
    clipped = [f"{metric_label(r.metric)} {r.row} - {r.minus} ({r.branch})" for r in rows
               if r.noise.clipped]
    text = (f"Sized for {100 * POWER:g} % power at alpha = {ALPHA:g} (two-sided paired t-test over "
            f"seeds) to detect a true difference of {POINTS * target:g} points; seed sd is "
            "the seed-to-seed part with the test-sample part removed.")
    if clipped:
        text += (" Seed variance clipped to 0 (the test-sample part exceeds the observed "
                 "spread, so the seed-to-seed part is not measured; more seeds or points "
                 "would tell): " + "; ".join(clipped) + ".")
    return text


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
            "\"unreachable\": seed-to-seed noise alone is too large at these seeds). "
            + power_note(rows, target), "", power_table(rows, target), ""]
