"""The claims page's many tests read together: each test's p-value and the Benjamini-Hochberg
adjustment over the page.

Each verdict on the page is its own test at alpha = 0.05, so among many tests a few resolve by
chance alone. This module gives each test (a finding whose verdict is reproduced, contradicted
or not resolved) the p-value of the test behind its interval: the paired t-test of its per-seed
differences (two-sided, against 0), or, in a median row, the two-sided sign test (zeros
dropped); a finding that carries its own p-value (the NAS spread row's Brown-Forsythe test)
keeps it. It then adjusts them for the false discovery rate over the page's tests
(``scipy.stats.false_discovery_control``, Benjamini-Hochberg) and says which resolved verdicts
keep an adjusted p below alpha. The verdicts themselves are not changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from robust_sabn.report.findings import MEDIAN, NOT_RESOLVED, TESTS, Finding
from robust_sabn.report.power import ALPHA

SPREAD_TOLERANCE = 1e-9
"""Differences closer than this fraction of their size count as equal: floating-point noise
(0.1 + 0.2 against 0.3) is no spread, and the t-test on it loses all precision."""


def p_value(finding: Finding) -> float | None:
    """The two-sided p-value of the test behind ``finding``'s verdict: its own (``p_value``,
    e.g. Brown-Forsythe), else the paired t-test of its per-seed differences or, in a median
    row, the sign test; None without at least 2 differences or when every difference is 0;
    0 when all are equal and not 0 (the t-interval is a point away from 0). Differences within
    ``SPREAD_TOLERANCE`` of their size of each other count as equal."""
    from scipy import stats

    if finding.p_value is not None:
        return finding.p_value
    differences = list(finding.differences)
    if len(differences) < 2:
        return None
    if finding.statistic == MEDIAN:
        above = sum(d > 0 for d in differences)
        below = sum(d < 0 for d in differences)
        if above + below == 0:
            return None
        return float(stats.binomtest(above, above + below, 0.5).pvalue)
    size = max(abs(d) for d in differences)
    if max(differences) - min(differences) <= SPREAD_TOLERANCE * size:  # t is 0 / 0 or infinite
        return None if size == 0 else 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def multiplicity_text(findings: Sequence[Finding], alpha: float = ALPHA) -> str:
    """One paragraph: how many resolutions chance alone would give, and which resolved
    verdicts keep a Benjamini-Hochberg adjusted p-value below ``alpha`` over the page's tests
    (empty when the page has no test)."""
    from scipy import stats

    tests = [f for f in findings if f.verdict in TESTS]
    if not tests:
        return ""
    scored = [(f, p) for f in tests if (p := p_value(f)) is not None]
    chance = f"{alpha * len(tests):.2g}"
    text = (f"**Many tests at once.** The page holds {len(tests)} tests, each at alpha = "
            f"{alpha:g}: were no effect real, about {chance} would resolve by chance alone.")
    resolved = [f for f, _ in scored if f.verdict != NOT_RESOLVED]
    if not scored or not resolved:
        return text + " None of them is resolved."
    adjusted = stats.false_discovery_control([p for _, p in scored], method="bh")
    q = {id(f): float(value) for (f, _), value in zip(scored, adjusted, strict=True)}
    p = {id(f): value for f, value in scored}
    held = [f for f in resolved if q[id(f)] < alpha]
    listed = "; ".join(
        f"{f.claim.statement}, {f.setup}: {f.verdict}, p = {p[id(f)]:.2g}, adjusted "
        f"{q[id(f)]:.2g}" for f in resolved)
    missing = len(tests) - len(scored)
    without = (f"; {missing} test{'s' if missing != 1 else ''} without a p-value left out"
               if missing else "")
    return (f"{text} Adjusted for the false discovery rate over the {len(scored)} tests "
            "(Benjamini-Hochberg on the paired t-test's p-values, the sign test's in median "
            f"rows, Brown-Forsythe's in spread rows{without}), {len(held)} of the "
            f"{len(resolved)} resolved verdicts {'keeps' if len(held) == 1 else 'keep'} an "
            f"adjusted p below {alpha:g}: {listed}.")
