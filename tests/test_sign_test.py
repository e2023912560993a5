"""The median of paired differences with the sign test's interval and power
(:mod:`robust_sabn.report.sign_test`), against hand-computed binomial answers; and a NAS suite
whose file declares ``[comparison] statistic = "median"``, where one degenerate found cell
leaves the paired-t row unresolved but not the median row."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import median

import pytest
from scipy import stats

from robust_sabn.artifacts.result import write_result
from robust_sabn.errors import UserInputError
from robust_sabn.nas.claims import NAS_MEAN
from robust_sabn.nas.records import score_record
from robust_sabn.nas.space import Genotype
from robust_sabn.report.claims import claims_markdown
from robust_sabn.report.sign_test import (
    robust_sd,
    sign_test_effect_for_power,
    sign_test_interval,
    sign_test_power,
    sign_test_ranks,
)
from robust_sabn.suites import load_suite


def test_sixteen_pairs_take_ranks_4_and_13() -> None:
    # P(B <= 3), B ~ Binomial(16, 1/2): (1 + 16 + 120 + 560) / 2^16; P(B <= 4) adds 1820 / 2^16
    # and exceeds 0.025, so the interval is [d(4), d(13)], coverage 1 - 2 * 697 / 65536
    assert sign_test_ranks(16) == (4, 13, pytest.approx(1 - 2 * 697 / 65536))
    assert 1 - 2 * 697 / 65536 == pytest.approx(0.97873, abs=1e-5)
    differences = [float(x) for x in (9, -3, 14, 1, 7, 2, 12, -8, 5, 3, 11, 4, 6, 10, 8, 13)]
    interval = sign_test_interval(differences)
    ordered = sorted(differences)  # -8 -3 1 [2] 3 4 5 6 7 8 9 10 [11] 12 13 14
    assert (interval.low, interval.high) == (ordered[3], ordered[12]) == (2.0, 11.0)
    assert interval.estimate == pytest.approx(6.5) and interval.resolved
    assert interval.confidence == pytest.approx(0.97873, abs=1e-5)


def test_six_pairs_are_the_fewest_with_a_95_percent_interval() -> None:
    assert sign_test_ranks(6) == (1, 6, pytest.approx(1 - 2 / 64))  # 0.96875
    assert sign_test_ranks(5) is None  # the widest interval covers 1 - 2 / 32 = 0.9375
    interval = sign_test_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert interval.estimate == 3.0 and math.isnan(interval.low) and not interval.resolved


def _binomial_tail_power(p: float, n: int, k: int) -> float:
    """P(S+ >= n + 1 - k) + P(S+ <= k - 1), S+ ~ Binomial(n, p), summed term by term."""
    terms = [math.comb(n, s) * p ** s * (1 - p) ** (n - s) for s in range(n + 1)]
    return sum(terms[n + 1 - k:]) + sum(terms[:k])


def test_power_is_the_exact_binomial_rejection_probability() -> None:
    differences = [4.0, -2.0, 7.0, 1.0, 3.5, 6.0, 0.5, 9.0, 2.0, 5.0, -1.0, 3.0, 8.0, 2.5,
                   4.5, -60.0]
    sd = robust_sd(differences)
    middle = median(differences)
    assert sd == pytest.approx(1.4826 * median(abs(x - middle) for x in differences), rel=1e-4)
    p = 0.5 * (1 + math.erf(5.0 / sd / math.sqrt(2)))  # Phi(5 / sigma)
    assert sign_test_power(5.0, sd, 16) == pytest.approx(_binomial_tail_power(p, 16, 4))
    assert sign_test_power(0.0, sd, 16) == pytest.approx(2 * 697 / 65536)  # its size
    effect = sign_test_effect_for_power(sd, 16)
    assert sign_test_power(effect, sd, 16) == pytest.approx(0.80, abs=1e-6)
    assert sign_test_power(5.0, sd, 5) == 0.0 and math.isinf(sign_test_effect_for_power(sd, 5))


CELL = Genotype.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                      "nor_conv_3x3~1|skip_connect~2|")
SEEDS = range(16)
DEGENERATE_SEED = 7


def _accuracy(norm: str, seed: int) -> float:
    """BN near 60 %; SaAuxBN 2 to 5 points above, except one cell at chance (10 %)."""
    bn = 0.60 + 0.004 * (seed % 5)
    if norm == "bn":
        return bn
    return 0.10 if seed == DEGENERATE_SEED else bn + 0.02 + 0.002 * seed


def _write_suite(root: Path, comparison: str) -> Path:
    folder = root / "suites"
    folder.mkdir(exist_ok=True)
    path = folder / "nx.toml"
    path.write_text('task = "nas"\n[search]\nnorms = ["bn", "saauxbn"]\n'
                    f"seeds = {list(SEEDS)}\n[comparison]\n{comparison}\n"
                    "[effects]\nnas-mean = 5.0\n")
    return path


def _write_records(root: Path) -> None:
    for norm in ("bn", "saauxbn"):
        for seed in SEEDS:
            record = score_record(CELL, subject={"algorithm": "darts", "norm": norm,
                                                 "seed": seed},
                                  retrained={}, retrain=None, wall_time_s=1.0,
                                  table_scores={"analog-nasbench": {
                                      "cifar10": _accuracy(norm, seed)}})
            write_result(root / "records" / "nx" / f"darts-{norm}-seed{seed}" / "score.json",
                         record)


def _nas_mean_row(root: Path) -> str:
    page = claims_markdown([root / "records"], root / "claims.md", suites_dir=root / "suites")
    row, = [line for line in page.splitlines() if line.startswith(f"| {NAS_MEAN.statement}")
            and "nx:" in line]
    return row


@pytest.mark.parametrize(("comparison", "verdict", "says"), [
    ("", "**not resolved**", "(sd "),
    ('statistic = "median"', "**reproduced**", "median +3.40 [+2.40, +4.40] (sign test, "
     "coverage 97.9 %)"),
])
def test_one_degenerate_cell_hides_the_mean_but_not_the_median(
        tmp_path: Path, comparison: str, verdict: str, says: str) -> None:
    _write_records(tmp_path)
    _write_suite(tmp_path, comparison)
    row = _nas_mean_row(tmp_path)
    assert verdict in row and says in row
    if comparison:
        assert "1.4826 MAD" in row and "% at 5 points" in row
        differences = [100 * (_accuracy("saauxbn", s) - _accuracy("bn", s)) for s in SEEDS]
        power = sign_test_power(5.0, robust_sd(differences), 16)
        assert f"{100 * power:.0f} % at 5 points" in row
        assert 1.4826 * stats.median_abs_deviation(differences) == pytest.approx(
            robust_sd(differences), rel=1e-4)


def test_the_nas_report_says_which_statistic_it_tested(tmp_path: Path) -> None:
    from robust_sabn.artifacts.result import collect_results
    from robust_sabn.nas.report import render_nas_report

    _write_records(tmp_path)
    records, _ = collect_results(tmp_path / "records")
    median = render_nas_report(records, tmp_path / "m.md", command="c", suite_command=None,
                               warnings=[], statistic="median").read_text()
    assert ("analog-nasbench CIFAR-10: DARTS SaAuxBN minus DARTS BN, in points: median +3.40 "
            "[+2.40, +4.40] (sign test, coverage 97.9 %), 16 seeds.") in median
    assert "1 of 1 differences (medians, sign test) against BN are resolved" in median
    assert ("| DARTS SaAuxBN | DARTS BN | +3.40 [+2.40, +4.40] | 16 |" in median
            and "median difference in top-1 (points) [sign-test CI, >= 95 %]" in median)
    mean = render_nas_report(records, tmp_path / "t.md", command="c", suite_command=None,
                             warnings=[]).read_text()
    assert ("minus DARTS BN, in points: +0.11 [-7.14, +7.36] not resolved (Student t, 16 "
            "seeds)." in mean and "median" not in mean)
    assert "| DARTS SaAuxBN | DARTS BN | +0.11 [-7.14, +7.36] not resolved | 16 |" in mean


def test_suite_file_declares_the_statistic(tmp_path: Path) -> None:
    assert load_suite(_write_suite(tmp_path, 'statistic = "median"')).plan.statistic == "median"
    assert load_suite(_write_suite(tmp_path, "")).plan.statistic == "mean"
    path = _write_suite(tmp_path, 'statistic = "trimmed"')
    with pytest.raises(UserInputError) as info:
        load_suite(path)
    assert str(info.value) == (f"{path}: comparison.statistic: unknown statistic for the paired "
                               "comparisons 'trimmed'; choose one of mean, median")


def test_a_median_row_of_five_seeds_says_it_has_no_interval() -> None:
    from robust_sabn.report.findings import MEDIAN, NOT_RESOLVED, Finding
    from robust_sabn.report.median_rows import median_finding, sign_test_power_text

    five = Finding(NAS_MEAN, "nx", "+3.00 [+1.00, +5.00]", "reproduced", "nx",
                   (1.0, 2.0, 3.0, 4.0, 5.0), " (61.00 vs 58.00 %, 5 seeds)")
    row = median_finding(five)
    assert row.verdict == NOT_RESOLVED and row.statistic == MEDIAN
    assert row.ours == ("median +3.00 [n = 5] not resolved (no 95 % sign-test interval: it "
                        "needs at least 6 seeds, 5 here) (61.00 vs 58.00 %, 5 seeds)")
    assert sign_test_power_text(row, 5.0) == "no sign test (fewer than 6 paired seeds)"


def _fewest_pairs_by_hand(p: float) -> int:
    """The smallest n whose sign test (largest k with 2 P(B <= k - 1) <= 0.05, B ~ Bin(n, 1/2))
    rejects with probability >= 0.8 when P(d > 0) = p, by direct binomial sums."""
    for n in range(1, 200):
        half = [math.comb(n, s) / 2 ** n for s in range(n + 1)]
        k = max((j for j in range(1, n + 1) if 2 * sum(half[:j]) <= 0.05), default=0)
        if k and _binomial_tail_power(p, n, k) >= 0.8:
            return n
    raise AssertionError("no n below 200")


def test_suite_plan_of_a_median_suite_sizes_the_sign_test(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`suite plan` follows the suite file's statistic: robust sd, the sign test's power now and
    the fewest pairs for 80 % power, no chi-square bound."""
    from npz_helpers import run_cli

    _write_records(tmp_path)
    suite = _write_suite(tmp_path, 'statistic = "median"')
    monkeypatch.setenv("COLUMNS", "400")
    differences = [100 * (_accuracy("saauxbn", s) - _accuracy("bn", s)) for s in SEEDS]
    sd = robust_sd(differences)  # 1.33 points
    for target, effect in (([], 5.0), (["--target", "1"], 1.0)):  # 6 and 25 pairs needed
        code, out, err = run_cli(["suite", "plan", str(suite), "--pilot",
                                  str(tmp_path / "records" / "nx"), *target], capsys,
                                 monkeypatch)
        assert code == 0, err
        assert "the median of the per-seed differences with the sign test" in " ".join(
            out.split())
        row = next(line for line in out.splitlines() if line.startswith("| nas-mean |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        p = 0.5 * (1 + math.erf(effect / sd / math.sqrt(2)))
        assert cells[2:] == ["16", f"{effect:g} points", f"{sd:.3g}",
                             f"{100 * _binomial_tail_power(p, 16, 4):.0f} %",
                             str(_fewest_pairs_by_hand(p)), "-", "-"]
