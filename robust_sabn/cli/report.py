"""``robust-sabn report``: Markdown tables and PNG plots from result records."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from robust_sabn.cli.console import output_console


def report_command(
    results: Annotated[list[Path], typer.Argument(
        help="Evaluation records (.json), run folders or suite folders holding them.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Markdown file to write; plots go beside it.")],
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
    """Render a comparison report (mean ± std over seeds) from evaluation records."""
    from robust_sabn.report import ReportOptions, render_report
    from robust_sabn.units import parse_eps

    options = ReportOptions(
        metrics=tuple(metric) if metric else None, branches=tuple(branch) if branch else None,
        branch=plot_branch, eps=parse_eps(eps) if eps is not None else None, rows=rows,
        curve_metric=curve_metric, title=title,
    )
    command = shlex.join(["robust-sabn", *sys.argv[1:]])
    report = render_report(results, output, options=options, command=command)
    plots = ", ".join(str(p) for p in report.plots) or "none"
    output_console().print(f"report: {report.path} (plots: {plots}; {report.warnings} AutoAttack "
                    "warnings)", highlight=False)
