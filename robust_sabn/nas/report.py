"""The NAS report, rendered from records only (torch-free): final-cell accuracy per algorithm x
norm with paired differences against the reference norm, the paper's numbers, the collapse
towards parameter-free ops per epoch (plot), the cells found per seed, and what it all shows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.nas.config import ALGORITHM_LABELS
from robust_sabn.nas.plugin import nas_norm
from robust_sabn.nas.space import EDGE_NAMES, OPS, Genotype
from robust_sabn.report import kit
from robust_sabn.report.findings import MEDIAN
from robust_sabn.report.median_rows import median_text
from robust_sabn.report.sign_test import sign_test_interval
from robust_sabn.report.stats import NOT_RESOLVED, format_difference, paired_t_interval
from robust_sabn.vocabulary import count, norm_label

PAPER_NB201: dict[tuple[str, str], dict[str, str]] = {
    ("darts", "bn"): {"cifar100": "44.05 ± 7.47", "ImageNet16-120": "36.47 ± 7.06"},
    ("darts", "saauxbn"): {"cifar100": "71.56 ± 1.39", "ImageNet16-120": "45.85 ± 0.72"},
}
"""The authors' DARTS results on NAS-Bench-201 (top-1 %, README of their code)."""

AUTHORS_ARCH_LR = 3e-4
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                  "ImageNet16-120": "ImageNet16-120", "fashion-mnist": "Fashion-MNIST"}
Group = tuple[str, str]


def _label(group: Group) -> str:
    return f"{ALGORITHM_LABELS.get(group[0], group[0])} {norm_label(group[1])}"


def _order(groups: Sequence[Group], reference: str) -> list[Group]:
    norms = ["bn", "bn_affine", "ccbn", "saauxbn"]
    return sorted(set(groups), key=lambda g: (g[0], g[1] != reference,
                                              norms.index(g[1]) if g[1] in norms else 9))


def _group(record: ResultRecord) -> Group:
    return (str(record.subject.get("algorithm")),
            nas_norm(str(record.subject.get("norm")), warn=False))


def _score_values(scores: Sequence[ResultRecord], **condition: Any
                  ) -> dict[Group, dict[int, float]]:
    """Per group, search seed -> accuracy (mean over retraining seeds for ``retrain``)."""
    out: dict[Group, dict[int, float]] = {}
    for record in scores:
        found = record.find("accuracy", **condition)
        if found:
            out.setdefault(_group(record), {})[int(record.subject["seed"])] = (
                sum(m.value for m in found) / len(found))
    return out


def _accuracy_section(title: str, short: str, values: dict[Group, dict[int, float]],
                      reference: str, paper: str | None = None, statistic: str = "mean"
                      ) -> tuple[str, list[str]]:
    """A table of mean ± std (%) per group and the differences against the reference norm;
    the findings test the mean (paired t) or, for ``statistic`` ``"median"``, the median of
    the per-seed differences (sign test)."""
    groups = _order(list(values), reference)
    header = ["algorithm", "norm", "search seeds", "top-1 % (mean ± std)"]
    if paper:
        header.append("paper (NB201, DARTS)")
    rows = []
    for g in groups:
        row = [ALGORITHM_LABELS.get(g[0], g[0]), norm_label(g[1]), str(len(values[g])),
               kit.format_mean_std(list(values[g].values()), scale=100)]
        if paper:
            row.append(PAPER_NB201.get(g, {}).get(paper, kit.DASH))
        rows.append(row)
    parts, findings = [f"### {title}", "", kit.markdown_table(header, rows)], []
    for algorithm in sorted({g[0] for g in groups}):
        mine = {_label(g): values[g] for g in groups if g[0] == algorithm}
        ref = _label((algorithm, reference))
        if ref in mine and len(mine) > 1:
            parts += ["", kit.difference_table(mine, ref, metric="top-1 (points)",
                                               higher_is_better=True, scale=100,
                                               statistic=statistic)]
            for label, seeds in mine.items():
                shared = sorted(set(seeds) & set(mine[ref]))
                if label != ref and len(shared) >= 2:
                    findings.append(_difference_finding(
                        f"{short}: {label} minus {ref}", [seeds[s] for s in shared],
                        [mine[ref][s] for s in shared], statistic))
    return "\n".join(parts), findings


