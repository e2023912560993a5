"""The claims page's multiplicity paragraph: each test's p-value and the Benjamini-Hochberg
adjustment over the page, against hand-computed answers."""

from __future__ import annotations

import warnings

import pytest
from scipy import stats

from robust_sabn.report.findings import (
    CONTRADICTED,
    MEDIAN,
    NOT_RESOLVED,
    NOT_TESTABLE,
    REPRODUCED,
    Claim,
    Finding,
)
from robust_sabn.report.multiplicity import multiplicity_text, p_value

CLAIM = Claim("k", "adversarial", "A minus B", "paper", 1, "needs a GPU")


def _finding(verdict: str, setup: str = "s", **fields: object) -> Finding:
    return Finding(CLAIM, setup, "ours", verdict, **fields)  # type: ignore[arg-type]


def test_p_value_is_the_paired_t_the_sign_test_or_the_findings_own() -> None:
    differences = (0.5, 1.5, 0.9, 1.1)
    assert p_value(_finding(REPRODUCED, differences=differences)) == pytest.approx(
        stats.ttest_1samp(differences, 0.0).pvalue)
    signs = (1.0, 2.0, 3.0, 4.0, 5.0, -1.0, 0.0)  # 5 above, 1 below, the zero dropped
    assert p_value(_finding(REPRODUCED, differences=signs, statistic=MEDIAN)) == pytest.approx(
        2 * 7 / 64)  # P(X <= 1) + P(X >= 5), X ~ Bin(6, 1/2)
    assert p_value(_finding(NOT_RESOLVED, p_value=0.93, differences=differences)) == 0.93
    assert p_value(_finding(NOT_RESOLVED, differences=(1.0,))) is None
    assert p_value(_finding(NOT_RESOLVED, differences=(0.0, 0.0))) is None  # t is 0 / 0
    assert p_value(_finding(REPRODUCED, differences=(1.0, 1.0))) == 0.0  # a point interval


def test_p_value_reads_rounding_noise_as_no_spread() -> None:
    """Differences equal up to floating-point rounding are a point interval, not a t-test that
    loses its precision (scipy warns and returns a meaningless p)."""
    noisy = (0.1 + 0.2, 0.3, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p_value(_finding(REPRODUCED, differences=noisy)) == 0.0
    assert p_value(_finding(REPRODUCED, differences=(0.3, 0.3 + 1e-6))) == pytest.approx(
        stats.ttest_1samp((0.3, 0.3 + 1e-6), 0.0).pvalue)


def test_the_paragraph_adjusts_over_the_tests_and_names_what_keeps() -> None:
    findings = [_finding(REPRODUCED, "s1", p_value=0.01), _finding(CONTRADICTED, "s2",
                                                                   p_value=0.04),
                _finding(NOT_RESOLVED, "s3", p_value=0.5), _finding(NOT_TESTABLE, "s4",
                                                                    p_value=0.001)]
    text = multiplicity_text(findings)
    # 3 tests (not testable is not one); BH: q = 0.01 * 3 / 1 = 0.03, 0.04 * 3 / 2 = 0.06
    assert text.startswith("**Many tests at once.** The page holds 3 tests, each at alpha = "
                           "0.05: were no effect real, about 0.15 would resolve by chance alone.")
    assert "1 of the 2 resolved verdicts keeps an adjusted p below 0.05" in text
    assert "A minus B, s1: reproduced, p = 0.01, adjusted 0.03" in text
    assert "A minus B, s2: contradicted, p = 0.04, adjusted 0.06" in text
    assert "s3" not in text and "left out" not in text
    lone = multiplicity_text([_finding(NOT_RESOLVED, p_value=0.2),
                              _finding(REPRODUCED, "s9", differences=(1.0,))])
    assert lone.endswith("None of them is resolved.")  # s9 has no p-value to adjust
    assert multiplicity_text([_finding(NOT_TESTABLE)]) == ""
