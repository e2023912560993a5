"""The NAS task's registration (entry point ``robust_sabn.tasks``: ``nas``) and its norm
names. Torch-free."""

import warnings
from collections.abc import Mapping
from typing import Any

from robust_sabn.plugins import TaskPlugin

NAS_NORMS: tuple[str, ...] = ("bn", "bn_affine", "ccbn", "saauxbn")
"""Supernet norm kinds (what each means in a supernet: :mod:`robust_sabn.nas.ops`)."""

RENAMED_NAS_NORMS: dict[str, str] = {"sabn": "saauxbn"}
"""Old spelling -> name. The supernet's norm with statistics per branch and a shared sandwich
affine (the authors' NAS "SaBN") was spelled ``sabn``, which everywhere else means SaBN with
shared statistics; it is ``saauxbn``, as in the other tasks. The old spelling works until the
next release, with a deprecation line; records, configs and run folders that carry it are read
as the new name, silently."""


def nas_norm(kind: str, *, warn: bool = True) -> str:
    """``kind``, or its new name when it is a :data:`RENAMED_NAS_NORMS` spelling (with a
    ``FutureWarning`` deprecation line when ``warn``: the user typed it)."""
    new = RENAMED_NAS_NORMS.get(kind)
    if new is None:
        return kind
    if warn:
        warnings.warn(f"NAS norm {kind!r} is deprecated and goes in the next release; use "
                      f"{new!r} (statistics per branch, shared sandwich affine)", FutureWarning,
                      stacklevel=3)
    return new


def renamed_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Saved search settings (a config dict) with an old ``norm`` spelling under its name
    today, so that a run saved before the rename compares equal to the same run now."""
    out = dict(settings)
    if isinstance(out.get("norm"), str):
        out["norm"] = nas_norm(out["norm"], warn=False)
    return out

PLUGIN = TaskPlugin(
    name="nas",
    summary="Weight-sharing NAS on NAS-Bench-201: DARTS/GDAS with BN, CCBN or SaAuxBN.",
    suite_task="robust_sabn.nas.suite_task:TASK",
    cli="robust_sabn.nas.cli",
    forwarded=("train", "eval"),
    norms=NAS_NORMS,
    norm_labels={"bn_affine": "BN+affine"},
    model_families=("supernet",),
    model_modules=("robust_sabn.nas.network",),
)
