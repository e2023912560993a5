"""Claims page rows that test the median of the per-seed differences (a suite file's
``statistic = "median"``): the sign test's interval, verdict and power
(:mod:`robust_sabn.report.sign_test`), in the row's words. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from robust_sabn.report.findings import MEAN, MEDIAN, Finding, power_words, verdict_of
from robust_sabn.report.sign_test import (
    MIN_PAIRS,
    robust_sd,
    sign_test_effect_for_power,
    sign_test_interval,
    sign_test_power,
)
from robust_sabn.report.stats import Interval, format_difference

MEDIAN_ROWS_TEXT = (
    "Rows whose *ours* reads **median** test, as their suite file declares before the run "
    "(`statistic = \"median\"`), the median of the per-seed differences with the sign test's "
    "distribution-free interval (order statistics of the sorted differences; its exact "
    "coverage, at least 95 %, in the row; the parenthesis after it gives the two arms' means), "
    "which one degenerate run does not dominate; their "
    "power is the sign test's (two-sided, same critical ranks) with P(difference > 0) = "
    "Phi(effect / sigma), sigma = 1.4826 x the differences' median absolute deviation.")
"""The claims page's sentence on median rows (printed only when a row is one)."""


def median_text(interval: Interval, digits: int) -> str:
    """``"median +1.80 [+0.40, +3.20] (sign test, coverage 97.9 %)"``, with ``not resolved``
    as :func:`~robust_sabn.report.stats.format_difference` puts it; below
    :data:`~robust_sabn.report.sign_test.MIN_PAIRS` pairs the row says there is no interval."""
    text = f"median {format_difference(interval, 1.0, digits)}"
    if interval.n < MIN_PAIRS:
        return (f"{text} (no 95 % sign-test interval: it needs at least {MIN_PAIRS} seeds, "
                f"{interval.n} here)")
    return f"{text} (sign test, coverage {100 * interval.confidence:.1f} %)"


def median_finding(finding: Finding) -> Finding:
    """``finding`` tested by the median of its per-seed differences (already in the claim's
    unit): its text, interval and verdict from the sign test."""
    interval = sign_test_interval(finding.differences)
    return replace(finding, ours=median_text(interval, finding.digits) + finding.context,
                   verdict=verdict_of(interval, finding.claim.sign), statistic=MEDIAN)


def with_statistics(findings: Sequence[Finding], statistics: Mapping[str, str]
                    ) -> list[Finding]:
    """``findings``, each paired row of a suite whose statistic (suite name -> one of
    :data:`~robust_sabn.report.findings.STATISTICS`) is the median re-tested by it."""
    return [median_finding(f) if f.differences and statistics.get(str(f.suite), MEAN) == MEDIAN
            else f for f in findings]


def sign_test_power_text(finding: Finding, effect: float | None) -> str:
    """A median row's power in words: the sign test's at the suite's stated effect and the
    effect it detects with 80 % power, at sigma = 1.4826 x MAD of the differences."""
    d, unit = finding.differences, finding.claim.unit
    if len(d) < MIN_PAIRS:
        return f"no sign test (fewer than {MIN_PAIRS} paired seeds)"
    sd = robust_sd(d)
    return power_words(effect, unit, lambda e: sign_test_power(e, sd, len(d)),
                       f"{sign_test_effect_for_power(sd, len(d)):.3g}",
                       f"sign test, P(d > 0) = Phi(effect / sigma), sigma = 1.4826 MAD = "
                       f"{sd:.3g}, {len(d)} seeds")
