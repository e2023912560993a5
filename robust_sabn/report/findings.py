"""What a claims-page row is made of: the verdicts, a claim, one setup's finding of it, the
verdict of an interval and the power sentence (:mod:`robust_sabn.report.claims` renders them;
:mod:`robust_sabn.report.median_rows` re-tests a finding by its median). Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robust_sabn.artifacts.result import ResultRecord

if TYPE_CHECKING:  # scipy behind it is imported when a page is computed, not with a task
    from robust_sabn.report.stats import Interval

REPRODUCED = "reproduced"
NOT_RESOLVED = "not resolved"
CONTRADICTED = "contradicted"
NOT_TESTABLE = "not testable at this scale"
NOT_RUN = "not run"
VERDICTS = (REPRODUCED, NOT_RESOLVED, CONTRADICTED, NOT_TESTABLE, NOT_RUN)
TESTS = (REPRODUCED, NOT_RESOLVED, CONTRADICTED)
"""The verdicts of a test that ran (gates passed, records there)."""
MEAN, MEDIAN = "mean", "median"
STATISTICS = (MEAN, MEDIAN)
"""What a paired row tests: the mean difference (paired Student-t) or the median (sign test)."""


@dataclass(frozen=True)
class Claim:
    """One claim of the paper.

    Attributes:
        key: short identifier (``adv-clean-branch-auxbn``).
        task: the task whose records test it (``adversarial``, ``gan``, ``nas``, ``style``).
        statement: the claim in words, as "row minus reference" reads.
        paper: the paper's numbers and setup, as text.
        sign: +1 when the paper's row minus reference is positive, -1 when negative.
        paper_setup: what running the paper's own setup needs (a suite, a GPU, a dataset).
        unit: the unit of ``ours`` and of the suite file's ``[effects]`` (``points``).
    """

    key: str
    task: str
    statement: str
    paper: str
    sign: int
    paper_setup: str
    unit: str = "points"


@dataclass(frozen=True)
class Finding:
    """What one setup's records say about a claim.

    Attributes:
        claim: the claim.
        setup: our setup in words (suite, dataset, model, seeds, test points).
        ours: our number: difference with its interval and the two means, or why none.
        verdict: one of :data:`VERDICTS`.
        suite: the suite the records came from (its gates apply), None when unknown.
        differences: the per-seed differences behind ``ours``, in the claim's unit.
        context: what ``ours`` says after the difference (the two means and the seeds).
        digits: the decimals ``ours`` shows.
        statistic: what the row tests, one of :data:`STATISTICS`.
        gate: the gates that guard it, in words (filled in by :func:`apply_gates`).
        power: its power, in words (filled in by :func:`apply_gates`).
        p_value: the p-value of a test that is not a paired difference (the NAS spread row's
            Brown-Forsythe test); paired rows leave it None and get theirs from
            ``differences`` (:mod:`robust_sabn.report.multiplicity`).
    """

    claim: Claim
    setup: str
    ours: str
    verdict: str
    suite: str | None = None
    differences: tuple[float, ...] = ()
    context: str = ""
    digits: int = 2
    statistic: str = MEAN
    gate: str = "-"
    power: str = "-"
    p_value: float | None = None


Records = Sequence[tuple[Path, ResultRecord]]
Key = tuple[Any, ...]
"""A setup: (suite, then what else must match for two records to be compared)."""


def verdict_of(interval: Interval, sign: int) -> str:
    """``reproduced`` / ``contradicted`` when the interval excludes 0 on the claimed / other
    side, else ``not resolved``."""
    if not interval.resolved:
        return NOT_RESOLVED
    return REPRODUCED if (interval.estimate > 0) == (sign > 0) else CONTRADICTED


def power_words(effect: float | None, unit: str, power: Callable[[float], float],
                effect_at_80: str, how: str) -> str:
    """``"87 % at 5 points; 80 % at >= 3.1 points (how)"``: ``power(effect)`` (a fraction)
    at the stated ``effect`` (None: "no effect stated") and the effect with 80 % power."""
    at_80 = f"80 % at >= {effect_at_80} {unit} ({how})"
    if effect is None:
        return f"{at_80}; no effect stated"
    return f"{100 * power(effect):.0f} % at {effect:g} {unit}; {at_80}"