def _difference_finding(what: str, row: list[float], reference: list[float], statistic: str
                        ) -> str:
    """One "What it shows" line: ``row - reference`` paired (fractions, shown in points) by
    the mean with its Student-t interval or by the median with its sign-test interval, in
    the claims page's words (:func:`~robust_sabn.report.stats.format_difference`,
    :func:`~robust_sabn.report.median_rows.median_text`)."""
    if statistic == MEDIAN:
        iv = sign_test_interval([100 * (a - b) for a, b in zip(row, reference, strict=True)])
        return f"{what}, in points: {median_text(iv, 2)}, {iv.n} seeds."
    iv = paired_t_interval(row, reference)
    return f"{what}, in points: {format_difference(iv, 100, 2)} (Student t, {iv.n} seeds)."


def _collapse(searches: Sequence[ResultRecord]) -> dict[Group, dict[int, list[float]]]:
    """Per group, epoch -> parameter-free op counts of the argmax cell (one per seed)."""
    out: dict[Group, dict[int, list[float]]] = {}
    for record in searches:
        for m in record.find("parameter_free_ops"):
            epoch = m.condition.get("epoch")
            if isinstance(epoch, int):
                out.setdefault(_group(record), {}).setdefault(epoch, []).append(m.value)
    return out


def _final_entropy(searches: Sequence[ResultRecord]) -> dict[Group, float]:
    """Per group, the mean over seeds and edges of the last epoch's alpha entropy (nats)."""
    values: dict[Group, list[float]] = {}
    for record in searches:
        last = len(record.extras.get("genotypes", []))
        values.setdefault(_group(record), []).extend(
            m.value for m in record.find("alpha_entropy", epoch=last))
    return {g: sum(v) / len(v) for g, v in values.items() if v}


def _search_caveats(searches: Sequence[ResultRecord], entropy: dict[Group, float]
                    ) -> list[str]:
    """Sentences on what limits the searches: alpha that barely moved, cells with no path."""
    lines = []
    if entropy and max(math.log(5) - e for e in entropy.values()) < 0.01:
        config = searches[0].extras.get("config", {})
        steps = (int(config.get("epochs", 0))
                 * (int(config.get("search_examples", 0)) // 2 // max(int(config.get(
                     "batch_size", 1)), 1)))
        whose = " (the authors')" if config.get("arch_lr") == AUTHORS_ARCH_LR else ""
        lines.append(
            f"Alpha barely left its start in every search (less than 0.01 nats of entropy "
            f"lost per edge): {steps} Adam steps at learning rate {config.get('arch_lr')}"
            f"{whose} move each alpha by at most about "
            f"{steps * float(config.get('arch_lr', 0)):.2f}, so the argmax cells here come "
            "from the first small alpha differences, not from a converged search; the "
            "authors' searches take 14,000 to 27,000 alpha steps (35 epochs at batch 64 over "
            "25,000 to 50,000 CIFAR images).")
    cut = [r for r in searches if not Genotype.parse(r.extras["genotype"])
           .has_input_output_path()]
    if cut:
        names = ", ".join(f"{_label(_group(r))} seed {r.subject['seed']}" for r in cut)
        lines.append(f"{len(cut)} of {len(searches)} found cells have no path from input to "
                     f"output (the 'none' op won the argmax on the cutting edges) and score "
                     f"chance: {names}. They cause the large spreads of those rows.")
    return lines


