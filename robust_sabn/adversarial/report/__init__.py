"""The adversarial benchmark's report: per-branch accuracy tables, the AutoAttack cascade,
robust accuracy against eps, training curves, paired differences with confidence intervals.

Reads records only (through :mod:`robust_sabn.artifacts.result`); never imports torch.

    >>> from robust_sabn.adversarial.report import ReportOptions, render_report
    >>> render_report(["runs/adversarial-fmnist"], "reports/adversarial-fmnist.md",
    ...               options=ReportOptions(metrics=("clean", "pgd-20"), eps=0.1))
"""

from robust_sabn.adversarial.report.collect import (
    ResultSet,
    RunResults,
    collect_run_results,
    find_records,
)
from robust_sabn.adversarial.report.document import ROWS, Report, ReportOptions, render_report
from robust_sabn.adversarial.report.paper import CITATION, PAPER_ROWS

__all__ = [
    "CITATION",
    "PAPER_ROWS",
    "ROWS",
    "Report",
    "ReportOptions",
    "ResultSet",
    "RunResults",
    "collect_run_results",
    "find_records",
    "render_report",
]
