"""Every committed report equals its re-rendering from the committed records, so a stale page
fails here; `suite export-records` writes records without checkpoints that re-render the
suite's report; two records of one result are refused naming both files.

A committed report whose records were never committed must say so on its first line
(:data:`robust_sabn.suites.export.NOT_REDERIVABLE`); once ``records/<suite>/`` exists the page
must equal its re-rendering.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_gates import suite_file, write_runs

from robust_sabn.errors import UserInputError
from robust_sabn.report import render_records
from robust_sabn.report.claims import claims_markdown, write_claims
from robust_sabn.suites import load_suite
from robust_sabn.suites.export import NOT_REDERIVABLE, export_records, render_from_records
from robust_sabn.suites.tasks import Suite, get_task

REPO = Path(__file__).resolve().parents[1]
CLAIMS = "claims.md"


def _suites_by_report(root: Path) -> dict[str, Suite]:
    """``reports/<name>.md`` -> the suite of ``root/suites`` that renders it."""
    suites = (load_suite(p) for p in sorted((root / "suites").glob("*.toml")))
    return {get_task(s.task).report_path(s).as_posix(): s for s in suites}


def _rerender(root: Path, report: str, scratch: Path) -> str:
    """The re-rendering of ``root/reports/<report>`` from ``root/records``, made in ``scratch``
    with the paths a committed page prints (``records/...``, ``reports/...``)."""
    scratch.mkdir(parents=True, exist_ok=True)
    for name in ("records", "suites"):
        (scratch / name).symlink_to(root / name)
    here = Path.cwd()
    os.chdir(scratch)
    try:
        output = Path("reports") / report
        if report == CLAIMS:
            return claims_markdown([Path("records")], output, suites_dir=Path("suites"))
        suite = _suites_by_report(Path("."))[output.as_posix()]
        return render_from_records(suite, Path("records"), output).read_text()
    finally:
        os.chdir(here)


def _problem(root: Path, report: str, scratch: Path) -> str | None:
    """Why ``root/reports/<report>`` is not its re-rendering from ``root/records``, or None."""
    text = (root / "reports" / report).read_text()
    if report != CLAIMS:
        suite = _suites_by_report(root).get(f"reports/{report}")
        if suite is None:
            return (f"reports/{report}: no suite file in suites/ renders it; delete it or "
                    "restore its suite")
        if not (root / "records" / suite.name).is_dir():
            if text.startswith(NOT_REDERIVABLE):
                return None
            return (f"reports/{report} has no committed records (records/{suite.name}/ is "
                    f"missing): run `robust-sabn suite export-records {suite.name}` and commit "
                    "records/ with the report")
    elif not (root / "records").is_dir():
        return None if text.startswith(NOT_REDERIVABLE) else (
            "reports/claims.md has no committed records (records/ is missing)")
    if _rerender(root, report, scratch) != text:
        what = "robust-sabn claims -o reports/claims.md" if report == CLAIMS else \
            "robust-sabn suite export-records <suite>"
        return f"reports/{report} is stale: it differs from its re-rendering; run `{what}`"
    return None


@pytest.mark.parametrize("report", sorted(p.name for p in (REPO / "reports").glob("*.md")))
def test_committed_report_is_its_rerendering(report: str, tmp_path: Path) -> None:
    problem = _problem(REPO, report, tmp_path)
    assert problem is None, problem


def _repository(tmp_path: Path) -> Path:
    """A repository-like folder: suites/gx.toml, runs/gx (the gates fixture, with a
    checkpoint), records/gx exported and reports/gx.md and claims.md rendered from them."""
    root = tmp_path / "repo"
    suite = load_suite(suite_file(root / "suites"))
    write_runs(root / "runs")
    (root / "runs" / "gx" / "bn-seed0" / "last.pt").write_bytes(b"weights")
    here = Path.cwd()
    os.chdir(root)
    try:
        export_records(suite, Path("runs/gx"), Path("records"))
        render_from_records(suite, Path("records"), Path("reports/gx.md"))
        write_claims([Path("records")], Path("reports/claims.md"), suites_dir=Path("suites"))
    finally:
        os.chdir(here)
    return root


def test_export_keeps_records_and_drops_checkpoints(tmp_path: Path) -> None:
    root = _repository(tmp_path)
    run = root / "records" / "gx" / "bn-seed0"
    assert sorted(p.name for p in run.iterdir()) == [
        "eval-clean-eps0.1.json", "metrics.jsonl", "train_record.json"]
    source = root / "runs" / "gx" / "bn-seed0" / "metrics.jsonl"
    assert (run / "metrics.jsonl").read_bytes() == source.read_bytes()
    text = (root / "reports" / "gx.md").read_text()
    assert "robust-sabn report records/gx -o reports/gx.md" in text
    assert "- Suite command: `robust-sabn suite run gx`" in text
    # a second export replaces the folder: a record gone from the runs leaves the export too
    (root / "runs" / "gx" / "bn-seed0" / "eval-clean-eps0.1.json").unlink()
    export_records(load_suite(root / "suites" / "gx.toml"), root / "runs" / "gx",
                   root / "records")
    assert not (run / "eval-clean-eps0.1.json").exists()


@pytest.mark.parametrize("report", ["gx.md", CLAIMS])
def test_rerender_check_passes_fresh_pages_and_fails_stale_ones(tmp_path: Path,
                                                                report: str) -> None:
    root = _repository(tmp_path)
    assert _problem(root, report, tmp_path / "a") is None
    record = root / "records" / "gx" / "auxbn-seed1" / "eval-clean-eps0.1.json"
    record.write_text(record.read_text().replace('"value": 0.88', '"value": 0.5'))
    assert _problem(root, report, tmp_path / "b") == (
        f"reports/{report} is stale: it differs from its re-rendering; run `"
        + ("robust-sabn claims -o reports/claims.md`" if report == CLAIMS
           else "robust-sabn suite export-records <suite>`"))


def test_report_without_records_must_say_so(tmp_path: Path) -> None:
    root = _repository(tmp_path)
    shutil.rmtree(root / "records" / "gx")
    assert _problem(root, "gx.md", tmp_path / "a") == (
        "reports/gx.md has no committed records (records/gx/ is missing): run `robust-sabn "
        "suite export-records gx` and commit records/ with the report")
    page = root / "reports" / "gx.md"
    page.write_text(NOT_REDERIVABLE + "\n\n" + page.read_text())
    assert _problem(root, "gx.md", tmp_path / "b") is None


def test_a_duplicate_record_is_an_error_naming_both_files(tmp_path: Path) -> None:
    write_runs(tmp_path / "runs")
    stale = tmp_path / "old" / "gx" / "auxbn-seed1"
    shutil.copytree(tmp_path / "runs" / "gx" / "auxbn-seed1", stale)
    first = tmp_path / "old" / "gx" / "auxbn-seed1" / "eval-clean-eps0.1.json"
    second = tmp_path / "runs" / "gx" / "auxbn-seed1" / "eval-clean-eps0.1.json"
    expected = (f"two adversarial evaluation records of suite gx, arm auxbn-seed1: "
                f"{first} and {second}; delete the stale one")
    with pytest.raises(UserInputError) as error:
        write_claims([tmp_path / "old", tmp_path / "runs"], tmp_path / "claims.md")
    assert str(error.value).startswith(expected)
    with pytest.raises(UserInputError) as error:
        render_records([tmp_path / "old", tmp_path / "runs"], tmp_path / "gx.md")
    assert str(error.value).startswith(expected)
