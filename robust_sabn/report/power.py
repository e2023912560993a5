"""How many seeds and test points does a comparison need? Noise estimates and sample sizes.

A comparison of two models (say SaAuxBN minus AuxBN) averages, over S training seeds, the
difference of two accuracies measured on the same N test points. Its variance has two parts:

* seed-to-seed: training the same pair again with another seed changes the true difference
  (variance ``seed_var``, a property of the training recipe, not of N);
* test-sample: each seed's difference is measured on N points; with per-example paired
  differences ``d_i = a_i - b_i`` (each -1, 0 or +1) its variance is ``example_var / N``.

So one seed's difference has variance ``seed_var + example_var / N`` and the mean over S seeds
that divided by S. The 95 % paired-t interval has half-width ``t(0.975, S - 1) *
sqrt(that / S)`` (:func:`half_width`, what a run can call resolved). Sizing is for power:
:func:`seeds_needed` and :func:`examples_needed` give the seeds or points at which the
two-sided paired t-test at alpha = 0.05 detects a true difference ``target`` with 80 % power
(:func:`paired_t_power`: noncentral t). Sizing so that the half-width equals the target gives
only about 50 % power. The observed variance of the per-seed differences contains both parts;
:func:`estimate_noise` subtracts the test-sample part to get ``seed_var``; when the test-sample
part exceeds the observed spread, ``seed_var`` is set to 0 and the :class:`Noise` says it was
clipped. Torch-free; values are fractions (scale by 100 for points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

MAX_SEEDS = 1000
"""The largest number of seeds :func:`seeds_needed` considers."""


@dataclass(frozen=True)
class Noise:
    """The two variance parts of a paired comparison (fractions squared).

    Attributes:
        seed_var: variance of the true per-seed difference across training seeds.
        example_var: variance of one example's paired difference ``a_i - b_i``.
        seeds: how many seeds the estimate rests on.
        examples: test points per seed in the runs it was estimated from.
        example_var_from_flags: whether ``example_var`` came from per-example flags (else from
            the two accuracies, as if the examples' outcomes were independent).
        observed_var: the observed variance of the per-seed differences (0 for one seed).
        clipped: whether ``seed_var`` was set to 0 because the test-sample part
            ``example_var / examples`` exceeded ``observed_var``.
    """

    seed_var: float
    example_var: float
    seeds: int
    examples: int
    example_var_from_flags: bool = True
    observed_var: float = 0.0
    clipped: bool = False


def estimate_noise(seed_differences: Sequence[float], examples: int,
                   example_differences: Sequence[Sequence[float]] | None = None,
                   accuracies: tuple[float, float] | None = None) -> Noise:
    """Split the spread of per-seed differences into its seed and test-sample parts.

    Args:
        seed_differences: one measured difference ``acc_a - acc_b`` per seed.
        examples: the test points each difference was measured on.
        example_differences: per seed, the per-example differences ``a_i - b_i`` (0/±1);
            their pooled variance is ``example_var``.
        accuracies: without per-example differences, the mean accuracies (a, b); then
            ``example_var = a (1 - a) + b (1 - b)`` (independent outcomes; an upper bound
            when the two models tend to get the same points right).

    Raises:
        ValueError: no seeds, ``examples`` < 1, or neither ``example_differences`` nor
            ``accuracies``.
    """
    if not seed_differences or examples < 1:
        raise ValueError("need at least one seed's difference and one example")
    if example_differences:
        example_var = float(np.mean([np.var(np.asarray(d, dtype=float), ddof=1)
                                     for d in example_differences if len(d) > 1]))
        from_flags = True
    elif accuracies is not None:
        a, b = accuracies
        example_var = a * (1 - a) + b * (1 - b)
        from_flags = False
    else:
        raise ValueError("need per-example differences or the two accuracies")
    observed = float(np.var(np.asarray(seed_differences, dtype=float), ddof=1)) \
        if len(seed_differences) > 1 else 0.0
    seed_var = observed - example_var / examples
    return Noise(seed_var=max(seed_var, 0.0), example_var=example_var,
                 seeds=len(seed_differences), examples=examples,
                 example_var_from_flags=from_flags, observed_var=observed,
                 clipped=len(seed_differences) > 1 and seed_var < 0)


def half_width(noise: Noise, seeds: int, examples: int, confidence: float = 0.95) -> float:
    """Half-width of the paired-t interval of the mean difference over ``seeds`` seeds of
    ``examples`` points each (``inf`` for fewer than 2 seeds)."""
    if seeds < 2:
        return math.inf
    t = float(stats.t.ppf(0.5 + confidence / 2, df=seeds - 1))
    return t * math.sqrt((noise.seed_var + noise.example_var / examples) / seeds)


def seed_sd(noise: Noise, examples: int) -> float:
    """Standard deviation of one seed's difference at ``examples`` test points."""
    return math.sqrt(noise.seed_var + noise.example_var / examples)


def seeds_needed(noise: Noise, target: float, examples: int, power: float | None = None,
                 alpha: float | None = None) -> int | None:
    """Fewest seeds (at least 2) at ``examples`` points per seed whose two-sided paired t-test
    at ``alpha`` (default 0.05) detects a true difference ``target`` with ``power`` (default
    80 %); None beyond :data:`MAX_SEEDS`."""
    return pairs_for_power(target, seed_sd(noise, examples), power or POWER, alpha or ALPHA)


def examples_needed(noise: Noise, target: float, seeds: int, power: float | None = None,
                    alpha: float | None = None) -> int | None:
    """Fewest test points per seed at which ``seeds`` seeds detect a true difference
    ``target`` with ``power`` (default 80 %, two-sided paired t at ``alpha``, default 0.05);
    None when seed-to-seed noise alone is too large (more seeds are needed)."""
    if seeds < 2:
        return None
    # power depends on target / sd only: the largest sd with enough power at these seeds
    largest_sd = target / effect_for_power(1.0, seeds, power or POWER, alpha or ALPHA)
    room = largest_sd ** 2 - noise.seed_var
    if room <= 0:
        return None
    if noise.example_var == 0:
        return 1
    return max(1, math.ceil(noise.example_var / room))


POWER = 0.80
"""The power ``robust-sabn suite plan`` sizes for."""
ALPHA = 0.05
"""The two-sided significance level it sizes at (the 95 % intervals of the reports)."""


def paired_t_power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` over ``n`` pairs whose
    differences have standard deviation ``sd``, when the true mean difference is ``effect``:
    ``P(|T| > t(1 - alpha/2, n - 1))`` with ``T`` noncentral t, noncentrality
    ``effect * sqrt(n) / sd``. 0 for fewer than two pairs; 1 for no spread and an effect."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if effect != 0 else alpha
    df = n - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    shift = abs(effect) * math.sqrt(n) / sd
    lower = float(stats.nct.cdf(-critical, df, shift))  # NaN far in the tail, where it is 0
    return min(1.0, float(stats.nct.sf(critical, df, shift)) + (0.0 if math.isnan(lower)
                                                                 else lower))


def pairs_for_power(effect: float, sd: float, power: float = POWER, alpha: float = ALPHA
                    ) -> int | None:
    """Fewest pairs (at least 2) whose paired t-test reaches ``power`` for ``effect``; None
    beyond :data:`MAX_SEEDS`.

    Power grows with the number of pairs, so a bisection over 2..MAX_SEEDS finds it in about
    ten evaluations of the noncentral t (a scan took up to a thousand per report row)."""
    if paired_t_power(effect, sd, MAX_SEEDS, alpha) < power:
        return None
    too_few, enough = 1, MAX_SEEDS
    while enough - too_few > 1:
        middle = (too_few + enough) // 2
        if paired_t_power(effect, sd, middle, alpha) >= power:
            enough = middle
        else:
            too_few = middle
    return enough


def effect_for_power(sd: float, n: int, power: float = POWER, alpha: float = ALPHA
                     ) -> float:
    """The smallest true difference the paired t-test over ``n`` pairs of spread ``sd``
    detects with ``power`` (``inf`` for fewer than two pairs, 0 for no spread)."""
    if n < 2:
        return math.inf
    if sd <= 0:
        return 0.0
    high = sd
    while paired_t_power(high, sd, n, alpha) < power:
        high *= 2
    return float(optimize.brentq(lambda d: paired_t_power(d, sd, n, alpha) - power,
                                 0.0, high, xtol=1e-9 * sd))
