"""``robust-sabn suite plan`` for the tasks whose comparisons are the claims page's findings
(GAN, NAS, style): from a finished suite's or a pilot's records, per claim and setup, the spread
of the per-seed paired differences and the seeds at which the paired t-test (two-sided,
alpha = 0.05) detects the suite's stated effect with 80 % power.

A spread estimated from a handful of seeds is itself uncertain, and sizing from the point
estimate under-powers the follow-up about half the time. So each row also gives the seeds
needed at the one-sided 80 % upper confidence bound of the spread, ``sd * sqrt((n - 1) /
chi2.ppf(0.2, n - 1))`` (normal differences), which a confirmatory run can size from instead.
A suite whose paired rows test the median (``[comparison] statistic = "median"``) is planned
for the sign test instead, at the differences' robust spread (1.4826 x MAD,
:mod:`robust_sabn.report.sign_test`); that spread has no chi-square bound, so those rows give
none. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import stdev

from robust_sabn.report.findings import MEDIAN, Finding

UPPER_CONFIDENCE = 0.80
"""The one-sided confidence of the spread's upper bound a plan also sizes from."""


def sd_upper_bound(sd: float, n: int, confidence: float = UPPER_CONFIDENCE) -> float:
    """One-sided ``confidence`` upper bound of a standard deviation ``sd`` estimated from
    ``n`` normal values (chi-square with ``n - 1`` degrees of freedom); ``inf`` for n < 2."""
    from scipy import stats

    if n < 2:
        return math.inf
    return sd * math.sqrt((n - 1) / float(stats.chi2.ppf(1 - confidence, n - 1)))


@dataclass(frozen=True)
class PlanRow:
    """One claim in one setup: its paired differences' spread and the seeds it needs.

    Attributes:
        finding: the finding the differences come from.
        effect: the true difference sized for, in the claim's unit.
        sd: the per-seed differences' standard deviation (median rows: 1.4826 x their MAD).
        sd_upper: its one-sided 80 % upper confidence bound (median rows: None).
        power_now: the test's power at ``effect`` with the seeds the records have (paired t,
            or the sign test for median rows).
        seeds: seeds for 80 % power at ``effect`` if the spread is ``sd`` (None: > 1000).
        seeds_upper: the same if the spread is ``sd_upper``.
    """

    finding: Finding
    effect: float
    sd: float
    sd_upper: float | None
    power_now: float
    seeds: int | None
    seeds_upper: int | None


def plan_rows(findings: Sequence[Finding], effects: Mapping[str, float],
              default_effect: float, statistic: str = "mean") -> list[PlanRow]:
    """A :class:`PlanRow` per finding with at least two paired seeds; the effect is the claim's
    entry in ``effects`` (the suite file's ``[effects]``), else ``default_effect``;
    ``statistic`` is the suite's (``"median"``: the sign test at the robust spread)."""
    from robust_sabn.report.power import paired_t_power, pairs_for_power
    from robust_sabn.report.sign_test import (
        pairs_for_sign_test_power,
        robust_sd,
        sign_test_power,
    )

    rows = []
    for f in findings:
        d = f.differences
        if len(d) < 2:
            continue
        effect = effects.get(f.claim.key, default_effect)
        if statistic == MEDIAN:
            spread = robust_sd(d)
            rows.append(PlanRow(f, effect, spread, None, sign_test_power(effect, spread, len(d)),
                                pairs_for_sign_test_power(effect, spread), None))
            continue
        sd = stdev(d)
        upper = sd_upper_bound(sd, len(d))
        rows.append(PlanRow(f, effect, sd, upper, paired_t_power(effect, sd, len(d)),
                            pairs_for_power(effect, sd), pairs_for_power(effect, upper)))
    return rows


def plan_markdown(rows: Sequence[PlanRow], source: str, statistic: str = "mean") -> str:
    """The plan as Markdown: a note on the test and the bound, then one table row per
    :class:`PlanRow`."""
    from robust_sabn.report.kit import markdown_table
    from robust_sabn.report.power import ALPHA, MAX_SEEDS, POWER

    if not rows:
        return (f"No comparison in {source} has two paired seeds, so no spread can be "
                "estimated; run at least two seeds of each arm.")

    def seeds(n: int | None) -> str:
        return str(n) if n is not None else f"> {MAX_SEEDS}"

    def bound(r: PlanRow) -> list[str]:
        if r.sd_upper is None:
            return ["-", "-"]
        return [f"{r.sd_upper:.3g}", seeds(r.seeds_upper)]

    header = ["claim", "our setup", "seeds now", "effect", "sd", "power now",
              f"seeds for {100 * POWER:g} %", f"sd {100 * UPPER_CONFIDENCE:g} % upper bound",
              f"seeds for {100 * POWER:g} % at the bound"]
    table = [[r.finding.claim.key, r.finding.setup, str(len(r.finding.differences)),
              f"{r.effect:g} {r.finding.claim.unit}", f"{r.sd:.3g}", f"{100 * r.power_now:.0f} %",
              seeds(r.seeds), *bound(r)] for r in rows]
    sizing = (f"two-sided, alpha = {ALPHA:g}, {100 * POWER:g} % power for the effect the suite "
              "file states per claim (`[effects]`, else --target)")
    if statistic == MEDIAN:
        note = (f"Power plan from {source}: the median of the per-seed differences with the "
                f"sign test, {sizing}, with P(difference > 0) = Phi(effect / sd). The spread is "
                "the differences' robust sd (1.4826 x MAD), which one rare degenerate run "
                "barely moves; it has no chi-square bound, so size a confirmatory run with a "
                "margin.")
    else:
        note = (f"Power plan from {source}: paired t-test over seeds, {sizing}. The spread is "
                "the per-seed differences' sample standard deviation; its one-sided "
                f"{100 * UPPER_CONFIDENCE:g} % upper confidence bound (chi-square) gives the "
                "seeds a confirmatory run needs if the spread was underestimated.")
    return (note + " Size a new run with fresh seeds; adding seeds to a run after seeing its "
            "result inflates the error rate.\n\n"
            + markdown_table(header, table, align="llrrrrrrr"))
