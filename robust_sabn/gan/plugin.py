"""The GAN task's registration (entry point ``robust_sabn.tasks``: ``gan``). Torch-free."""

from robust_sabn.plugins import TaskPlugin

GAN_NORMS: tuple[str, ...] = ("bn", "ccbn", "sabn")
"""Generator norm kinds: ``bn`` (unconditional control), ``ccbn``, ``sabn``."""

PLUGIN = TaskPlugin(
    name="gan",
    summary="Class-conditional GANs: CCBN vs SaBN generators, IS/FID.",
    suite_task="robust_sabn.gan.suite_task:TASK",
    cli="robust_sabn.gan.cli",
    top_level={"sample": "Write a class-by-row sample grid PNG, class names beside the rows, "
                         "each sample at least 64 pixels wide (conditional generators only)."},
    forwarded=("train", "eval"),
    norms=GAN_NORMS,
    model_families=("generator", "discriminator"),
    model_modules=("robust_sabn.gan.models",),
)
