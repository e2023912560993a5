"""The toy task's registration, declared in ``entry_points.txt`` beside it (what a package's
``[project.entry-points."robust_sabn.tasks"]`` table installs)."""

from robust_sabn.plugins import TaskPlugin

TOY_NORMS = ("bn", "meancenter")
"""``bn`` (normalise to zero mean and unit variance) and the toy's own ``meancenter``."""

PLUGIN = TaskPlugin(
    name="toy",
    summary="A toy task: seeded samples and a tiny line fit.",
    suite_task="toy_task.suite_task:TASK",
    cli="toy_task.cli",
    forwarded=("train",),
    norms=TOY_NORMS,
    norm_labels={"meancenter": "MeanCenter"},
    model_families=("toy",),
    model_modules=("toy_task.model",),
)
