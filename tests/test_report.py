"""Reports: rendered from fixture records with known numbers (tests/fixtures/report/suite).

Fixture values (accuracy fractions): BN seeds 0/1 clean 0.80/0.83, PGD-20 at eps 0.1
0.40/0.43, AutoAttack 0.36/0.39; SaAuxBN seeds 0/1 clean branch 0.90/0.92, adversarial branch
clean 0.78/0.80, PGD-20 0.45/0.47, AutoAttack 0.40/0.42; one AutoAttack flag on saauxbn-seed1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from robust_sabn.adversarial.report import (
    PAPER_ROWS,
    ReportOptions,
    collect_run_results,
    render_report,
)
from robust_sabn.adversarial.report.collect import ResultSet, RunResults
from robust_sabn.adversarial.report.tables import format_percent, group_runs
from robust_sabn.cli.report import report_command
from robust_sabn.errors import UserInputError
from robust_sabn.report import render_records
from robust_sabn.report.kit import bold_best, mean_std

FIXTURES = Path(__file__).parent / "fixtures" / "report" / "suite"


def test_mean_std_and_percent_strings() -> None:
    mean, std = mean_std([0.80, 0.83])
    assert mean == pytest.approx(0.815) and std == pytest.approx(0.0212132, rel=1e-5)
    assert format_percent([0.80, 0.83]) == "81.50 ± 2.12"
    assert format_percent([0.5]) == "50.00"
    assert format_percent([]) == "-"
    assert bold_best([[0.4, 0.42], [0.45, 0.47], []], scale=100) == [
        "41.00 ± 1.41", "**46.00 ± 1.41**", "-"]
    assert bold_best([[0.5], [0.5]], scale=100) == ["50.00", "50.00"]


def test_groups_follow_the_papers_norm_order_not_the_alphabet_or_the_input() -> None:
    runs = [RunResults(key=norm, name=norm, dataset="d", model="m", norm=norm)
            for norm in ("saauxbn", "auxbn", "bn", "sabn", "ccbn")]
    groups = group_runs(ResultSet(runs=runs, record_files=[]))
    assert [group.label for group in groups] == ["BN", "CCBN", "SaBN", "AuxBN", "SaAuxBN"]


def test_report_from_fixture_records(tmp_path: Path) -> None:
    output = tmp_path / "out" / "fixture.md"
    report = render_report([FIXTURES], output, options=ReportOptions(eps=0.1))
    text = output.read_text()
    # comparison tables: mean ± std over the two seeds, best per branch in bold
    assert "| BN | 81.50 ± 2.12 | **81.50 ± 2.12** |" in text
    assert "| SaAuxBN | **91.00 ± 1.41** | 79.00 ± 1.41 |" in text
    assert "| BN | **41.50 ± 2.12** | 41.50 ± 2.12 |" in text
    assert "| SaAuxBN | 6.00 ± 1.41 | **46.00 ± 1.41** |" in text
    assert "| SaAuxBN | - | **41.00 ± 1.41** |" in text
    assert text.index("### Clean accuracy") < text.index("### PGD-20") < text.index(
        "### AutoAttack (standard)")
    # AutoAttack cascade: mean per stage
    assert "| BN | shared | 81.50 ± 2.12 | 39.00 ± 1.41 | 37.50 ± 2.12 |" in text
    assert "| SaAuxBN | adv | 79.00 ± 1.41 | 43.00 ± 1.41 | 41.00 ± 1.41 |" in text
    # robust accuracy against eps
    assert "| BN | 61.00 ± 1.41 | 41.50 ± 2.12 |" in text
    assert "No paper numbers exist for this setup (fashion-mnist)" in text
    # warnings, with the run they came from
    assert report.warnings == 1
    assert ("- `saauxbn-seed1`, adv branch, eps 0.1: Robust accuracy at step 0 exceeds clean "
            "accuracy: possible gradient masking") in text
    # footer: command, versions, hardware, wall time = 2630 s training + 160 s evaluation
    assert f"- Report command: `robust-sabn report {FIXTURES} -o {output} --eps 0.1`" in text
    assert "torch 2.4.1" in text and "cpu_count 2" in text
    assert "- Training 43m 50s + evaluation 2m 40s (46m 30s)" in text
    # plots beside the Markdown, linked from it
    names = sorted(p.name for p in report.plots)
    assert names == ["fixture-robust-vs-eps.png", "fixture-training.png"]
    for plot in report.plots:
        assert plot.parent == output.parent
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000
        assert f"]({plot.name})" in text


def test_rows_by_branch_and_single_files(tmp_path: Path) -> None:
    files = sorted(FIXTURES.glob("*/eval-*.json"))
    options = ReportOptions(metrics=("clean",), branches=("clean", "adv"), rows="branch",
                            title="by branch")
    render_report(files, tmp_path / "r.md", options=options)
    text = (tmp_path / "r.md").read_text()
    assert text.startswith("# by branch\n")
    assert "| branch | BN | SaAuxBN |" in text
    assert "| clean | 81.50 ± 2.12 | **91.00 ± 1.41** |" in text
    assert "| adv | **81.50 ± 2.12** | 79.00 ± 1.41 |" in text
    assert "### PGD-20" not in text
    # single record files still find their run folders (training curves, training time)
    assert (tmp_path / "r-training.png").is_file()


def paper_setup_records(tmp_path: Path) -> Path:
    """The fixture records rewritten as the paper's setup (CIFAR-10, PreAct ResNet-18, 8/255)."""
    root = tmp_path / "cifar"
    shutil.copytree(FIXTURES, root)
    for path in root.glob("*/eval-*.json"):
        if "eps0.05" in path.name:
            path.unlink()
            continue
        record = json.loads(path.read_text())
        record["dataset"] = "cifar10"
        record["eps"] = 8 / 255
        record["model"] = {**record["model"], "name": "preact_resnet18", "kwargs": {}}
        for branch in record["branches"].values():
            robust = branch["robust_accuracy"]
            if "pgd-20" in robust:
                robust["pgd-10"] = robust["pgd-20"] + 0.01
        path.write_text(json.dumps(record))
    return root


