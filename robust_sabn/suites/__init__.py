"""Suites: declarative TOML definitions (top-level ``suites/``) run end to end, resumably.

    >>> from robust_sabn.suites import load_suite, run_suite, suite_status
    >>> suite = load_suite("suites/adversarial-fmnist.toml")
    >>> suite_status(suite)            # runs and evaluations done / total
    >>> run_suite(suite)               # trains and evaluates what is missing, renders the report

A suite may list RobustBench zoo models as baselines (``[[baselines]]``), evaluated like the runs
and reported as rows of their own. Task kinds are registered with :func:`register_task`;
``"adversarial"`` is built in.
"""

from robust_sabn.suites import adversarial  # noqa: F401  (registers the "adversarial" task)
from robust_sabn.suites.adversarial import eps_tag, evaluation_path, train_from_fields
from robust_sabn.suites.adversarial_plan import AdversarialPlan, AdversarialRun, EvaluationSpec
from robust_sabn.suites.baselines import BaselineSpec
from robust_sabn.suites.runner import (
    DEFAULT_OUT_ROOT,
    SuiteRunResult,
    SuiteStatus,
    run_suite,
    suite_status,
)
from robust_sabn.suites.spec import DEFAULT_SUITES_DIR, find_suite, list_suite_files, load_suite
from robust_sabn.suites.tasks import Step, Suite, SuiteTask, get_task, register_task, task_kinds

__all__ = [
    "DEFAULT_OUT_ROOT",
    "DEFAULT_SUITES_DIR",
    "AdversarialPlan",
    "AdversarialRun",
    "BaselineSpec",
    "EvaluationSpec",
    "Step",
    "Suite",
    "SuiteRunResult",
    "SuiteStatus",
    "SuiteTask",
    "eps_tag",
    "evaluation_path",
    "find_suite",
    "get_task",
    "list_suite_files",
    "load_suite",
    "register_task",
    "run_suite",
    "suite_status",
    "task_kinds",
    "train_from_fields",
]
