"""The NAS task's registration (entry point ``robust_sabn.tasks``: ``nas``). Torch-free."""

from robust_sabn.plugins import TaskPlugin

NAS_NORMS: tuple[str, ...] = ("bn", "bn_affine", "ccbn", "sabn")
"""Supernet norm kinds (what each means in a supernet: :mod:`robust_sabn.nas.ops`)."""

PLUGIN = TaskPlugin(
    name="nas",
    summary="Weight-sharing NAS on NAS-Bench-201: DARTS/GDAS with BN, CCBN or SaBN.",
    suite_task="robust_sabn.nas.suite_task:TASK",
    cli="robust_sabn.nas.cli",
    forwarded=("train", "eval"),
    norms=NAS_NORMS,
    norm_labels={"bn_affine": "BN+affine"},
    model_families=("supernet",),
    model_modules=("robust_sabn.nas.network",),
)