def test_paper_numbers_beside_ours_when_the_setup_matches(tmp_path: Path) -> None:
    render_report([paper_setup_records(tmp_path)], tmp_path / "p.md")
    text = (tmp_path / "p.md").read_text()
    assert "| evaluation | BN (ours) | BN (paper) | SaAuxBN (ours) | SaAuxBN (paper) |" in text
    assert "| clean, clean branch | 81.50 ± 2.12 | 84.84 | 91.00 ± 1.41 | 94.62 |" in text
    assert "| PGD-10, adversarial branch | 42.50 ± 2.12 | 41.57 | 47.00 ± 1.41 | 44.93 |" in text
    assert "| PGD-20, adversarial branch | 41.50 ± 2.12 | 40.02 | 46.00 ± 1.41 | 43.14 |" in text
    assert "arXiv:2102.11382" in text
    assert len(PAPER_ROWS) == 4
    # only one eps: no robust-vs-eps plot
    assert not (tmp_path / "p-robust-vs-eps.png").exists()


def test_bad_inputs_raise_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such file or folder"):
        render_report([tmp_path / "missing"], tmp_path / "r.md")
    with pytest.raises(UserInputError, match="is not an adversarial evaluation record"):
        render_report([FIXTURES / "bn-seed0" / "train_record.json"], tmp_path / "r.md")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no evaluation records found"):
        render_report([tmp_path / "empty"], tmp_path / "r.md")
    with pytest.raises(UserInputError, match="metric 'pgd-7' is in no record; the records have "
                                             "clean, pgd-20, autoattack-standard"):
        render_report([FIXTURES], tmp_path / "r.md", options=ReportOptions(metrics=("pgd-7",)))


def test_collect_groups_evaluations_per_run() -> None:
    results = collect_run_results([FIXTURES])
    assert sorted(run.name for run in results.runs) == ["bn-seed0", "bn-seed1", "saauxbn-seed0",
                                                        "saauxbn-seed1"]
    run = next(r for r in results.runs if r.name == "saauxbn-seed0")
    assert run.evaluations == 3 and run.train_time_s == 700.0
    assert run.value("adv", "pgd-20", 0.05) == 0.65
    assert run.value("clean", "clean", None) == 0.90
    assert results.eps_values("pgd-20") == [0.05, 0.1]


def test_report_module_does_not_import_torch() -> None:
    code = ("import sys, robust_sabn.report; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(("
            "'robust_sabn.train', 'robust_sabn.evaluate', 'robust_sabn.models'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_cli_writes_the_report_with_its_command(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    app.command()(report_command)
    output = tmp_path / "cli.md"
    args = [str(FIXTURES), "-o", str(output), "--metric", "clean", "--eps", "0.1"]
    monkeypatch.setattr(sys, "argv", ["robust-sabn", "report", *args])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()) == (
        f"report: {output} (0 unreadable records skipped; see its Warnings section)")
    text = output.read_text()
    assert f"- Report command: `robust-sabn report {FIXTURES} -o {output} --metric clean --eps " \
           "0.1`" in text
    assert "### PGD-20" not in text and "| BN | 81.50 ± 2.12 |" in text


def test_report_shows_paired_differences_with_confidence_intervals(tmp_path: Path) -> None:
    render_report([FIXTURES], tmp_path / "d.md")
    text = (tmp_path / "d.md").read_text()
    assert "## Differences with 95 % confidence intervals" in text
    # seeds 0/1: SaAuxBN 0.90/0.92 vs BN 0.80/0.83 -> differences 10 and 9 points, mean 9.5,
    # sd 0.7071, t(0.975, 1) = 12.706 -> half-width 12.706 * 0.7071 / sqrt(2) = 6.35
    assert "| Clean accuracy | clean | SaAuxBN | BN | +9.50 [+3.15, +15.85] | 2 |" in text
    assert "| PGD-20 | adv | SaAuxBN | BN | +4.50 [-1.85, +10.85] not resolved | 2 |" in text
    # the clean branch of SaAuxBN was not attacked by AutoAttack: no row
    assert "| AutoAttack (standard) | clean |" not in text


def test_a_corrupt_record_among_valid_ones_is_named_in_the_warnings(tmp_path: Path) -> None:
    root = tmp_path / "suite"
    shutil.copytree(FIXTURES, root)
    torn = root / "bn-seed1" / "eval-pgd-eps0.05.json"
    torn.write_text(torn.read_text()[:200])  # a writer killed mid-file (not ours: atomic)
    path, warnings = render_records([root], tmp_path / "w.md")
    text = path.read_text()
    assert len(warnings) == 1 and str(torn) in warnings[0]
    assert f"- skipped {torn} is not valid JSON" in text
    # everything else is still reported: BN's clean accuracy over both seeds
    assert "| BN | 81.50 ± 2.12 |" in text
