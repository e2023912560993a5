"""The median of paired differences with the sign test's distribution-free interval and power.

A rare degenerate run (a found cell at chance) moves the mean of per-seed differences, and
the spread a Student-t interval rests on, by tens of points; it moves the median by at most one
order statistic. For n paired differences sorted ``d(1) <= ... <= d(n)``, ``[d(k), d(n+1-k)]``
covers the true median with probability ``1 - 2 P(B <= k - 1)``, ``B ~ Binomial(n, 1/2)``,
whatever the differences' distribution (continuous). :func:`sign_test_ranks` takes the largest
``k`` whose coverage is at least 95 %; below :data:`MIN_PAIRS` pairs no ``k`` reaches it.
The interval excludes 0 exactly when the two-sided sign test with the same critical ranks
rejects "median 0", so :func:`sign_test_power` is that test's power: at ``P(d > 0) = p`` it
rejects when ``S+ >= n + 1 - k`` or ``S+ <= k - 1`` (``S+ ~ Binomial(n, p)``, the positive
differences). Torch-free; values in any unit (the callers' points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from robust_sabn.report.power import ALPHA, MAX_SEEDS, POWER
from robust_sabn.report.stats import Interval

MIN_PAIRS = 6
"""Fewest pairs with a 95 % sign-test interval (n = 5: the widest one covers 93.75 %)."""
METHOD = "sign test"
"""``Interval.method`` of :func:`sign_test_interval`."""


def sign_test_ranks(n: int, confidence: float = 1 - ALPHA) -> tuple[int, int, float] | None:
    """``(k, n + 1 - k, coverage)``: the 1-based ranks of the interval's ends and its exact
    coverage, the largest ``k`` with coverage >= ``confidence``; None when even ``k = 1``
    falls short (n < :data:`MIN_PAIRS` at 95 %)."""
    if n < 1:
        return None
    k = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))  # smallest j: cdf(j) >= tail
    if stats.binom.cdf(k, n, 0.5) > (1 - confidence) / 2:
        k -= 1  # largest j with cdf(j) <= tail; the lower end is the (j + 1)-th value
    if k < 0:
        return None
    return k + 1, n - k, 1 - 2 * float(stats.binom.cdf(k, n, 0.5))


def sign_test_interval(differences: Sequence[float], confidence: float = 1 - ALPHA
                       ) -> Interval:
    """Median of ``differences`` with its sign-test interval; ``Interval.confidence`` is the
    exact coverage (>= ``confidence``), low and high ``nan`` below :data:`MIN_PAIRS`.

    Raises:
        ValueError: no differences.
    """
    if not differences:
        raise ValueError("need at least one paired difference")
    d = np.sort(np.asarray(differences, dtype=float))
    ranks = sign_test_ranks(len(d), confidence)
    if ranks is None:
        return Interval(float(np.median(d)), math.nan, math.nan, len(d), confidence, METHOD)
    low, high, coverage = ranks
    return Interval(float(np.median(d)), float(d[low - 1]), float(d[high - 1]), len(d),
                    coverage, METHOD)


def robust_sd(differences: Sequence[float]) -> float:
    """1.4826 x the median absolute deviation: the standard deviation of normal differences,
    barely moved by a few outliers."""
    return float(stats.median_abs_deviation(np.asarray(differences, dtype=float),
                                            scale="normal"))


def _reject_probability(p: float, n: int, k: int) -> float:
    """P(S+ >= n + 1 - k or S+ <= k - 1) for S+ ~ Binomial(n, p)."""
    return float(stats.binom.sf(n - k, n, p) + stats.binom.cdf(k - 1, n, p))


def sign_test_power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided sign test at level ``alpha`` over ``n`` pairs (the critical
    ranks of :func:`sign_test_ranks`) when ``P(d > 0) = Phi(effect / sd)``; 0 below
    :data:`MIN_PAIRS`, and ``P(d > 0)`` is 1 (or 0) for no spread and an effect."""
    ranks = sign_test_ranks(n, 1 - alpha)
    if ranks is None:
        return 0.0
    p = float(stats.norm.cdf(effect / sd)) if sd > 0 else 0.5 + 0.5 * np.sign(effect)
    return _reject_probability(p, n, ranks[0])


def sign_test_effect_for_power(sd: float, n: int, power: float = POWER,
                               alpha: float = ALPHA) -> float:
    """The smallest effect the sign test over ``n`` pairs detects with ``power`` when
    ``P(d > 0) = Phi(effect / sd)`` (``inf`` below :data:`MIN_PAIRS`, 0 for no spread)."""
    ranks = sign_test_ranks(n, 1 - alpha)
    if ranks is None:
        return math.inf
    if sd <= 0:
        return 0.0
    p = optimize.brentq(lambda q: _reject_probability(q, n, ranks[0]) - power, 0.5, 1.0,
                        xtol=1e-12)
    return sd * float(stats.norm.ppf(p))


def pairs_for_sign_test_power(effect: float, sd: float, power: float = POWER,
                              alpha: float = ALPHA) -> int | None:
    """Fewest pairs whose sign test reaches ``power`` at ``effect`` (see
    :func:`sign_test_power`); None beyond :data:`~robust_sabn.report.power.MAX_SEEDS`. The
    test is discrete, so its power is not monotone in the pairs: this scans upwards."""
    return next((n for n in range(MIN_PAIRS, MAX_SEEDS + 1)
                 if sign_test_power(effect, sd, n, alpha) >= power), None)
