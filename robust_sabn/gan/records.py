"""The GAN training record (``train_record.json``, kind ``training``): the probe FID/IS along
training (condition ``step``, ``features="classifier"``), the mean gradient balance of the class
affines (``grad_imbalance``, ``grad_cosine``) with its thinned curve, a thinned loss curve and
the ``runtime`` (``world_size``, ``sync_norm``) in ``extras``; ``extras["diverged"]`` when the
run diverged."""

from __future__ import annotations

from typing import Any

from robust_sabn.artifacts.result import Metric, ResultRecord, new_result
from robust_sabn.gan.config import GANConfig

TASK = "gan"
LOSS_CURVE_POINTS = 200


def run_subject(config: GANConfig, run_id: str | None) -> dict[str, Any]:
    """Who a GAN run's records are about."""
    return {"run": run_id, "generator": config.generator, "norm": config.norm,
            "seed": config.seed, "dataset": config.dataset}


def training_record(config: GANConfig, history: list[dict[str, Any]], *,
                    model: dict[str, Any], run_id: str | None, runtime: dict[str, Any],
                    train_examples: int, wall_time_s: float) -> ResultRecord:
    """The record of a finished run from its logged rows (``iteration``, ``loss_d``,
    ``loss_g`` and, where probed, ``probe_fid``, ``probe_is`` and for a conditional generator
    ``probe_cond_acc``)."""
    metrics = []
    for row in history:
        if "probe_fid" in row:
            condition = {"features": "classifier", "step": row["iteration"]}
            metrics += [Metric(name="probe_fid", value=row["probe_fid"],
                               n=config.probe_samples, condition=condition),
                        Metric(name="probe_is", value=row["probe_is"],
                               n=config.probe_samples, condition=condition)]
            if "probe_cond_acc" in row:
                metrics.append(Metric(name="probe_cond_acc", value=row["probe_cond_acc"],
                                      n=config.probe_samples, condition=condition))
    stride = max(1, len(history) // LOSS_CURVE_POINTS)
    curve = [[row["iteration"], row["loss_d"], row["loss_g"]] for row in history[::stride]]
    balance = [row for row in history if "grad_imbalance" in row]
    for name in ("grad_imbalance", "grad_cosine"):  # the class affines' gradients (nn/)
        if balance:
            metrics.append(Metric(name=name, value=sum(r[name] for r in balance) / len(balance),
                                  n=len(balance), condition={"over": "training iterations"}))
    balance_curve = [[r["iteration"], r["grad_imbalance"], r["grad_cosine"]]
                     for r in balance[::max(1, len(balance) // LOSS_CURVE_POINTS)]]
    return new_result(
        TASK, "training", subject={**run_subject(config, run_id), "model": model},
        metrics=metrics,
        extras={"config": config.to_dict(), "loss_curve": curve,
                **({"grad_balance_curve": balance_curve} if balance_curve else {}),
                "train_examples": train_examples, "iterations": config.iterations,
                "runtime": runtime},
        wall_time_s=wall_time_s)


def diverged_record(config: GANConfig, diverged: dict[str, Any], *, run_id: str | None,
                    runtime: dict[str, Any]) -> ResultRecord:
    """The record of a run that diverged (``diverged``: the guard's fields)."""
    return new_result(TASK, "training", subject=run_subject(config, run_id),
                      extras={"config": config.to_dict(), "diverged": diverged,
                              "runtime": runtime},
                      status="diverged")
