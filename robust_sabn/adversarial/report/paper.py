"""The SaBN paper's reported adversarial-training numbers, as data, and when they apply.

The paper reports one setup only: CIFAR-10, pre-activation ResNet-18 (width 64), L-inf PGD
adversarial training at eps 8/255, evaluated with white-box PGD-10 and PGD-20 at eps 8/255.
"""

from __future__ import annotations

from collections.abc import Sequence

from robust_sabn.adversarial.report.collect import CLEAN
from robust_sabn.adversarial.report.tables import Group, format_percent
from robust_sabn.report.kit import markdown_table
from robust_sabn.vocabulary import norm_label

CITATION = (
    "Gong, Chen, Chen, Wang. *Sandwich Batch Normalization: A Drop-In Replacement for Feature "
    "Distribution Heterogeneity.* WACV 2022 (arXiv:2102.11382), CIFAR-10 ResNet-18 "
    "adversarial-training table."
)
PAPER_DATASET = "cifar10"
PAPER_MODEL = "preact_resnet18"
PAPER_WIDTH = 64
PAPER_EPS = 8 / 255

# (row label, metric, branch) -> {norm: accuracy in percent}, as reported.
PAPER_ROWS: dict[tuple[str, str, str], dict[str, float]] = {
    ("clean, clean branch", CLEAN, "clean"): {"bn": 84.84, "auxbn": 94.47, "saauxbn": 94.62},
    ("clean, adversarial branch", CLEAN, "adv"): {"bn": 84.84, "auxbn": 83.42, "saauxbn": 84.08},
    ("PGD-10, adversarial branch", "pgd-10", "adv"): {"bn": 41.57, "auxbn": 43.05,
                                                      "saauxbn": 44.93},
    ("PGD-20, adversarial branch", "pgd-20", "adv"): {"bn": 40.02, "auxbn": 41.60,
                                                      "saauxbn": 43.14},
}
PAPER_NORMS = ("bn", "auxbn", "saauxbn")


def matches_paper_setup(group: Group, eps: float | None) -> bool:
    """Whether every run of ``group`` is the paper's setup (dataset, architecture, norm, eps)."""
    if eps is None or abs(eps - PAPER_EPS) > 1e-6 or group.norm not in PAPER_NORMS:
        return False
    return all(run.dataset == PAPER_DATASET and run.model == PAPER_MODEL
               and run.model_kwargs.get("width", PAPER_WIDTH) == PAPER_WIDTH
               and run.threat_model == "Linf" for run in group.runs)


def paper_section(groups: Sequence[Group], eps: float | None) -> str:
    """Markdown: our numbers beside the paper's where the setup matches, else why there are none."""
    matching = [g for g in groups if matches_paper_setup(g, eps)]
    if not matching:
        datasets = sorted({run.dataset for g in groups for run in g.runs})
        return (
            f"No paper numbers exist for this setup ({', '.join(datasets)}): the paper reports "
            "CIFAR-10, PreAct ResNet-18, L-inf eps 8/255 with BN, AuxBN and SaAuxBN only "
            f"({CITATION})"
        )
    header = ["evaluation"]
    for g in matching:
        header += [f"{norm_label(g.norm)} (ours)", f"{norm_label(g.norm)} (paper)"]
    body = []
    for (label, metric, branch), reported in PAPER_ROWS.items():
        row = [label]
        for g in matching:
            row += [format_percent(g.values(branch, metric, eps)),
                    f"{reported[g.norm or '']:.2f}"]
        body.append(row)
    return (markdown_table(header, body)
            + f"\n\nPaper numbers: {CITATION} The paper used PGD only (no AutoAttack).")
