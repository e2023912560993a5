"""The project's shared words, torch-free: norm kinds and their labels, branch names, which
norm kinds each task accepts (declared by the task, see :mod:`robust_sabn.plugins`), and the
name of the clean "attack".

Code that needs layers imports them from :mod:`robust_sabn.nn`; code that only needs the words
(reports, suite files, the CLI's help) imports them from here.
"""

from __future__ import annotations

from robust_sabn.errors import UserInputError
from robust_sabn.plugins import task_plugin, task_plugins

NORM_KINDS: tuple[str, ...] = ("bn", "ccbn", "sabn", "auxbn", "saauxbn")
"""Norm kinds with batch statistics, usable in any classifier, in comparison order."""

STYLE_NORM_KINDS: tuple[str, ...] = ("adain", "saadain")
"""Norm kinds with instance statistics and a style input (style transfer)."""

STYLE_TRAINING_FEATURES = "training encoder"
STYLE_SECOND_FEATURES = "second encoder"
"""The ``features`` of a style validation loss: the encoder training used, or a second random
encoder it never saw (:mod:`robust_sabn.style.evaluate`)."""

NORM_LABELS: dict[str, str] = {
    "bn": "BN", "ccbn": "CCBN", "sabn": "SaBN", "auxbn": "AuxBN", "saauxbn": "SaAuxBN",
    "adain": "AdaIN", "saadain": "SaAdaIN",
}

CLEAN_BRANCH = "clean"
ADV_BRANCH = "adv"
SHARED_BRANCH = "shared"
"""The one branch of a single-branch model (plain BN): it stands for every branch."""
ADV_BRANCH_NAMES: tuple[str, ...] = (CLEAN_BRANCH, ADV_BRANCH)
"""Branch names of the adversarial-training layers: index 0 is clean, 1 is adversarial."""

CLEAN_ATTACK = "clean"
"""The ``attack`` condition of an accuracy measured on unperturbed inputs."""



def norm_label(kind: str | None) -> str:
    """``"saauxbn"`` -> ``"SaAuxBN"`` (a task's own norm kinds: the label it declares); unknown
    kinds unchanged, None -> ``"?"``."""
    if kind in NORM_LABELS:
        return NORM_LABELS[kind]
    for plugin in task_plugins().values():
        if kind in plugin.norm_labels:
            return plugin.norm_labels[kind]
    return kind or "?"


def check_norm(task: str, kind: str) -> str:
    """``kind`` if ``task`` accepts it.

    Raises:
        UserInputError: a norm kind that makes no sense for the task (the message lists the
            ones that do).
    """
    allowed = task_plugin(task).norms
    if kind not in allowed:
        raise UserInputError(
            f"norm {kind!r} makes no sense for the {task} task; choose one of "
            f"{', '.join(allowed)}"
        )
    return kind


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for 1: ``count(1, "seed") == "1 seed"``, ``"3 seeds"``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
