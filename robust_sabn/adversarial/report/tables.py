"""Groups of runs, mean ± std over seeds, and Markdown tables with the best value in bold.

Values are accuracies as fractions in [0, 1]; they are shown as percent with 2 decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from robust_sabn.adversarial.report.collect import CLEAN, ResultSet, RunResults
from robust_sabn.report.kit import bold_best, format_mean_std, markdown_table
from robust_sabn.vocabulary import NORM_KINDS, norm_label

# Order of the normalization kinds in tables: the paper's BN, AuxBN, SaAuxBN order, with the
# other members of the family between.
NORM_ORDER = NORM_KINDS


@dataclass
class Group:
    """Runs that differ only by seed: one row (or column) of a comparison table; a RobustBench
    baseline is a group of its own (``baseline`` True, one run)."""

    label: str
    norm: str | None
    runs: list[RunResults]
    baseline: bool = False

    def values(self, branch: str, metric: str, eps: float | None) -> list[float]:
        """The measured values of every run in the group (runs without one are left out)."""
        found = (run.value(branch, metric, eps) for run in self.runs)
        return [v for v in found if v is not None]


def group_runs(results: ResultSet) -> list[Group]:
    """Group runs by setup; the label names only what differs (dataset, model, norm) among our
    runs. RobustBench baselines follow, one group each, labelled with their row label."""
    def setup(run: RunResults) -> tuple[str, str, str, bool]:
        kwargs = ",".join(f"{k}={v}" for k, v in sorted(run.model_kwargs.items()))
        return (run.dataset, run.model + (f"({kwargs})" if kwargs else ""), run.norm or "",
                run.clean_trained)

    ours = [run for run in results.runs if not run.baseline]
    baselines = [Group(label=run.label or run.name, norm=None, runs=[run], baseline=True)
                 for run in results.runs if run.baseline]
    setups = [setup(run) for run in ours]
    varies = [len({s[i] for s in setups}) > 1 for i in range(2)]
    groups: dict[tuple[str, str, str, bool], Group] = {}
    for run, key in zip(ours, setups, strict=True):
        if key not in groups:
            parts = [part for part, shown in zip(key[:2], varies, strict=True) if shown]
            if run.norm:
                parts.append(norm_label(run.norm))
            if run.clean_trained:  # the control arm: no norm identity of its own in comparisons
                parts.append("clean-trained control")
            groups[key] = Group(label=" ".join(parts) or run.model,
                                norm=None if run.clean_trained else run.norm, runs=[])
        groups[key].runs.append(run)

    def order(item: tuple[tuple[str, str, str, bool], Group]
              ) -> tuple[str, str, bool, int, str]:
        (dataset, model, norm, control), _ = item
        rank = NORM_ORDER.index(norm) if norm in NORM_ORDER else len(NORM_ORDER)
        return dataset, model, control, rank, norm

    return [group for _, group in sorted(groups.items(), key=order)] + baselines


def format_percent(values: Sequence[float]) -> str:
    """``[0.8, 0.82]`` -> ``"81.00 ± 1.41"`` (percent, 2 decimals); ``"-"`` when empty."""
    return format_mean_std(values, scale=100.0)


def metric_label(metric: str) -> str:
    """``"pgd-20"`` -> ``"PGD-20"``, ``"autoattack-standard"`` -> ``"AutoAttack (standard)"``."""
    if metric == CLEAN:
        return "Clean accuracy"
    if metric.startswith("autoattack-"):
        return f"AutoAttack ({metric.removeprefix('autoattack-')})"
    return metric.upper()


def comparison_table(groups: Sequence[Group], branches: Sequence[str], metric: str,
                     eps: float | None, rows: str) -> str:
    """One metric's table: mean ± std per group and branch, the best of each branch among our
    groups in bold (RobustBench baselines are references, never bold).

    ``rows="norm"`` puts groups in rows and branches in columns; ``rows="branch"`` the reverse.
    """
    cells = {(g.label, b): g.values(b, metric, eps) for g in groups for b in branches}
    ours = [g for g in groups if not g.baseline]
    by_branch = {b: {**{g.label: format_percent(cells[(g.label, b)]) for g in groups},
                     **dict(zip([g.label for g in ours],
                                bold_best([cells[(g.label, b)] for g in ours], scale=100.0),
                                strict=True))}
                 for b in branches}
    if rows == "branch":
        header = ["branch", *[g.label for g in groups]]
        body = [[b, *[by_branch[b][g.label] for g in groups]] for b in branches]
    else:
        header = ["model", *[f"{b} branch" for b in branches]]
        body = [[g.label, *[by_branch[b][g.label] for b in branches]] for g in groups]
    return markdown_table(header, body)


def cascade_table(groups: Sequence[Group], eps: float) -> str | None:
    """AutoAttack robust accuracy after each stage, mean ± std over the group's runs."""
    rows = []
    stages: list[str] = []
    for group in groups:
        branches = dict.fromkeys(b for run in group.runs for (b, e) in run.cascades
                                 if e == eps)
        for branch in branches:
            per_stage: dict[str, list[float]] = {}
            for run in group.runs:
                for stage, acc in run.cascades.get((branch, eps), []):
                    per_stage.setdefault(stage, []).append(acc)
            stages += [s for s in per_stage if s not in stages]
            clean = group.values(branch, CLEAN, None)
            rows.append((group.label, branch, clean, per_stage))
    if not rows:
        return None
    header = ["model", "branch", "clean", *stages]
    body = [[label, branch, format_percent(clean),
             *[format_percent(per_stage.get(s, [])) for s in stages]]
            for label, branch, clean, per_stage in rows]
    return markdown_table(header, body)
