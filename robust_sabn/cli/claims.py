"""``robust-sabn claims``: the paper's claims page from every suite's result records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import output_file


def claims_command(
    results: Annotated[list[Path] | None, typer.Argument(
        help="Folders (or record files) to read every task's records from; default: records "
             "(the committed records, `robust-sabn suite export-records`).")
    ] = None,
    output: Annotated[Path, output_file("Markdown file to write.")] = Path("reports/claims.md"),
) -> None:
    """One row per claim of the paper and setup: the paper's number, ours with its 95 % CI,
    the suite's validity gates, the power, and a verdict (reproduced / not resolved /
    contradicted / not testable at this scale / not run)."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.report.claims import write_claims

    check_output_file(output, option="-o")
    path = write_claims(results or [Path("records")], output)
    output_console().print(f"claims: {path}", highlight=False)
