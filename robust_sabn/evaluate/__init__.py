"""Evaluation: clean / PGD-k / AutoAttack accuracy per branch -> an evaluation record.

:func:`evaluate_model` and :func:`evaluate_checkpoint` return a
:class:`~robust_sabn.artifacts.result.ResultRecord` (task ``adversarial``, kind ``evaluation``)
whose ``accuracy`` metrics are one per branch and attack (``condition={"attack": "pgd-20",
"eps": 0.1}``; ``"clean"`` for unperturbed inputs), with the AutoAttack cascade and sanity flags
in ``extras["autoattack"]``; see :mod:`robust_sabn.adversarial.record` for the layout and
:func:`robust_sabn.adversarial.record.branch_results` for a per-branch view::

    >>> record = evaluate_checkpoint("runs/mine/best.pt", n_examples=500)
    >>> record.value("accuracy", "adv", attack="autoattack-standard")
    0.498
    >>> config = EvalConfig(attacks=("pgd",), eps=8 / 255, n_examples=500)
    >>> record = evaluate_model(model, data, config, device="auto")

Accuracies are fractions in [0, 1]; eps is on the [0, 1] pixel scale.
"""

from robust_sabn.evaluate.config import EVAL_DEFAULTS, EvalConfig
from robust_sabn.evaluate.evaluator import (
    DEFAULT_ATTACKS,
    LabelledImages,
    as_unit_float,
    evaluate_checkpoint,
    evaluate_model,
)
from robust_sabn.evaluate.options import SHARED_BRANCH, check_eps, resolve_branches
from robust_sabn.evaluate.table import render_cascade_table, render_evaluation_table
from robust_sabn.units import THREAT_MODELS, format_eps, parse_eps

__all__ = [
    "DEFAULT_ATTACKS",
    "EVAL_DEFAULTS",
    "SHARED_BRANCH",
    "THREAT_MODELS",
    "EvalConfig",
    "LabelledImages",
    "as_unit_float",
    "check_eps",
    "evaluate_checkpoint",
    "evaluate_model",
    "format_eps",
    "parse_eps",
    "render_cascade_table",
    "render_evaluation_table",
    "resolve_branches",
]
