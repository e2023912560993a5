"""The style-transfer task's registration (entry point ``robust_sabn.tasks``: ``style``).
Torch-free."""

from robust_sabn.plugins import TaskPlugin
from robust_sabn.vocabulary import STYLE_NORM_KINDS

PLUGIN = TaskPlugin(
    name="style",
    summary="Arbitrary style transfer: AdaIN vs SaAdaIN with a frozen VGG-19 encoder.",
    suite_task="robust_sabn.style.suite_task:TASK",
    cli="robust_sabn.style.cli",
    top_level={"stylize": "Stylize one content image with one style image."},
    forwarded=("train", "eval"),
    norms=STYLE_NORM_KINDS,
    model_families=("encoder", "decoder"),
    model_modules=("robust_sabn.style.encoder", "robust_sabn.style.network"),
)
