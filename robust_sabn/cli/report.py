"""``robust-sabn report``: Markdown tables and PNG plots from result records."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import output_file


def report_command(
    results: Annotated[list[Path], typer.Argument(
        help="Result records (.json) of one task, or run/suite folders holding them.")],
    output: Annotated[Path, output_file("Markdown file to write; plots go beside it.")],
    metric: Annotated[list[str] | None, typer.Option(
        help="Metric to tabulate (repeat): clean, pgd-20, autoattack-standard ...; "
             "default: all.")] = None,
    branch: Annotated[list[str] | None, typer.Option(
        help="Branch column (repeat): clean, adv; default: all measured.")] = None,
    plot_branch: Annotated[str, typer.Option(
        help="Branch of the robust-vs-eps plot and training curves.")] = "adv",
    eps: Annotated[str | None, typer.Option(
        help="eps of the comparison tables (0.1, 8/255); default: the most measured.")] = None,
    rows: Annotated[str, typer.Option(
        help="norm (a row per model group) or branch (a row per branch).")] = "norm",
    curve_metric: Annotated[str | None, typer.Option(
        help="Metric plotted against eps; default: the one measured at most eps.")] = None,
    title: Annotated[str | None, typer.Option(help="Report heading.")] = None,
) -> None:
    """Render a comparison report from result records of any task (the records' task picks the
    renderer); the options below are the adversarial report's."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.evaluate import check_eps
    from robust_sabn.report import render_records
    from robust_sabn.units import parse_eps

    check_output_file(output, option="-o")

    given = {"metrics": tuple(metric) if metric else None,
             "branches": tuple(branch) if branch else None,
             "branch": plot_branch if plot_branch != "adv" else None,
             "eps": check_eps(parse_eps(eps)) if eps is not None else None,
             "rows": rows if rows != "norm" else None, "curve_metric": curve_metric,
             "title": title}
    options = {key: value for key, value in given.items() if value is not None}
    command = shlex.join(["robust-sabn", *sys.argv[1:]])
    path, warnings = render_records(results, output, options=options, command=command)
    output_console().print(f"report: {path} ({len(warnings)} unreadable records skipped; see "
                           "its Warnings section)", highlight=False)
