"""How an adversarial evaluation is laid out in a result record (``ResultRecord``).

Metrics are ``accuracy`` rows, one per branch and attack::

    Metric(name="accuracy", value=0.53, n=500, branch="adv",
           condition={"attack": "pgd-20", "eps": 0.1})       # "attack": "clean" has no eps

``subject`` names what was evaluated (``model``, ``norm``, ``dataset``, ``split``,
``checkpoint``, ``checkpoint_sha256``); ``extras["settings"]`` how (``eps``, ``threat_model``,
``n_examples``, ``seed``, ``batch_size``, ``attack_settings``); ``extras["autoattack"]`` the
cascade and sanity flags per branch; ``extras["time_s"]`` seconds per branch and attack;
``extras["flags"]`` which examples each branch got right, per attack (``"clean"`` too)::

    {"n": 500, "encoding": "packbits-msb-base64",
     "branches": {"adv": {"clean": "//8=...", "pgd-20": "7f4=..."}}}

one bit per example in the evaluated order (example i is bit ``7 - i % 8`` of byte ``i // 8``,
the layout of ``numpy.packbits``), base64-encoded; :func:`example_flags` decodes them.
:func:`branch_results` gives the per-branch view that tables and the zoo read.

A training record (kind ``training``, :func:`training_record`) has ``subject`` ``{run_dir, model,
config}`` and everything else in ``extras`` (``final`` epoch row, ``best_score``, checkpoints,
``runtime``; ``diverged`` when it diverged). Version-1 records (robust-sabn 0.1) are read through
:func:`upgrade_legacy`, which the task's plugin registers. Torch-free.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Literal

from robust_sabn.artifacts.result import (
    Metric,
    ResultRecord,
    new_provenance,
)
from robust_sabn.vocabulary import CLEAN_ATTACK

TASK = "adversarial"
ACCURACY = "accuracy"
FLAGS_ENCODING = "packbits-msb-base64"


def encode_flags(flags: Sequence[bool]) -> str:
    """Per-example booleans packed 8 to a byte (first example in the highest bit), base64."""
    packed = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            packed[i // 8] |= 0x80 >> (i % 8)
    return base64.b64encode(bytes(packed)).decode("ascii")


def decode_flags(text: str, n: int) -> list[bool]:
    """The ``n`` booleans :func:`encode_flags` packed into ``text``.

    Raises:
        ValueError: ``text`` is not base64 of exactly ``ceil(n / 8)`` bytes.
    """
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"per-example flags are not base64: {exc}") from exc
    if len(packed) != (n + 7) // 8:
        raise ValueError(f"per-example flags hold {len(packed)} bytes, not the "
                         f"{(n + 7) // 8} of {n} examples")
    return [bool(packed[i // 8] & (0x80 >> (i % 8))) for i in range(n)]


def example_flags(record: ResultRecord) -> dict[tuple[str, str], list[bool]]:
    """Per (branch, attack key or ``"clean"``): whether each evaluated example was classified
    correctly after that attack, in the evaluated order; {} for a record without flags.

    Raises:
        ValueError: the record's flags are malformed.
    """
    stored = record.extras.get("flags") or {}
    if not stored:
        return {}
    if stored.get("encoding") != FLAGS_ENCODING:
        raise ValueError(f"unknown per-example flag encoding {stored.get('encoding')!r}")
    n = int(stored["n"])
    return {(branch, attack): decode_flags(text, n)
            for branch, per_attack in (stored.get("branches") or {}).items()
            for attack, text in per_attack.items()}


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
    ``robust_accuracy``, optional ``autoattack``, ``time_s`` and ``flags``: attack key or
    ``"clean"`` -> per-example booleans)."""
    extras: dict[str, Any] = {"settings": settings}
    autoattack = {b: r["autoattack"] for b, r in branches.items() if r.get("autoattack")}
    if autoattack:
        extras["autoattack"] = autoattack
    times = {b: r["time_s"] for b, r in branches.items() if r.get("time_s")}
    if times:
        extras["time_s"] = times
    flags = {b: {attack: encode_flags(bits) for attack, bits in r["flags"].items()}
             for b, r in branches.items() if r.get("flags")}
    if flags:
        extras["flags"] = {"n": settings["n_examples"], "encoding": FLAGS_ENCODING,
                           "branches": flags}
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
              "wall_time_s", "suite", "status")


def upgrade_legacy(data: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` upgraded if it is a version-1 record (a ``kind`` and no ``task``; the
    adversarial task's legacy reader, see :mod:`robust_sabn.plugins`), else None."""
    if "task" in data or "kind" not in data or data.get("schema_version", 1) != 1:
        return None
    return upgrade_v1(data)


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record (robust-sabn 0.1: evaluation, training or RobustBench benchmark) as
    a version-2 record dict."""
    provenance = {"created": data.get("created", ""), "command": data.get("command", ""),
                  "versions": data.get("versions") or {}, "hardware": data.get("hardware") or {},
                  "wall_time_s": data.get("wall_time_s")}
    upgraded: dict[str, Any] = {"schema_version": 2, "task": TASK, "kind": data.get("kind"),
                                "status": data.get("status", "ok"),
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
        upgraded["subject"] = {k: data[k] for k in _TRAINING_SUBJECT if k in data}
        upgraded["extras"] = {k: v for k, v in data.items()
                              if k not in _V1_COMMON and k not in upgraded["subject"]}
    return upgraded


_TRAINING_SUBJECT = ("run_dir", "model", "config")


def training_record(fields: dict[str, Any], *, wall_time_s: float,
                    status: Literal["ok", "diverged"]) -> ResultRecord:
    """A training record: ``run_dir``, ``model`` and ``config`` of ``fields`` are its subject,
    the rest its extras (the layout version-1 training records upgrade to)."""
    return ResultRecord(
        task=TASK, kind="training", status=status,
        subject={k: fields[k] for k in _TRAINING_SUBJECT if k in fields},
        extras={k: v for k, v in fields.items() if k not in _TRAINING_SUBJECT},
        provenance=new_provenance(wall_time_s))