def _plot(collapse: dict[Group, dict[int, list[float]]], reference: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for g in _order(list(collapse), reference):
        epochs = sorted(collapse[g])
        means = [sum(collapse[g][e]) / len(collapse[g][e]) for e in epochs]
        ax.plot(epochs, means, marker="o", label=_label(g),
                linestyle="-" if g[0] == "darts" else "--")
    ax.set_xlabel("search epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("parameter-free ops in argmax cell (of 6)")
    ax.set_ylim(-0.2, 6.2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def mean_alpha_softmax(searches: Sequence[ResultRecord]) -> dict[Group, list[list[list[float]]]]:
    """Per group, the softmax of alpha (epochs x edges x ops) averaged over the seeds, over the
    epochs every seed recorded; groups whose records hold none are left out."""
    by_group: dict[Group, list[list[list[list[float]]]]] = {}
    for record in searches:
        if record.extras.get("alpha_softmax"):
            by_group.setdefault(_group(record), []).append(record.extras["alpha_softmax"])
    means = {}
    for group, runs in by_group.items():
        epochs = min(len(run) for run in runs)
        means[group] = [[[sum(run[e][i][k] for run in runs) / len(runs)
                          for k in range(len(OPS))] for i in range(len(EDGE_NAMES))]
                        for e in range(epochs)]
    return means


def plot_alpha_heatmap(weights: list[list[list[float]]], title: str, path: Path) -> Path:
    """One panel per edge: the softmax weight of each op (rows) after each search epoch
    (columns), 0 white to 1 dark; the value written in each cell when there are few epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = len(weights)
    fig, axes = plt.subplots(2, 3, figsize=(3.0 + 0.9 * max(epochs, 3), 5.2), sharey=True)
    image = None
    for i, (ax, edge) in enumerate(zip(axes.flat, EDGE_NAMES, strict=True)):
        grid = [[weights[e][i][k] for e in range(epochs)] for k in range(len(OPS))]
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="Blues", aspect="auto")
        ax.set_title(f"edge {edge}", fontsize=9)
        ax.set_xticks(range(epochs), [str(e + 1) for e in range(epochs)], fontsize=7)
        ax.set_yticks(range(len(OPS)), list(OPS), fontsize=7)
        if epochs <= 12:
            for k, row in enumerate(grid):
                for e, value in enumerate(row):
                    ax.text(e, k, f"{value:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if value > 0.6 else "black")
    for ax in axes[1]:
        ax.set_xlabel("search epoch")
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label="softmax(alpha)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _alpha_section(searches: Sequence[ResultRecord], reference: str, output: Path
                   ) -> list[str]:
    """The alpha heat maps, one per algorithm x norm, as report lines."""
    means = mean_alpha_softmax(searches)
    if not means:
        return []
    lines = ["## Architecture weights per edge over epochs", "",
             "softmax(alpha) of each op on each of the cell's six edges after every search "
             "epoch, mean over search seeds; the argmax cell takes the darkest op of each edge "
             "in the last column.", ""]
    for group in _order(list(means), reference):
        seeds = sum(_group(r) == group and bool(r.extras.get("alpha_softmax"))
                    for r in searches)
        png = plot_alpha_heatmap(means[group], f"{_label(group)} "
                                 f"({count(seeds, 'seed')})",
                                 output.with_name(f"{output.stem}-alpha-{group[0]}-"
                                                  f"{group[1]}.png"))
        lines += [f"**{_label(group)}**", "", kit.image(png.name, f"alpha of {_label(group)}"),
                  ""]
    return lines


def _genotype_table(searches: Sequence[ResultRecord], scores: Sequence[ResultRecord],
                    reference: str) -> str:
    by_run = {(_group(r), int(r.subject["seed"])): r for r in scores}
    rows = []
    for r in sorted(searches, key=lambda r: (_order([_group(r)], reference)[0],
                                             int(r.subject["seed"]))):
        key = (_group(r), int(r.subject["seed"]))
        score = by_run.get(key)
        retrained = score.find("accuracy", method="retrain") if score else []
        analog = score.value("accuracy", method="table", table="analog-nasbench") if score else None
        rows.append([
            _label(key[0]), str(key[1]), "`" + str(r.extras["genotype"]).replace("|", "\\|") + "`",
            str(int(r.value("parameter_free_ops", epoch=len(r.extras["genotypes"])) or 0)),
            kit.format_mean_std([m.value for m in retrained], scale=100) if retrained
            else kit.DASH,
            f"{100 * analog:.2f}" if analog is not None else kit.DASH,
        ])
    header = ["search", "seed", "final cell", "parameter-free", "retrained %",
              "analog-nasbench CIFAR-10 %"]
    return kit.markdown_table(header, rows, align="lrlrrr")


_PAPER_SECTION = ["## The paper's numbers", "",
                  "DARTS (first order) on NAS-Bench-201, top-1 % of the found cell in the NB201 "
                  "table (authors' README). Comparable only to NAS-Bench-201 rows above, not to "
                  "retraining or transfer rows.", "",
                  kit.markdown_table(["search", "CIFAR-100", "ImageNet16-120"], [
                      [_label(g), v["cifar100"], v["ImageNet16-120"]]
                      for g, v in PAPER_NB201.items()]), ""]
"""The paper's DARTS numbers on NAS-Bench-201, the same in every report."""


def render_nas_report(records: Sequence[tuple[Path, ResultRecord]], output: str | Path, *,
                      command: str, suite_command: str | None, warnings: Sequence[str],
                      reference: str = "bn", title: str = "NAS", description: str = "",
                      statistic: str = "mean") -> Path:
    """Write the Markdown report of NAS ``records`` to ``output`` (plot beside it); its
    paired differences test the mean or, for ``statistic`` ``"median"``, the median."""
    output = Path(output)
    nas = [r for _, r in records if r.task == "nas"]
    searches = [r for r in nas if r.kind == "search"]
    scores = [r for r in nas if r.kind == "evaluation" and "seed" in r.subject]
    norms = _order([_group(r) for r in searches or scores], reference)
    labels = list(dict.fromkeys(norm_label(n) for _, n in norms)) or ["BN", "CCBN", "SaAuxBN"]
    named = ", ".join(labels[:-1]) + (" and " if len(labels) > 1 else "") + labels[-1]
    parts = [f"# {title}: weight-sharing NAS with {named} in the supernet", ""]
    if description:
        parts += [description, ""]
    if searches:
        parts += _search_setup(searches)
    parts += ["## Final cell accuracy", ""]
    accuracy, findings, scored = _accuracy_sections(scores, reference, statistic)
    parts += accuracy + _PAPER_SECTION
    collapse, found = _collapse_section(searches, reference, output)
    parts += collapse + _alpha_section(searches, reference, output)
    findings += found
    if searches:
        parts += ["## Cells found per seed", "", _genotype_table(searches, scores, reference), ""]
    if scored:
        findings.append(
            "For scale: the paper's gain (DARTS on NAS-Bench-201, CIFAR-100) is SaBN minus BN = "
            "+27.51 points (71.56 vs 44.05). Retraining and transfer rows are not NB201 rows; "
            "they show whether the direction holds in this setting, not the paper's size.")
    differences = [line for line in findings if ", in points: " in line]
    if differences:
        resolved = sum(NOT_RESOLVED not in line for line in differences)
        tested = " (medians, sign test)" if statistic == MEDIAN else ""
        findings.insert(0, f"{resolved} of {len(differences)} differences{tested} against "
                           f"{norm_label(reference)} are resolved (95 % CI excludes 0).")
    parts += ["## What it shows", ""]
    parts += [f"- {line}" for line in findings] or ["- No finished searches to compare."]
    parts += ["", kit.warnings_section(list(warnings)), "",
              kit.provenance_footer(nas, command, suite_command)]
    return kit.write_markdown(output, "\n".join(parts))


def _search_setup(searches: list[ResultRecord]) -> list[str]:
    """The report's lines on the search space and the search settings."""
    s = searches[0].subject
    parts = [f"Search space NAS-Bench-201, supernet C={s.get('channels')}, "
             f"N={s.get('cells_per_stage')} cells per stage, searched on "
             f"{DATASET_LABELS.get(str(s.get('dataset')), s.get('dataset'))}. Each found "
             "cell is scored three ways where available, each labelled below.", ""]
    config = searches[0].extras.get("config", {})
    if config:
        parts += [
            f"Search settings: {config['epochs']} epochs of a {config['schedule_epochs']}-"
            f"epoch cosine schedule, {config['search_examples']} training images (half for "
            f"the weights, half for alpha) at {config['resolution'] or 'native'} px, batch "
            f"{config['batch_size']}; weights SGD lr {config['lr']} (Nesterov "
            f"{config['momentum']}, weight decay {config['weight_decay']}, clip "
            f"{config['grad_clip']}); alpha Adam lr {config['arch_lr']} (betas "
            f"{config['arch_beta1']}, {config['arch_beta2']}, weight decay "
            f"{config['arch_weight_decay']}); GDAS tau {config['tau_max']} to "
            f"{config['tau_min']}.", ""]
    return parts


def _accuracy_sections(scores: list[ResultRecord], reference: str, statistic: str
                       ) -> tuple[list[str], list[str], bool]:
    """(lines, findings, whether any retraining or transfer rows) of the final-cell accuracy
    sections: retraining, the analog-nasbench transfer, the NB201 tables."""
    parts: list[str] = []
    findings: list[str] = []
    retrain = _score_values(scores, method="retrain")
    if retrain:
        dataset = next((m.condition.get("dataset") for r in scores
                        for m in r.find("accuracy", method="retrain")), "")
        n_seeds = max(len(r.find("accuracy", method="retrain")) for r in scores)
        text, found = _accuracy_section(
            f"Standalone retraining on {DATASET_LABELS.get(str(dataset), dataset)} (fixed short "
            f"schedule, {n_seeds} retraining seeds per cell, averaged per search seed)",
            f"Retrained on {DATASET_LABELS.get(str(dataset), dataset)}", retrain, reference,
            statistic=statistic)
        parts += [text, ""]
        findings += found
    analog = _score_values(scores, method="table", table="analog-nasbench")
    if analog:
        text, found = _accuracy_section(
            "Transfer to CIFAR-10: the analog-nasbench table (its authors' digital CIFAR-10 "
            "training, not NB201's numbers)", "analog-nasbench CIFAR-10", analog, reference,
            statistic=statistic)
        parts += [text, ""]
        findings += found
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        nb201 = _score_values(scores, method="table", table="nb201", dataset=dataset)
        if nb201:
            text, found = _accuracy_section(
                f"NAS-Bench-201 table, {DATASET_LABELS[dataset]} (200-epoch training)",
                f"NB201 {DATASET_LABELS[dataset]}", nb201, reference,
                paper=dataset if dataset != "cifar10" else None, statistic=statistic)
            parts += [text, ""]
            findings += found
    return parts, findings, bool(retrain or analog)


def _collapse_section(searches: list[ResultRecord], reference: str, output: Path
                      ) -> tuple[list[str], list[str]]:
    """(lines, findings) of the parameter-free collapse section (its plot beside ``output``)."""
    parts: list[str] = []
    findings: list[str] = []
    collapse = _collapse(searches)
    if collapse:
        plot = _plot(collapse, reference, output.with_name(f"{output.stem}-parameter-free.png"))
        parts += ["## Collapse towards parameter-free cells", "",
                  "Parameter-free ops (none, skip, avg-pool) in the argmax cell after each "
                  "epoch, mean over search seeds:", "",
                  kit.image(plot.name, "parameter-free ops per epoch"), ""]
        header = ["search", *[str(e) for e in sorted({e for c in collapse.values() for e in c})]]
        rows = [[_label(g), *[f"{sum(v) / len(v):.2f}" for _, v in sorted(collapse[g].items())]]
                for g in _order(list(collapse), reference)]
        parts += [kit.markdown_table(header, rows), ""]
        entropy = _final_entropy(searches)
        for g in _order(list(collapse), reference):
            first, last = collapse[g][min(collapse[g])], collapse[g][max(collapse[g])]
            findings.append(
                f"{_label(g)}: parameter-free ops in the argmax cell go from "
                f"{sum(first) / len(first):.2f} after epoch {min(collapse[g])} to "
                f"{sum(last) / len(last):.2f} of 6 after epoch {max(collapse[g])}; the mean "
                f"alpha entropy per edge ends {math.log(5) - entropy.get(g, math.nan):.2e} "
                f"nats below uniform ({math.log(5):.4f}).")
        findings += _search_caveats(searches, entropy)
    return parts, findings
