"""The style task's gate metrics (``[[gates]]`` of its suite files).

* ``affine_shift`` (%): how far SaAdaIN's shared affine moved from the identity,
  ``100 * sqrt(mean_c((g_c - 1)^2 + b_c^2))`` from each SaAdaIN run's evaluation record
  (metric ``affine_shift``, :func:`robust_sabn.style.evaluate.affine_shift_metrics`), the
  smallest over runs. Near 0 the two arms are nearly the same network; gate with ``>=``.
* ``loss_still_falling`` (%): per run, the drop of the logged training loss from the
  second-to-last quarter of the run to the last, ``100 * (before - last) / before`` (means of
  the ``train`` rows of the training record's curves), the largest over runs. Near 0 the
  losses have flattened; gate with ``<=``. A loss that ROSE counts as flat here (its drop is
  negative); :func:`loss_change` does not let it pass.
* ``loss_change`` (%): per run, the absolute change of the logged loss of split ``split``
  (``train``, default, or ``val``: the validation passes on the fixed held-out pairs) from the
  second-to-last quarter of its rows to the last, ``100 * |last - before| / before``, the
  largest over runs. Near 0 the loss has settled, whichever way it moved; gate with ``<=``.
* ``output_spread`` (pixel std on the [0, 1] scale): per run, how much its stylized validation
  images differ between the pairs (metric ``output_spread`` of its evaluation record,
  :mod:`robust_sabn.style.evaluate`), the smallest over runs. Near 0 a decoder collapsed to
  one image for every input, and its losses say nothing about stylization; gate with ``>=``.

Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from statistics import mean
from typing import Any

from robust_sabn.suites.gates import GateMetric, Measured, Records

TASK = "style"
PERCENT = 100.0
SPLITS = ("train", "val")


def affine_shift(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    found = {}
    for _, record in records:
        if record.task == TASK and record.kind == "evaluation":
            shifts = record.find("affine_shift")
            if shifts and record.subject.get("norm") == params["norm"]:
                found[str(record.subject.get("run"))] = PERCENT * shifts[-1].value
    if not found:
        return Measured(None, f"no {params['norm']} evaluation record holds affine_shift "
                              "(evaluate the runs again with this version)")
    per_run = ", ".join(f"{run} {value:.2f} %" for run, value in sorted(found.items()))
    return Measured(min(found.values()), f"smallest over runs: {per_run}")


def _quarters(curves: list[dict[str, Any]], split: str) -> tuple[float, float] | None:
    """(mean of the second-to-last quarter, mean of the last quarter) of a split's losses."""
    losses = [float(row["loss"]) for row in curves
              if row.get("split") == split and "loss" in row]
    quarter = len(losses) // 4
    if quarter < 1:
        return None
    return mean(losses[-2 * quarter:-quarter]), mean(losses[-quarter:])


def _falling(curves: list[dict[str, Any]]) -> float | None:
    quarters = _quarters(curves, "train")
    if quarters is None or not quarters[0]:
        return None
    before, last = quarters
    return PERCENT * (before - last) / before


def _per_run(records: Records, value: Callable[[list[dict[str, Any]]], float | None]
             ) -> dict[str, float]:
    """Run -> ``value(curves)`` of every style training record where it is defined."""
    found = {}
    for _, record in records:
        if record.task == TASK and record.kind == "training":
            result = value(list(record.extras.get("curves") or []))
            if result is not None:
                found[str(record.subject.get("run"))] = result
    return found


def loss_still_falling(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    found = _per_run(records, _falling)
    if not found:
        return Measured(None, "no training record logged 4 or more training-loss rows")
    per_run = ", ".join(f"{run} {value:.1f} %" for run, value in sorted(found.items()))
    return Measured(max(found.values()), f"largest over runs: {per_run}")


def loss_change(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    split = str(params["split"])
    if split not in SPLITS:
        return Measured(None, f"split {split!r} is not one of {', '.join(SPLITS)}")

    def change(curves: list[dict[str, Any]]) -> float | None:
        quarters = _quarters(curves, split)
        if quarters is None or not quarters[0]:
            return None
        before, last = quarters
        return PERCENT * abs(last - before) / before

    found = _per_run(records, change)
    if not found:
        return Measured(None, f"no training record logged 4 or more {split}-loss rows")
    per_run = ", ".join(f"{run} {value:.1f} %" for run, value in sorted(found.items()))
    return Measured(max(found.values()), f"largest over runs ({split} loss): {per_run}")


def output_spread(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    found = {str(record.subject.get("run")): spreads[-1].value for _, record in records
             if record.task == TASK and record.kind == "evaluation"
             and (spreads := record.find("output_spread"))}
    if not found:
        return Measured(None, "no evaluation record holds output_spread (evaluate the runs "
                              "again with this version)")
    per_run = ", ".join(f"{run} {value:.4f}" for run, value in sorted(found.items()))
    return Measured(min(found.values()), f"smallest over runs: {per_run}")


GATE_METRICS = {metric.name: metric for metric in (
    GateMetric("affine_shift", "%", "SaAdaIN's shared affine's RMS distance from the identity "
               "(smallest over runs)", affine_shift, {"norm": "saadain"}),
    GateMetric("loss_still_falling", "%", "training-loss drop from the second-to-last quarter "
               "of the run to the last (largest over runs)", loss_still_falling),
    GateMetric("loss_change", "%", "absolute change of the logged loss of split `split` (train "
               "or val) from the second-to-last quarter of its rows to the last (largest over "
               "runs)", loss_change, {"split": "train"}),
    GateMetric("output_spread", "pixel sd", "std over the validation pairs of each stylized pixel, "
               "[0, 1] scale (smallest over runs; near 0: a collapsed decoder)", output_spread),
)}
