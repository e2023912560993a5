"""Result records of the NAS task: one per search, one per scoring of a genotype.

* ``kind="search"``: subject ``{run, algorithm, norm, seed, dataset, space, channels,
  cells_per_stage}``; per-epoch metrics ``parameter_free_ops``, ``alpha_entropy`` (condition
  ``edge``), ``weight_loss``, ``arch_loss``, ``arch_accuracy`` and ``table_accuracy``
  (conditions ``table``, ``dataset``), all with condition ``epoch``; extras ``genotype`` (the
  final cell), ``genotypes`` (one per epoch), ``alpha_softmax`` (per epoch, per edge in
  ``EDGE_NAMES`` order, the softmax of alpha over ``OPS``: epochs x 6 x 5), ``config``.
* ``kind="evaluation"``: subject as the search's (``run`` absent for a lone cell) plus
  ``genotype``; metrics ``accuracy`` with condition ``method`` = ``"retrain"`` (and
  ``retrain_seed``, ``dataset``) or ``"table"`` (and ``table``, ``dataset``).

Accuracies are fractions in [0, 1]; entropies in nats.
"""

from __future__ import annotations

import math
from typing import Any

from robust_sabn.artifacts.result import Metric, ResultRecord, new_result
from robust_sabn.nas.config import RetrainConfig, SearchConfig
from robust_sabn.nas.space import Genotype

TASK = "nas"
SPACE = "nas-bench-201"


def search_subject(config: SearchConfig, run: str | None) -> dict[str, Any]:
    """Who a search record is about."""
    subject: dict[str, Any] = {
        "algorithm": config.algorithm, "norm": config.norm, "seed": config.seed,
        "dataset": config.dataset, "space": SPACE, "channels": config.channels,
        "cells_per_stage": config.cells_per_stage,
    }
    if run is not None:
        subject["run"] = run
    return subject


def softmax_rows(alpha: list[list[float]]) -> list[list[float]]:
    """Row-wise softmax of alpha (edges x ops), rounded to 6 decimals."""
    rows = []
    for row in alpha:
        top = max(row)
        weights = [math.exp(a - top) for a in row]
        rows.append([round(w / sum(weights), 6) for w in weights])
    return rows


def search_record(config: SearchConfig, history: list[dict[str, Any]], wall_time_s: float,
                  run: str | None = None) -> ResultRecord:
    """The record of a finished search from its per-epoch summaries."""
    metrics: list[Metric] = []
    for row in history:
        epoch = int(row["epoch"])
        metrics.append(Metric(name="parameter_free_ops", value=row["parameter_free_ops"],
                              condition={"epoch": epoch}))
        for edge, value in row["alpha_entropy"].items():
            metrics.append(Metric(name="alpha_entropy", value=value,
                                  condition={"epoch": epoch, "edge": edge}))
        for name in ("weight_loss", "arch_loss", "arch_accuracy"):
            metrics.append(Metric(name=name, value=row[name], condition={"epoch": epoch}))
        for table, scores in row["scores"].items():
            for dataset, value in scores.items():
                metrics.append(Metric(name="table_accuracy", value=value, condition={
                    "epoch": epoch, "table": table, "dataset": dataset}))
    return new_result(
        TASK, "search", subject=search_subject(config, run), metrics=metrics,
        extras={"genotype": history[-1]["genotype"],
                "genotypes": [row["genotype"] for row in history],
                "alpha_softmax": [softmax_rows(row["alpha"]) for row in history
                                  if "alpha" in row],
                "config": config.to_dict()},
        wall_time_s=wall_time_s,
    )


def diverged_search_record(config: SearchConfig, diverged: dict[str, Any], *,
                           run: str | None, runtime: dict[str, Any]) -> ResultRecord:
    """The record of a search that diverged (``diverged``: the guard's fields)."""
    return new_result(TASK, "search", subject=search_subject(config, run),
                      extras={"config": config.to_dict(), "diverged": diverged,
                              "runtime": runtime},
                      status="diverged")


def score_record(genotype: Genotype, *, subject: dict[str, Any],
                 retrained: dict[int, tuple[float, int]], retrain: RetrainConfig | None,
                 table_scores: dict[str, dict[str, float]], wall_time_s: float
                 ) -> ResultRecord:
    """The record of scoring ``genotype``.

    Args:
        subject: the search's subject (or ``{}`` for a lone cell); ``genotype`` is added.
        retrained: retrain seed -> (test accuracy, test images).
        retrain: the retraining settings (None when not retrained).
        table_scores: table name -> {dataset: accuracy}.
    """
    metrics = [
        Metric(name="accuracy", value=accuracy, n=n, condition={
            "method": "retrain", "retrain_seed": seed,
            "dataset": retrain.dataset if retrain else None})
        for seed, (accuracy, n) in sorted(retrained.items())
    ]
    metrics += [
        Metric(name="accuracy", value=value, condition={
            "method": "table", "table": table, "dataset": dataset})
        for table, scores in table_scores.items() for dataset, value in scores.items()
    ]
    return new_result(
        TASK, "evaluation", subject={**subject, "genotype": str(genotype)}, metrics=metrics,
        extras={"genotype": str(genotype),
                "parameter_free_ops": genotype.parameter_free_count(),
                "retrain": retrain.to_dict() if retrain else None},
        wall_time_s=wall_time_s,
    )
