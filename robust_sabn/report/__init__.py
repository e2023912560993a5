"""Reports: result records (JSON) -> Markdown tables and PNG plots.

Reads records only; never imports torch, the models, training or evaluation.

    >>> from robust_sabn.report import ReportOptions, render_report
    >>> render_report(["runs/adversarial-fmnist"], "reports/adversarial-fmnist.md",
    ...               options=ReportOptions(metrics=("clean", "pgd-20"), eps=0.1))
"""

from robust_sabn.report.collect import ResultSet, RunResults, collect_results, find_records
from robust_sabn.report.document import ROWS, Report, ReportOptions, render_report
from robust_sabn.report.paper import CITATION, PAPER_ROWS

__all__ = [
    "CITATION",
    "PAPER_ROWS",
    "ROWS",
    "Report",
    "ReportOptions",
    "ResultSet",
    "RunResults",
    "collect_results",
    "find_records",
    "render_report",
]
