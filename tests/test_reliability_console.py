"""Item 11 of issue 13: what the CLI prints does not depend on the terminal's width or on
the length of the paths it names (rich wrapped lines at ``COLUMNS`` or 80 columns)."""

from __future__ import annotations

from pathlib import Path

import pytest
from npz_helpers import run_cli
from rich.table import Table

from robust_sabn.cli.console import output_console

FIXTURES = Path(__file__).parent / "fixtures" / "report" / "suite"


def _run(args: list[str], capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch, columns: str) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", columns)
    return run_cli(args, capsys, monkeypatch)


@pytest.mark.parametrize("columns", ["20", "80"])
def test_report_line_is_one_line_whatever_the_width_and_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        columns: str) -> None:
    output = tmp_path / ("a-rather-long-folder-name-" * 4) / "report.md"
    args = ["report", str(FIXTURES), "-o", str(output), "--metric", "clean", "--eps", "0.1"]
    code, out, err = _run(args, capsys, monkeypatch, columns)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("report:")]
    assert len(lines) == 1, out
    assert lines[0].startswith(f"report: {output} (") and lines[0].endswith(")")


def test_error_line_keeps_a_long_path_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / ("some-file-that-blocks-the-way-" * 3)
    blocker.write_text("not a folder")
    code, out, err = _run(["train", "--out", str(blocker / "run")], capsys, monkeypatch, "20")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(blocker) in err


def test_tables_off_a_terminal_keep_one_line_per_row(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    table = Table("checkpoint", "accuracy")
    long_path = "/".join(["runs", "a-long-suite-name", "saauxbn-seed0", "best.pt"])
    table.add_row(long_path, "49.80 %")
    output_console().print(table)
    rows = [line for line in capsys.readouterr().out.splitlines() if long_path in line]
    assert len(rows) == 1 and "49.80 %" in rows[0]
