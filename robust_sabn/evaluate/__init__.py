"""Evaluation: clean / PGD-k / AutoAttack accuracy per branch -> an evaluation record.

A record (``kind: "evaluation"``) holds ``model`` (spec dict or {"robustbench": name}),
``checkpoint``, ``checkpoint_sha256``, ``dataset``, ``split``, ``n_examples``, ``threat_model``,
``eps`` ([0, 1] pixel scale), ``norm``, ``seed``, ``batch_size``, ``attack_settings`` (per key:
steps, step size, AutoAttack version), ``wall_time_s`` (the forward passes and attacks, not the
loading) and ``branches``::

    {"adv": {"clean_accuracy": 0.81,
             "robust_accuracy": {"pgd-20": 0.52, "autoattack-standard": 0.48},
             "autoattack": {"version": "standard", "attacks": [...],
                            "cascade": [{"attack": "apgd-ce", "robust_accuracy": 0.50}, ...],
                            "flags": [...]},
             "time_s": {"clean": 0.1, "pgd-20": 3.0, "autoattack-standard": 40.0}}}

plus ``created``, ``command``, ``versions`` and ``hardware``. Accuracies are fractions in [0, 1].
"""

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
    "SHARED_BRANCH",
    "THREAT_MODELS",
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
