"""The adversarial task's gate metrics (``[[gates]]`` of its suite files).

* ``clean_branch_gap`` (points): a clean-only-trained control's clean accuracy minus the clean
  accuracy of ``norm``'s clean branch, mean over the seeds both have. Small means the clean
  branch has specialised (the mechanism of the clean-branch claim); gate with ``<=``.
* ``control_minus_bn`` (points): the control's clean accuracy minus ``reference``'s (plain BN
  under PGD-AT), mean over shared seeds. Large means adversarial training costs clean
  accuracy at this scale, so a clean branch has something to win back; gate with ``>=``.
* ``epochs_after_best`` (epochs): per run of ``norms``, the logged epochs after the one with
  the lowest adversarial validation loss (``branch``), median over runs. Robust overfitting
  (a rise after the best epoch) needs room after it; gate with ``>=``.
* ``robust_fit_gap`` (points): per run of ``norms``, the last epoch's training adversarial
  accuracy (the training attack's, averaged over the epoch's batches, model in train mode)
  minus its adversarial validation PGD accuracy (``branch``, the same attack, eval mode),
  median over runs. Robust overfitting is the model fitting its adversarial training images
  beyond what carries over to held-out ones; about 0 means it does not fit them at all, so
  there is nothing to overfit; gate with ``>=``.
* ``adversarial_gain`` (points): ``norm``'s robust accuracy (``metric``, e.g. ``pgd-20``, on
  ``branch`` at ``eps``) minus the control's, mean over shared seeds. Large means training was
  adversarial (a trainer that silently stopped attacking gives about 0); gate with ``>=``.

The control arm is every run whose training config has ``loss = control_loss`` (``"clean"``:
plain cross-entropy on clean images); it is left out of the other norms' runs. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import mean, median
from typing import Any

from robust_sabn.adversarial.record import TASK
from robust_sabn.adversarial.report.collect import (
    CLEAN,
    CONTROL_LOSS,
    RunResults,
    collect_run_results,
)
from robust_sabn.adversarial.report.overfitting import pgd_losses
from robust_sabn.adversarial.report.plots import val_branch
from robust_sabn.suites.gates import GateMetric, Measured, Records

POINTS = 100.0


def _runs(records: Records) -> list[RunResults]:
    paths: list[str | Path] = [p for p, r in records
                               if r.task == TASK and r.kind == "evaluation"]
    return [r for r in collect_run_results(paths).runs if not r.baseline] if paths else []


def _by_seed(runs: Sequence[RunResults], branch: str, metric: str = CLEAN,
             eps: float | None = None) -> dict[int, float]:
    found = {}
    for run in runs:
        value = run.value(branch, metric, eps)
        if run.seed is not None and value is not None:
            found[run.seed] = value
    return found


def _paired_gap(records: Records, params: Mapping[str, Any], norm: str, branch: str,
                label: str, metric: str = CLEAN, eps: float | None = None) -> Measured:
    """Mean over shared seeds of the control's ``metric`` accuracy (its only branch) minus
    ``norm``'s on ``branch``."""
    runs = _runs(records)
    loss = str(params["control_loss"])
    control = _by_seed([r for r in runs if r.is_control(loss)], CLEAN, metric, eps)
    if not control:
        return Measured(None, f"no control arm with {metric}: no run trained with loss = "
                              f"{loss!r} holds it")
    other = _by_seed([r for r in runs if r.norm == norm and not r.is_control(loss)],
                     branch, metric, eps)
    seeds = sorted(set(control) & set(other))
    if not seeds:
        return Measured(None, f"no seed has both the control and {label}")
    a, b = mean(control[s] for s in seeds), mean(other[s] for s in seeds)
    return Measured(POINTS * (a - b), f"control {POINTS * a:.2f} % vs {label} "
                                      f"{POINTS * b:.2f} %, {len(seeds)} seeds")


def clean_branch_gap(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    norm = str(params["norm"])
    return _paired_gap(records, params, norm, "clean", f"{norm} clean branch")


def control_minus_bn(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    reference = str(params["reference"])
    return _paired_gap(records, params, reference, "clean", f"{reference} (PGD-AT)")


def adversarial_gain(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    norm, branch, metric = str(params["norm"]), str(params["branch"]), str(params["metric"])
    gap = _paired_gap(records, params, norm, branch, f"{norm} {branch} branch", metric,
                      float(params["eps"]))
    value = None if gap.value is None else -gap.value
    return Measured(value, f"{metric} at eps {params['eps']}: {gap.detail}")


def epochs_after_best(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    norms, branch = list(params["norms"]), str(params["branch"])
    after = []
    for run in _runs(records):
        losses = pgd_losses(run, branch)
        if run.norm in norms and not run.is_control(str(params["control_loss"])) and losses:
            after.append(len(losses) - 1 - losses.index(min(losses)))
    if not after:
        return Measured(None, f"no {', '.join(norms)} run logged an adversarial validation "
                              "loss per epoch")
    return Measured(float(median(after)), f"epochs after the lowest {branch} validation PGD "
                                          f"loss, per run: {', '.join(map(str, after))}")


def robust_fit_gap(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    norms, branch = list(params["norms"]), str(params["branch"])
    gaps: dict[str, float] = {}
    for run in _runs(records):
        if run.norm not in norms or run.is_control(str(params["control_loss"])) or not run.curve:
            continue
        last = run.curve[-1]
        validation = (val_branch(last, branch) or {}).get("pgd_acc")
        if last.get("train_adv_acc") is not None and validation is not None:
            gaps[f"{run.norm}-seed{run.seed}"] = POINTS * (float(last["train_adv_acc"])
                                                           - float(validation))
    if not gaps:
        return Measured(None, f"no {', '.join(norms)} run logged training adversarial and "
                              "validation PGD accuracy per epoch")
    per_run = ", ".join(f"{run} {gap:+.1f}" for run, gap in sorted(gaps.items()))
    return Measured(float(median(gaps.values())), "last epoch's training adversarial minus "
                                                  f"validation PGD accuracy ({branch} branch), "
                                                  f"per run: {per_run}")


_CONTROL = {"control_loss": CONTROL_LOSS}
GATE_METRICS = {metric.name: metric for metric in (
    GateMetric("clean_branch_gap", "points", "clean-only control's clean accuracy minus the "
               "clean branch's (mean over seeds)", clean_branch_gap,
               {"norm": "auxbn", **_CONTROL}),
    GateMetric("control_minus_bn", "points", "clean-only control's clean accuracy minus plain "
               "BN under PGD-AT (mean over seeds)", control_minus_bn,
               {"reference": "bn", **_CONTROL}),
    GateMetric("adversarial_gain", "points", "robust accuracy of the norm's adversarial "
               "branch minus the clean-only control's (mean over seeds)", adversarial_gain,
               {"norm": "bn", "branch": "adv", "metric": "pgd-20", "eps": 0.1, **_CONTROL}),
    GateMetric("epochs_after_best", "epochs", "epochs logged after the lowest adversarial "
               "validation loss (median over runs)", epochs_after_best,
               {"norms": ["auxbn", "saauxbn"], "branch": "adv", **_CONTROL}),
    GateMetric("robust_fit_gap", "points", "training adversarial accuracy minus validation "
               "PGD accuracy at the last epoch (median over runs)", robust_fit_gap,
               {"norms": ["auxbn", "saauxbn"], "branch": "adv", **_CONTROL}),
)}
