"""How an adversarial evaluation is laid out in a result record (``ResultRecord``).

Metrics are ``accuracy`` rows, one per branch and attack::

    Metric(name="accuracy", value=0.53, n=500, branch="adv",
           condition={"attack": "pgd-20", "eps": 0.1})       # "attack": "clean" has no eps

``subject`` names what was evaluated (``model``, ``norm``, ``dataset``, ``split``,
``checkpoint``, ``checkpoint_sha256``); ``extras["settings"]`` how (``eps``, ``threat_model``,
``n_examples``, ``seed``, ``batch_size``, ``attack_settings``); ``extras["autoattack"]`` the
cascade and sanity flags per branch; ``extras["time_s"]`` seconds per branch and attack.
:func:`branch_results` gives the per-branch view that tables and the zoo read. Torch-free.
"""

from __future__ import annotations

from typing import Any

from robust_sabn.artifacts.result import Metric, ResultRecord, new_provenance
from robust_sabn.vocabulary import CLEAN_ATTACK

TASK = "adversarial"
ACCURACY = "accuracy"


def branch_metrics(branches: dict[str, dict[str, Any]], *, eps: float, n: int) -> list[Metric]:
    """Accuracy metrics of per-branch results ``{"clean_accuracy", "robust_accuracy": {key:
    value}}`` measured on ``n`` examples at radius ``eps``."""
    metrics: list[Metric] = []
    for branch, result in branches.items():
        metrics.append(Metric(name=ACCURACY, value=float(result["clean_accuracy"]), n=n,
                              branch=branch, condition={"attack": CLEAN_ATTACK}))
        for key, value in (result.get("robust_accuracy") or {}).items():
            metrics.append(Metric(name=ACCURACY, value=float(value), n=n, branch=branch,
                                  condition={"attack": key, "eps": float(eps)}))
    return metrics


def evaluation_record(*, subject: dict[str, Any], settings: dict[str, Any],
                      branches: dict[str, dict[str, Any]], wall_time_s: float | None
                      ) -> ResultRecord:
    """A new evaluation record from per-branch results (``clean_accuracy``,
    ``robust_accuracy``, optional ``autoattack`` and ``time_s``)."""
    extras: dict[str, Any] = {"settings": settings}
    autoattack = {b: r["autoattack"] for b, r in branches.items() if r.get("autoattack")}
    if autoattack:
        extras["autoattack"] = autoattack
    times = {b: r["time_s"] for b, r in branches.items() if r.get("time_s")}
    if times:
        extras["time_s"] = times
    return ResultRecord(
        task=TASK, kind="evaluation", subject=subject,
        metrics=branch_metrics(branches, eps=settings["eps"], n=settings["n_examples"]),
        extras=extras, provenance=new_provenance(wall_time_s),
    )


def branch_results(record: ResultRecord) -> dict[str, dict[str, Any]]:
    """Per branch, in first-seen order: ``clean_accuracy``, ``robust_accuracy`` (attack key ->
    fraction), and ``autoattack`` (cascade, flags) when AutoAttack ran on it."""
    view: dict[str, dict[str, Any]] = {}
    for metric in record.find(ACCURACY):
        entry = view.setdefault(metric.branch or "shared", {"robust_accuracy": {}})
        attack = str(metric.condition.get("attack"))
        if attack == CLEAN_ATTACK:
            entry["clean_accuracy"] = metric.value
        else:
            entry["robust_accuracy"][attack] = metric.value
    for branch, autoattack in (record.extras.get("autoattack") or {}).items():
        if branch in view:
            view[branch]["autoattack"] = autoattack
    return view


def settings_of(record: ResultRecord) -> dict[str, Any]:
    """``extras["settings"]`` of an evaluation record (eps, threat_model, n_examples ...)."""
    return dict(record.extras.get("settings") or {})


_V1_SUBJECT = ("model", "norm", "dataset", "split", "checkpoint", "checkpoint_sha256")
_V1_SETTINGS = ("eps", "threat_model", "n_examples", "seed", "batch_size", "attack_settings")
_V1_COMMON = ("kind", "schema_version", "created", "command", "versions", "hardware",
              "wall_time_s", "suite")


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record (robust-sabn 0.1: evaluation, training or RobustBench benchmark) as
    a version-2 record dict."""
    provenance = {"created": data.get("created", ""), "command": data.get("command", ""),
                  "versions": data.get("versions") or {}, "hardware": data.get("hardware") or {},
                  "wall_time_s": data.get("wall_time_s")}
    upgraded: dict[str, Any] = {"schema_version": 2, "task": TASK, "kind": data.get("kind"),
                                "provenance": provenance, "suite": data.get("suite")}
    if data.get("kind") == "evaluation":
        branches = data.get("branches") or {}
        upgraded["subject"] = {k: data.get(k) for k in _V1_SUBJECT}
        settings = {k: data.get(k) for k in _V1_SETTINGS}
        upgraded["metrics"] = [m.model_dump() for m in branch_metrics(
            branches, eps=float(data.get("eps") or 0.0), n=int(data.get("n_examples") or 0))]
        extras: dict[str, Any] = {"settings": settings}
        for part in ("autoattack", "time_s"):
            found = {b: r[part] for b, r in branches.items() if r.get(part)}
            if found:
                extras[part] = found
        upgraded["extras"] = extras
    else:
        upgraded["subject"] = {k: data[k] for k in ("run_dir", "model", "config") if k in data}
        upgraded["extras"] = {k: v for k, v in data.items()
                              if k not in _V1_COMMON and k not in upgraded["subject"]}
    return upgraded
