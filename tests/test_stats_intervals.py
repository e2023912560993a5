"""The report's statistics against textbook answers: paired t, paired bootstrap, McNemar,
"not resolved", and the power analysis built on them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robust_sabn.report.power import (
    Noise,
    estimate_noise,
    half_width,
)
from robust_sabn.report.stats import (
    Interval,
    bootstrap_difference,
    format_difference,
    mcnemar_p,
    paired_t_interval,
)

T_975_DF4 = 2.7764451051977987  # Student t quantile, 0.975, 4 degrees of freedom (tables: 2.776)


def test_paired_t_interval_matches_the_textbook() -> None:
    # differences 1..5: mean 3, sd sqrt(2.5), standard error sqrt(0.5)
    interval = paired_t_interval([11.0, 12.0, 13.0, 14.0, 15.0], [10.0, 10.0, 10.0, 10.0, 10.0])
    half = T_975_DF4 * math.sqrt(0.5)
    assert (interval.estimate, interval.n, interval.method) == (3.0, 5, "paired t")
    assert interval.low == pytest.approx(3 - half) and interval.high == pytest.approx(3 + half)
    assert interval.low == pytest.approx(1.0368, abs=1e-4) and interval.resolved


def _discordant_flags(only_a: int, only_b: int, both: int, neither: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_paired_bootstrap_agrees_with_the_normal_interval_on_many_examples() -> None:
    # 120 examples only a gets right, 80 only b: difference 0.02 on 2000 examples; the
    # per-example difference has variance 200/2000 - 0.02^2, the Wald interval is +-1.96 se
    a, b = _discordant_flags(120, 80, 1000, 800)
    se = math.sqrt((0.1 - 0.02 ** 2) / 2000)
    interval = bootstrap_difference(a, b, seed=0)
    assert interval.estimate == pytest.approx(0.02) and interval.n == 2000
    assert interval.low == pytest.approx(0.02 - 1.959964 * se, abs=0.0015)
    assert interval.high == pytest.approx(0.02 + 1.959964 * se, abs=0.0015)
    assert bootstrap_difference(a, b, seed=0) == interval  # a fixed seed repeats exactly


def test_paired_bootstrap_draws_the_bootstrap_distribution_of_scipy() -> None:
    # the multinomial counts of -1/0/+1 are the resampled means' exact law: scipy's example-
    # resampling percentile bootstrap gives the same interval up to Monte Carlo error
    from scipy import stats as scipy_stats

    a, b = _discordant_flags(30, 12, 300, 158)
    ours = bootstrap_difference(a, b, n_resamples=20000, seed=1)
    theirs = scipy_stats.bootstrap((a.astype(float) - b,), np.mean, n_resamples=20000,
                                   method="percentile", random_state=np.random.default_rng(2)
                                   ).confidence_interval
    assert ours.low == pytest.approx(theirs.low, abs=0.003)
    assert ours.high == pytest.approx(theirs.high, abs=0.003)


def test_mcnemar_exact_p_matches_the_binomial_and_the_chi_square_approximation() -> None:
    a, b = _discordant_flags(120, 80, 1000, 800)
    p = mcnemar_p(a, b)
    # two-sided exact binomial of 120 of 200 at 1/2 (0.00575), close to the continuity-corrected
    # chi-square (|120 - 80| - 1)^2 / 200 = 7.605, p = 0.0058
    assert p == pytest.approx(0.005734, rel=0.02)
    assert mcnemar_p(*_discordant_flags(3, 3, 10, 10)) == pytest.approx(1.0)
    assert mcnemar_p(*_discordant_flags(0, 0, 10, 10)) == 1.0


def test_an_interval_spanning_zero_prints_not_resolved() -> None:
    spanning = Interval(0.003, -0.005, 0.011, 5, 0.95, "paired t")
    assert format_difference(spanning, 100.0) == "+0.30 [-0.50, +1.10] not resolved"
    resolved = Interval(0.018, 0.004, 0.032, 5, 0.95, "paired t")
    assert format_difference(resolved, 100.0, 1) == "+1.8 [+0.4, +3.2]"
    single = paired_t_interval([0.5], [0.4])
    assert format_difference(single, 100.0) == "+10.00 [n = 1] not resolved"


def test_half_width_is_the_t_interval_of_the_two_noise_parts() -> None:
    noise = Noise(seed_var=0.0004, example_var=0.1, seeds=5, examples=1000)
    expected = T_975_DF4 * math.sqrt((0.0004 + 0.1 / 1000) / 5)
    assert half_width(noise, 5, 1000) == pytest.approx(expected)
    assert half_width(noise, 1, 1000) == math.inf


def test_estimate_noise_removes_the_test_sample_part() -> None:
    differences = [np.array([1.0, 0.0, -1.0, 0.0] * 25), np.array([1.0, 1.0, 0.0, 0.0] * 25)]
    example_var = float(np.mean([np.var(d, ddof=1) for d in differences]))
    noise = estimate_noise([0.02, 0.05, 0.01], 100, differences)
    observed = float(np.var([0.02, 0.05, 0.01], ddof=1))
    assert noise.example_var == pytest.approx(example_var)
    assert noise.seed_var == pytest.approx(max(observed - example_var / 100, 0.0))
    binomial = estimate_noise([0.01, 0.03], 500, accuracies=(0.8, 0.7))
    assert binomial.example_var == pytest.approx(0.8 * 0.2 + 0.7 * 0.3)
    assert not binomial.example_var_from_flags
    with pytest.raises(ValueError, match="per-example differences or the two accuracies"):
        estimate_noise([0.01], 10)


def test_spread_difference_is_brown_forsythe_and_one_without_spread() -> None:
    """Brown-Forsythe by hand: a one-way ANOVA on absolute deviations from each group's
    median."""
    from scipy import stats as scipy_stats

    from robust_sabn.report.stats import spread_difference_p

    a, b = [0.70, 0.71, 0.69, 0.70, 0.72], [0.60, 0.75, 0.68, 0.80, 0.55]
    deviations = [[abs(v - sorted(g)[len(g) // 2]) for v in g] for g in (a, b)]
    expected = scipy_stats.f_oneway(*deviations).pvalue
    assert spread_difference_p(a, b) == pytest.approx(expected, rel=1e-12)
    assert spread_difference_p(a, b) < 0.05
    assert spread_difference_p([0.5, 0.5, 0.5], [0.4, 0.4, 0.4]) == 1.0
