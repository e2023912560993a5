"""The NAS task's gate metrics (``[[gates]]`` of its suite files), from the search records.

* ``alpha_entropy_drop`` (nats): per search of ``norms`` (empty: every search), the mean over
  edges of ``log(K) - H(softmax(alpha_edge))`` at the last epoch (``alpha_entropy`` metrics; K
  candidate operations, ``log K`` the entropy of the uniform start), the smallest over
  searches. Near 0 the found cell is argmax noise around the uniform; gate with ``>=``.
  Strict in the number of searches: one stray search of many fails it.
* ``alpha_moved_share`` (%): the share of searches of ``norms`` (empty: every search) whose
  drop (the same mean over edges at the last epoch) is at least ``min_drop`` nats (default
  0.1); gate with ``>=`` (e.g. 90). Unlike the smallest drop it does not get stricter with
  more seeds.
* ``argmax_stable_epochs`` (epochs): per search, how many of the last epochs found the final
  cell (the trailing run of equal ``genotypes``), the smallest over searches; gate with ``>=``.

Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import mean
from typing import Any

from robust_sabn.nas.plugin import nas_norm
from robust_sabn.nas.space import OPS
from robust_sabn.suites.gates import GateMetric, Measured, Records

TASK = "nas"


def _searches(records: Records, norms: list[str]) -> list[Any]:
    wanted = {nas_norm(n, warn=False) for n in norms}
    return [r for _, r in records if r.task == TASK and r.kind == "search"
            and (not wanted or nas_norm(str(r.subject.get("norm")), warn=False) in wanted)]


def _run(record: Any) -> str:
    s = record.subject
    return str(s.get("run") or f"{s.get('algorithm')}-{s.get('norm')}-seed{s.get('seed')}")


def _entropy_drops(records: Records, norms: list[str]) -> dict[str, float]:
    """Per search of ``norms`` (run name -> nats): ``log(K) - H(softmax(alpha_edge))`` at the
    last epoch, mean over edges; searches without ``alpha_entropy`` are left out."""
    found = {}
    for record in _searches(records, norms):
        entropies = record.find("alpha_entropy")
        if entropies:
            last = max(int(m.condition.get("epoch") or 0) for m in entropies)
            found[_run(record)] = mean(math.log(len(OPS)) - m.value for m in entropies
                                       if int(m.condition.get("epoch") or 0) == last)
    return found


def _no_entropy() -> Measured:
    return Measured(None, "no search record holds alpha_entropy")


def alpha_entropy_drop(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    found = _entropy_drops(records, list(params["norms"]))
    if not found:
        return _no_entropy()
    per_run = ", ".join(f"{run} {value:.3g}" for run, value in sorted(found.items()))
    return Measured(min(found.values()), f"mean over edges, smallest over searches: {per_run}")


def alpha_moved_share(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring; the value in % of searches."""
    found = _entropy_drops(records, list(params["norms"]))
    if not found:
        return _no_entropy()
    least = float(params["min_drop"])
    below = sorted((run, value) for run, value in found.items() if value < least)
    named = ", ".join(f"{run} {value:.3g}" for run, value in below) or "none"
    return Measured(100 * (len(found) - len(below)) / len(found),
                    f"{len(found) - len(below)} of {len(found)} searches dropped >= {least:g} "
                    f"nats (mean over edges, last epoch); below: {named}")


def argmax_stable_epochs(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    found = {}
    for record in _searches(records, list(params["norms"])):
        genotypes = list(record.extras.get("genotypes") or [])
        if genotypes:
            same = next((i for i, g in enumerate(reversed(genotypes)) if g != genotypes[-1]),
                        len(genotypes))
            found[_run(record)] = same
    if not found:
        return Measured(None, "no search record holds its per-epoch genotypes")
    per_run = ", ".join(f"{run} {value}" for run, value in sorted(found.items()))
    return Measured(float(min(found.values())), f"smallest over searches: {per_run}")


GATE_METRICS = {metric.name: metric for metric in (
    GateMetric("alpha_entropy_drop", "nats", "alpha's entropy below the uniform at the last "
               "epoch, mean over edges (smallest over searches)", alpha_entropy_drop,
               {"norms": []}),
    GateMetric("alpha_moved_share", "%", "share of searches whose alpha entropy dropped at "
               "least min_drop nats below the uniform at the last epoch (mean over edges)",
               alpha_moved_share, {"norms": [], "min_drop": 0.1}),
    GateMetric("argmax_stable_epochs", "epochs", "last epochs that found the final cell "
               "(smallest over searches)", argmax_stable_epochs, {"norms": []}),
)}
