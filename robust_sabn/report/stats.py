"""Does a difference between two rows of a comparison hold up? Confidence intervals.

* :func:`paired_t_interval`: the mean of paired differences ``a_i - b_i`` (one pair per seed)
  with a Student-t confidence interval (``scipy.stats.t``);
* :func:`bootstrap_difference`: the difference of two proportions measured on the same
  examples (per-example 0/1 flags, e.g. "still correct after the attack"), with a paired
  percentile-bootstrap interval (resampled means drawn as multinomial counts of the -1/0/+1
  differences, fixed seed);
* :func:`mcnemar_p`: the exact McNemar test of the same per-example flags.

A difference is *resolved* when its interval excludes 0; :func:`format_difference` prints
``+1.80 [+0.40, +3.20]`` or ``+0.30 [-0.50, +1.10] not resolved``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

NOT_RESOLVED = "not resolved"


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval.

    Attributes:
        estimate: the point estimate (a mean difference).
        low, high: the interval's ends (``nan`` when it cannot be computed, e.g. n < 2).
        n: how many pairs (seeds or examples) it rests on.
        confidence: the interval's level, e.g. 0.95.
        method: ``"paired t"`` or ``"paired bootstrap"``.
    """

    estimate: float
    low: float
    high: float
    n: int
    confidence: float
    method: str

    @property
    def resolved(self) -> bool:
        """Whether the interval exists and excludes 0."""
        if math.isnan(self.low) or math.isnan(self.high):
            return False
        return self.low > 0 or self.high < 0


def paired_t_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95
                      ) -> Interval:
    """Mean of ``a_i - b_i`` with a two-sided Student-t interval over the n pairs.

    With n < 2, or no spread at all, the interval is ``[nan, nan]`` for n < 2 and collapses to
    the estimate for zero spread.

    Raises:
        ValueError: ``a`` and ``b`` differ in length or are empty.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"need paired values of equal, non-zero length (got {len(a)}, {len(b)})")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(diff)
    mean = float(diff.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, confidence, "paired t")
    sem = float(diff.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sem
    return Interval(mean, mean - half, mean + half, n, confidence, "paired t")


def bootstrap_difference(flags_a: Sequence[bool] | np.ndarray, flags_b: Sequence[bool] | np.ndarray,
                         confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
                         ) -> Interval:
    """Difference of the proportions of true flags, ``mean(a) - mean(b)``, on the same examples,
    with a paired percentile-bootstrap interval (examples resampled together).

    Raises:
        ValueError: the flag arrays differ in length or are empty.
    """
    a = np.asarray(flags_a, dtype=float)
    b = np.asarray(flags_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need per-example flags of equal, non-zero length ({a.size}, {b.size})")
    diff = a - b
    estimate = float(diff.mean())
    if np.all(diff == diff[0]):
        return Interval(estimate, estimate, estimate, a.size, confidence, "paired bootstrap")
    # Each difference is -1, 0 or +1, so a resample's mean is (plus - minus) / n with the
    # counts multinomial over the three values: the bootstrap distribution drawn in O(1) per
    # resample instead of O(n) (a 10,000-point comparison took ~1 s, now ~1 ms).
    values, counts = np.unique(diff, return_counts=True)
    draws = np.random.default_rng(seed).multinomial(a.size, counts / a.size, size=n_resamples)
    means = draws @ values / a.size
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), a.size, confidence, "paired bootstrap")


def mcnemar_p(flags_a: Sequence[bool] | np.ndarray, flags_b: Sequence[bool] | np.ndarray
              ) -> float:
    """Exact two-sided McNemar p-value: of the examples where exactly one of a and b is true,
    is each side equally likely? (1.0 when there are no such examples.)"""
    a = np.asarray(flags_a, dtype=bool)
    b = np.asarray(flags_b, dtype=bool)
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def spread_difference_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Brown-Forsythe p-value (Levene's test about the medians, robust to non-normal data):
    do a and b differ in spread? 1.0 when neither varies."""
    if max(a) == min(a) and max(b) == min(b):
        return 1.0
    return float(stats.levene(a, b, center="median").pvalue)


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}"


def format_difference(interval: Interval, scale: float = 1.0, digits: int = 2) -> str:
    """``"+1.80 [+0.40, +3.20]"``, with ``" not resolved"`` appended when the interval
    contains 0 (or could not be computed: ``"+1.80 [n = 1] not resolved"``); values are
    multiplied by ``scale`` (100 for fractions shown as percentage points)."""
    estimate = _signed(interval.estimate * scale, digits)
    if math.isnan(interval.low):
        return f"{estimate} [n = {interval.n}] {NOT_RESOLVED}"
    text = (f"{estimate} [{_signed(interval.low * scale, digits)}, "
            f"{_signed(interval.high * scale, digits)}]")
    return text if interval.resolved else f"{text} {NOT_RESOLVED}"
