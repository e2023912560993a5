"""`suite plan` sizes for 80 % power at alpha = 0.05, checked against statsmodels' textbook
power of the paired (one-sample) t-test, and says when it clips a seed variance to 0.

The textbook anchor: for a standardized effect d = 1 the two-sided one-sample t-test at
alpha = 0.05 needs n = 10 pairs for 80 % power (power 0.8031 at n = 10; G*Power gives the same).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from npz_helpers import run_cli
from statsmodels.stats.power import TTestPower
from test_claims import FX_SUITE, write_adversarial_fixture

from robust_sabn.report.power import (
    Noise,
    effect_for_power,
    estimate_noise,
    examples_needed,
    paired_t_power,
    pairs_for_power,
    seed_sd,
    seeds_needed,
)

TEXTBOOK = TTestPower()


@pytest.mark.parametrize(("effect", "sd", "n"), [(1.0, 1.0, 10), (0.5, 1.0, 34), (3.0, 2.0, 5),
                                                 (0.02, 0.011, 3), (1.0, 4.0, 2)])
def test_power_is_the_textbook_paired_t_power(effect: float, sd: float, n: int) -> None:
    expected = TEXTBOOK.power(effect_size=effect / sd, nobs=n, alpha=0.05,
                              alternative="two-sided")
    assert paired_t_power(effect, sd, n) == pytest.approx(expected, abs=1e-9)
    assert paired_t_power(-effect, sd, n) == pytest.approx(expected, abs=1e-9)


def test_textbook_anchor() -> None:
    assert paired_t_power(1.0, 1.0, 10) == pytest.approx(0.8031, abs=1e-4)
    assert pairs_for_power(1.0, 1.0) == 10


@pytest.mark.parametrize("d", [0.3, 0.5, 0.8, 1.2, 2.0])
def test_pairs_for_80_percent_power_match_statsmodels(d: float) -> None:
    n = TEXTBOOK.solve_power(effect_size=d, power=0.8, alpha=0.05, alternative="two-sided")
    assert pairs_for_power(2.0 * d, 2.0) == math.ceil(n)
    # the effect detected with 80 % power at that n: statsmodels' power there is 0.8 (and its
    # own solver, which stops at a looser tolerance, agrees to 1e-4)
    effect = effect_for_power(2.0, math.ceil(n))
    assert TEXTBOOK.power(effect_size=effect / 2.0, nobs=math.ceil(n), alpha=0.05
                          ) == pytest.approx(0.8, abs=1e-8)
    solved = TEXTBOOK.solve_power(nobs=math.ceil(n), power=0.8, alpha=0.05)
    assert effect == pytest.approx(2.0 * solved, rel=1e-4)


def test_suite_sizes_reach_80_percent_power_and_no_less() -> None:
    noise = Noise(seed_var=0.0001, example_var=0.1, seeds=5, examples=5000)
    target = 0.01  # 1 point
    seeds = seeds_needed(noise, target, 5000)
    d = target / math.sqrt(0.0001 + 0.1 / 5000)
    assert seeds == math.ceil(TEXTBOOK.solve_power(effect_size=d, power=0.8, alpha=0.05))
    points = examples_needed(noise, target, 10)
    assert points is not None
    assert paired_t_power(target, seed_sd(noise, points), 10) >= 0.8
    assert paired_t_power(target, seed_sd(noise, points - 1), 10) < 0.8
    # the old sizing (95 % half-width = target) gives about half the power
    assert paired_t_power(target, seed_sd(noise, 5000), seeds) >= 0.8
    # seed-to-seed noise alone too large at 3 seeds: no number of points helps
    assert examples_needed(Noise(0.01, 0.1, 3, 100), target, 3) is None
    assert seeds_needed(Noise(1.0, 0.1, 3, 100), 1e-4, 100) is None


def test_a_clipped_seed_variance_is_flagged() -> None:
    # observed spread of the per-seed differences (var 1e-4) below the test-sample part
    # (example_var 0.5 over 100 points = 5e-3): seed_var is clipped to 0 and says so
    noise = estimate_noise([0.01, 0.02, 0.03], 100, accuracies=(0.5, 0.5))
    assert noise.clipped and noise.seed_var == 0.0
    assert noise.observed_var == pytest.approx(1e-4)
    assert not estimate_noise([0.0, 0.3, 0.6], 100, accuracies=(0.5, 0.5)).clipped


def test_suite_plan_states_power_alpha_and_clipping(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "pilot"
    write_adversarial_fixture(runs)
    suite_file = tmp_path / "fx.toml"
    suite_file.write_text(FX_SUITE)
    monkeypatch.setenv("COLUMNS", "400")
    code, out, err = run_cli(["suite", "plan", str(suite_file), "--pilot", str(runs / "fx"),
                              "--target", "2"], capsys, monkeypatch)
    assert code == 0, err
    text = " ".join(out.split())
    assert ("Sized for 80 % power at alpha = 0.05 (two-sided paired t-test over seeds) to "
            "detect a true difference of 2 points") in text
    # AuxBN minus BN clean: the same difference in every seed, so the observed spread is 0
    assert "Seed variance clipped to 0" in text and "Clean accuracy AuxBN - BN (clean)" in text
    assert "0 (clipped: observed sd 0.00 is below the test-sample sd)" in text
    code, _, err = run_cli(["suite", "plan", str(suite_file), "--pilot",
                            str(tmp_path / "nowhere")], capsys, monkeypatch)
    assert code == 2 and "--pilot" in err and "no such folder" in err
