"""The report's "Robust overfitting" section: does the adversarial validation loss rise late?

From each run's ``metrics.jsonl`` (one validation row per epoch): the lowest PGD cross-entropy
on the validation images and the last epoch's, the rise between them (0 when the last epoch is
the lowest), and the best and last PGD accuracy; mean ± std over seeds per group. The paper shows
the adversarial test loss rising after about epoch 75 of 200, less for SaAuxBN than for AuxBN.
Torch-free; losses in nats, accuracies in %.
"""

from __future__ import annotations

from collections.abc import Sequence

from robust_sabn.adversarial.report.collect import RunResults
from robust_sabn.adversarial.report.plots import val_branch
from robust_sabn.adversarial.report.tables import Group
from robust_sabn.report.kit import format_mean_std, markdown_table


def _series(run: RunResults, branch: str, key: str) -> list[float]:
    values = [(val_branch(row, branch) or {}).get(key) for row in run.curve]
    return [float(v) for v in values if v is not None]


def pgd_losses(run: RunResults, branch: str) -> list[float]:
    """The run's adversarial validation loss per logged epoch on ``branch`` (nats)."""
    return _series(run, branch, "pgd_loss")


def loss_rise(run: RunResults, branch: str) -> float | None:
    """Last epoch's adversarial validation loss minus its lowest (nats), or None with fewer
    than two logged losses."""
    losses = pgd_losses(run, branch)
    return losses[-1] - min(losses) if len(losses) >= 2 else None


def overfitting_section(groups: Sequence[Group], branch: str) -> list[str]:
    """Markdown lines of the section (empty when no run logged validation losses)."""
    rows = []
    for group in groups:
        runs = [r for r in group.runs if len(_series(r, branch, "pgd_loss")) >= 2]
        if not runs:
            continue
        losses = [_series(r, branch, "pgd_loss") for r in runs]
        accuracies = [_series(r, branch, "pgd_acc") for r in runs]
        rows.append([group.label, format_mean_std([min(s) for s in losses], digits=3),
                     format_mean_std([s[-1] for s in losses], digits=3),
                     format_mean_std([s[-1] - min(s) for s in losses], digits=3),
                     format_mean_std([max(s) for s in accuracies if s], 100.0),
                     format_mean_std([s[-1] for s in accuracies if s], 100.0),
                     str(max(len(s) for s in losses))])
    if not rows:
        return []
    header = ["model", "lowest val PGD loss", "last-epoch val PGD loss", "rise (last - lowest)",
              "best val PGD acc (%)", "last val PGD acc (%)", "epochs"]
    return ["## Robust overfitting", "",
            f"Adversarial validation loss and accuracy per epoch, {branch} branch, mean ± std "
            "over seeds (curves: the last panel of the training figure). Robust overfitting is a "
            "late rise of the loss above its lowest value; the paper sees it after epoch ~75 of "
            "200, less for SaAuxBN than AuxBN.", "",
            markdown_table(header, rows), ""]
