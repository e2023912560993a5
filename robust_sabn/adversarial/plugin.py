"""The adversarial task's registration (entry point ``robust_sabn.tasks``: ``adversarial``).

Its commands are robust-sabn's own ``train`` and ``eval``; its models are the classifiers of
:mod:`robust_sabn.models`. Torch-free.
"""

from robust_sabn.plugins import TaskPlugin
from robust_sabn.vocabulary import NORM_KINDS

PLUGIN = TaskPlugin(
    name="adversarial",
    summary="PGD adversarial training and evaluation (train, eval)",
    suite_task="robust_sabn.adversarial.suite_task:TASK",
    norms=NORM_KINDS,
    record_upgrade="robust_sabn.adversarial.record:upgrade_legacy",
)
