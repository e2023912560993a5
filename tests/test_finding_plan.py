"""`suite plan` for the tasks planned from the claims page's findings (NAS here): the spread of
the per-seed differences, the paired t-test's power and seeds (statsmodels' textbook power), and
the seeds at the spread's chi-square upper confidence bound (closed form for 2 degrees of
freedom: chi2.ppf(0.2, 2) = -2 ln 0.8)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from npz_helpers import run_cli
from statsmodels.stats.power import TTestPower
from test_nas_claims import _records

from robust_sabn.nas.claims import nas_findings
from robust_sabn.report.finding_plan import plan_rows, sd_upper_bound

SUITE = Path(__file__).resolve().parents[1] / "suites" / "nas-fmnist-confirm.toml"
TEXTBOOK = TTestPower()


def test_sd_upper_bound_is_the_chi_square_bound() -> None:
    assert sd_upper_bound(1.0, 3) == pytest.approx(math.sqrt(2 / (-2 * math.log(0.8))))
    assert sd_upper_bound(2.0, 3) == pytest.approx(2 * sd_upper_bound(1.0, 3))
    assert sd_upper_bound(1.0, 1000) == pytest.approx(1.0, abs=0.05)  # many seeds: tight
    assert sd_upper_bound(1.0, 1) == math.inf


def test_plan_rows_size_each_claim_for_its_effect(tmp_path: Path) -> None:
    # SaAuxBN - BN: +25, +24, +23 points (sd 1); SaAuxBN - BN+affine: +5, +5, +4 (sd 0.577)
    findings = [f for f in nas_findings(_records(tmp_path)) if f.suite == "nx"]
    rows = {r.finding.claim.key: r for r in plan_rows(findings, {"nas-mean": 1.0}, 0.5)}
    assert set(rows) == {"nas-mean", "nas-mean-affine"}  # the spread row has no pairs
    mean, affine = rows["nas-mean"], rows["nas-mean-affine"]
    assert (mean.effect, mean.sd) == (1.0, pytest.approx(1.0))
    assert mean.power_now == pytest.approx(TEXTBOOK.power(1.0, 3, 0.05))
    assert mean.seeds == math.ceil(TEXTBOOK.solve_power(1.0, power=0.8, alpha=0.05)) == 10
    upper = math.sqrt(2 / (-2 * math.log(0.8)))
    assert mean.sd_upper == pytest.approx(upper)
    assert mean.seeds_upper == math.ceil(TEXTBOOK.solve_power(1.0 / upper, power=0.8,
                                                              alpha=0.05))
    # no effect stated for the affine row: the default effect
    d = 0.5 / math.sqrt(1 / 3)
    assert affine.effect == 0.5 and affine.sd == pytest.approx(math.sqrt(1 / 3))
    assert affine.seeds == math.ceil(TEXTBOOK.solve_power(d, power=0.8, alpha=0.05))


def test_suite_plan_of_a_nas_suite_from_a_pilot(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _records(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    code, out, err = run_cli(["suite", "plan", str(SUITE), "--pilot", str(tmp_path / "nx")],
                             capsys, monkeypatch)
    assert code == 0, err
    text = " ".join(out.split())
    assert "paired t-test over seeds, two-sided, alpha = 0.05, 80 % power" in text
    # the suite file states 5 points for both claims; sd 1 at 3 seeds
    row = next(line for line in out.splitlines() if line.startswith("| nas-mean |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["3", "5 points", "1"]
    assert cells[5] == f"{100 * TEXTBOOK.power(5.0, 3, 0.05):.0f} %"
    assert cells[6] == str(math.ceil(TEXTBOOK.solve_power(5.0, power=0.8, alpha=0.05))) == "3"
    assert cells[7] == "2.12"
    code, out, err = run_cli(["suite", "plan", str(SUITE), "--pilot", str(tmp_path / "nx"),
                              "--target", "1"], capsys, monkeypatch)
    row = next(line for line in out.splitlines() if line.startswith("| nas-mean |"))
    assert code == 0 and [c.strip() for c in row.strip("|").split("|")][3] == "1 points"


def test_suite_plan_without_runs_says_what_to_run(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["suite", "plan", str(SUITE), "--out", str(tmp_path)],
                           capsys, monkeypatch)
    assert code == 2
    assert "has no finished runs in" in err and "robust-sabn suite run nas-fmnist-confirm" in err
    (tmp_path / "one").mkdir()
    code, out, _ = run_cli(["suite", "plan", str(SUITE), "--pilot", str(tmp_path / "one")],
                           capsys, monkeypatch)
    assert code == 0 and "has two paired seeds" in " ".join(out.split())
