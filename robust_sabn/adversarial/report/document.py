"""Render a Markdown report (with PNG plots beside it) from result records.

Every number comes from evaluation and training records; nothing is typed by hand except the
paper's reported numbers (:mod:`robust_sabn.adversarial.report.paper`), which are labelled as such.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from robust_sabn.adversarial.report.baselines import baseline_note
from robust_sabn.adversarial.report.collect import (
    CLEAN,
    SHARED_BRANCH,
    ResultSet,
    collect_run_results,
)
from robust_sabn.adversarial.report.differences import differences_section
from robust_sabn.adversarial.report.gradient_balance import gradient_balance_section, has_balance
from robust_sabn.adversarial.report.overfitting import overfitting_section
from robust_sabn.adversarial.report.paired import per_example_section
from robust_sabn.adversarial.report.paper import paper_section
from robust_sabn.adversarial.report.plots import (
    has_curves,
    plot_gradient_balance,
    plot_robust_vs_eps,
    plot_training_curves,
)
from robust_sabn.adversarial.report.power import power_section
from robust_sabn.adversarial.report.tables import (
    Group,
    cascade_table,
    comparison_table,
    format_percent,
    group_runs,
    markdown_table,
    metric_label,
)
from robust_sabn.adversarial.report.timing import timing_section
from robust_sabn.errors import UserInputError
from robust_sabn.report.kit import format_duration, provenance_footer, warnings_section
from robust_sabn.units import format_eps

ROWS = ("norm", "branch")


@dataclass(frozen=True)
class ReportOptions:
    """What a report compares.

    Attributes:
        metrics: metrics to tabulate (``"clean"``, ``"pgd-20"``, ``"autoattack-standard"``, ...);
            ``None``: every metric in the records.
        branches: branch columns of the tables (``"clean"``, ``"adv"``); ``None``: all measured.
            A plain-BN model's single ``"shared"`` branch stands in every branch column.
        branch: the branch of the robust-vs-eps plot and the training curves.
        eps: the eps of the comparison tables; ``None``: the eps with the most measurements.
        rows: ``"norm"`` (one row per model group, one column per branch) or ``"branch"``.
        curve_metric: the metric plotted against eps; ``None``: the one measured at most eps.
        title: the report's heading; ``None``: the output file's name.
    """

    metrics: tuple[str, ...] | None = None
    branches: tuple[str, ...] | None = None
    branch: str = "adv"
    eps: float | None = None
    rows: str = "norm"
    curve_metric: str | None = None
    title: str | None = None

    def cli_arguments(self) -> list[str]:
        """The ``robust-sabn report`` options that reproduce these settings."""
        args: list[str] = []
        for metric in self.metrics or ():
            args += ["--metric", metric]
        for branch in self.branches or ():
            args += ["--branch", branch]
        if self.branch != "adv":
            args += ["--plot-branch", self.branch]
        if self.eps is not None:
            args += ["--eps", repr(self.eps)]
        if self.rows != "norm":
            args += ["--rows", self.rows]
        if self.curve_metric is not None:
            args += ["--curve-metric", self.curve_metric]
        if self.title is not None:
            args += ["--title", self.title]
        return args


@dataclass
class Report:
    """A rendered report: the Markdown file, its plots, and how many warnings it lists."""

    path: Path
    plots: list[Path] = field(default_factory=list)
    warnings: int = 0


def _main_eps(results: ResultSet, options: ReportOptions) -> float | None:
    if options.eps is not None:
        return options.eps
    counts: dict[float, int] = {}
    for run in results.runs:
        for _, _, eps in run.values:
            if eps is not None:
                counts[eps] = counts.get(eps, 0) + 1
    return max(sorted(counts), key=lambda e: counts[e]) if counts else None


def _table_branches(results: ResultSet, options: ReportOptions) -> list[str]:
    if options.branches:
        return list(options.branches)
    found = dict.fromkeys(b for run in results.runs for b in run.branches())
    named = [b for b in found if b != SHARED_BRANCH]
    return sorted(named, key=lambda b: (b != "clean", b != "adv", b)) or [SHARED_BRANCH]


def _curve_metric(results: ResultSet, metrics: Sequence[str], options: ReportOptions) -> str | None:
    if options.curve_metric is not None:
        return options.curve_metric
    robust = [m for m in metrics if m != CLEAN] + [m for m in results.metrics() if m != CLEAN]
    counts = {m: len(results.eps_values(m)) for m in dict.fromkeys(robust)}
    best = max(counts, key=lambda m: counts[m], default=None)
    return best if best is not None and counts[best] >= 2 else None


def _check_options(results: ResultSet, metrics: Sequence[str], options: ReportOptions) -> None:
    if options.rows not in ROWS:
        raise UserInputError(f"rows must be one of {', '.join(ROWS)}, got {options.rows!r}")
    measured = results.metrics()
    for metric in [*metrics, *([options.curve_metric] if options.curve_metric else [])]:
        if metric not in measured:
            raise UserInputError(
                f"metric {metric!r} is in no record; the records have {', '.join(measured)}"
            )


def _footer(results: ResultSet, command: str, suite_command: str | None) -> str:
    train = sum(run.train_time_s or 0.0 for run in results.runs)
    evaluate = sum(run.eval_time_s for run in results.runs)
    records = [record for run in results.runs for record in run.records]
    split = (f"Training {format_duration(train)} + evaluation {format_duration(evaluate)} "
             f"({format_duration(train + evaluate)})")
    return provenance_footer(records, command, suite_command, extra=[split])


def _warnings(results: ResultSet) -> list[str]:
    flags = [f"`{run.name}`, {branch} branch, eps {format_eps(eps)}: {flag}"
             for run in results.runs for branch, eps, flag in run.flags]
    return flags + list(results.warnings)


def _eps_table(groups: Sequence[Group], metric: str, branch: str,
               eps_values: Sequence[float]) -> str:
    header = ["model", *[f"eps {format_eps(e)}" for e in eps_values]]
    body = [[g.label, *[format_percent(g.values(branch, metric, e)) for e in eps_values]]
            for g in groups]
    return markdown_table(header, body)


def _runs_table(groups: Sequence[Group]) -> str:
    body = [[run.name, g.label, str(run.evaluations),
             "-" if run.train_time_s is None else format_duration(run.train_time_s),
             format_duration(run.eval_time_s)]
            for g in groups for run in g.runs]
    return markdown_table(["run", "model", "evaluations", "training time", "evaluation time"],
                          body)


def render_markdown(results: ResultSet, options: ReportOptions, *, plot_names: dict[str, str],
                    command: str, suite_command: str | None) -> str:
    """The report's Markdown text; ``plot_names`` maps ``"eps"``/``"training"``/
    ``"gradient_balance"`` to PNG names."""
    groups = group_runs(results)
    metrics = list(options.metrics or results.metrics())
    eps = _main_eps(results, options)
    branches = _table_branches(results, options)
    ours = [g for g in groups if not g.baseline]
    n_seeds = sorted({len(g.runs) for g in ours})
    n_examples = sorted({n for run in results.runs for (_, n) in run.values.values()})
    seeds = ("one seed per group (no std)" if n_seeds == [1] else
             f"mean ± sample std over {'/'.join(map(str, n_seeds))} seeds per group")
    title = options.title or "Report"
    out = [f"# {title}", ""]
    models = (f"{sum(len(g.runs) for g in ours)} trained models in {len(ours)} groups"
              if ours else "No trained models of ours")
    out.append(
        f"{models} ({', '.join(sorted({r.dataset for r in results.runs}))}). Accuracy in %"
        f"{f', {seeds}' if ours else ''}, on the first {'/'.join(map(str, n_examples))} test "
        "examples; best per branch in **bold**." + baseline_note(len(groups) - len(ours))
    )
    eps_text = "" if eps is None else f" at eps {format_eps(eps)}"
    out += ["", f"## Comparison{eps_text}", ""]
    for metric in metrics:
        out += [f"### {metric_label(metric)}", "",
                comparison_table(groups, branches, metric, eps, options.rows), ""]
    out += ["## Paper numbers", "", paper_section(groups, eps), ""]
    cascades = [(e, cascade_table(groups, e)) for e in sorted(
        {e for run in results.runs for (_, e) in run.cascades})]
    if cascades:
        out += ["## AutoAttack cascade", "",
                "Robust accuracy (%) after each attack of the cascade, mean ± std over seeds.",
                ""]
        for e, table in cascades:
            out += [f"eps {format_eps(e)}:", "", table or "", ""]
    if "eps" in plot_names:
        curve_metric = _curve_metric(results, metrics, options) or ""
        eps_values = results.eps_values(curve_metric)
        out += ["## Robust accuracy against eps", "",
                _eps_table(groups, curve_metric, options.branch, eps_values), "",
                f"![{metric_label(curve_metric)} against eps]({plot_names['eps']})", ""]
    if "training" in plot_names:
        out += ["## Training curves", "",
                "Train loss and per-epoch validation accuracy (clean and PGD) and PGD loss, "
                f"mean ± std over seeds, {options.branch} branch.", "",
                f"![training curves]({plot_names['training']})", ""]
        out += overfitting_section(groups, options.branch)
    out += gradient_balance_section(groups, plot_names.get("gradient_balance"))
    out += differences_section(groups, branches, metrics, eps)
    out += per_example_section(groups, branches, metrics, eps)
    out += power_section(results, metrics, branches, eps)
    out += timing_section(results)
    out += [warnings_section(_warnings(results), "None: no AutoAttack sanity check raised a "
                             "flag and every record was read."),
            "", "## Runs", "", _runs_table(groups), "", _footer(results, command, suite_command),
            ""]
    return "\n".join(out)


def render_report(results: Iterable[str | Path] | ResultSet, output: str | Path, *,
                  options: ReportOptions | None = None, command: str | None = None,
                  suite_command: str | None = None) -> Report:
    """Write ``output`` (Markdown) and its PNG plots beside it, from result records.

    Args:
        results: evaluation record files, run folders or suite folders (or a collected
            :class:`ResultSet`).
        output: the Markdown file to write; plots go to ``<stem>-robust-vs-eps.png`` and
            ``<stem>-training.png`` in the same folder.
        options: what to compare (see :class:`ReportOptions`).
        command: the command line that made the report, for the footer; default: the
            equivalent ``robust-sabn report`` command.
        suite_command: the suite command that produced the records, if any.

    Raises:
        UserInputError: no records, unreadable records, or options naming absent metrics.
    """
    options = options or ReportOptions()
    output = Path(output)
    if isinstance(results, ResultSet):
        result_set, sources = results, [str(p) for p in results.record_files]
    else:
        sources = [str(p) for p in results]
        result_set = collect_run_results(sources)
    metrics = list(options.metrics or result_set.metrics())
    _check_options(result_set, metrics, options)
    if command is None:
        command = shlex.join(["robust-sabn", "report", *sources, "-o", str(output),
                              *options.cli_arguments()])
    if options.title is None:
        options = replace(options, title=output.stem)
    output.parent.mkdir(parents=True, exist_ok=True)
    groups = group_runs(result_set)
    report = Report(path=output)
    plot_names: dict[str, str] = {}
    curve_metric = _curve_metric(result_set, metrics, options)
    if curve_metric is not None and len(result_set.eps_values(curve_metric)) >= 2:
        path = output.with_name(f"{output.stem}-robust-vs-eps.png")
        plot_robust_vs_eps(groups, curve_metric, options.branch,
                           result_set.eps_values(curve_metric), path)
        plot_names["eps"] = path.name
        report.plots.append(path)
    if has_curves(groups):
        path = output.with_name(f"{output.stem}-training.png")
        plot_training_curves(groups, options.branch, path)
        plot_names["training"] = path.name
        report.plots.append(path)
    if has_balance(groups):
        path = output.with_name(f"{output.stem}-gradient-balance.png")
        plot_gradient_balance(groups, path)
        plot_names["gradient_balance"] = path.name
        report.plots.append(path)
    text = render_markdown(result_set, options, plot_names=plot_names, command=command,
                           suite_command=suite_command)
    output.write_text(text)
    report.warnings = sum(len(run.flags) for run in result_set.runs) + len(result_set.warnings)
    return report
