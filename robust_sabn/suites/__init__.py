"""Suites: declarative TOML definitions run end to end, resumably, by task-agnostic code.

    >>> from robust_sabn.suites import load_suite, run_suite, suite_status
    >>> suite = load_suite("suites/adversarial-fmnist.toml")
    >>> suite_status(suite).summary()      # "train 3/9, evaluate 10/36"
    >>> run_suite(suite)                   # does what is missing, renders the report

Each task kind lives in its own folder (``robust_sabn/<task>/suite_task.py``); see
:mod:`robust_sabn.suites.tasks` for the protocol and :mod:`robust_sabn.plugins` for adding one.
Suite names are looked up in ``--suites-dir``, ``$ROBUST_SABN_SUITES``, ``./suites`` and the
suites shipped with the package (:func:`suite_dirs`).
"""

from robust_sabn.suites.runner import (
    DEFAULT_OUT_ROOT,
    StepStatus,
    SuiteRunResult,
    SuiteStatus,
    run_suite,
    step_statuses,
    suite_status,
)
from robust_sabn.suites.spec import find_suite, list_suite_files, load_suite, suite_dirs
from robust_sabn.suites.tasks import (
    Step,
    Suite,
    SuiteTask,
    get_task,
    task_kinds,
)

__all__ = [
    "DEFAULT_OUT_ROOT",
    "Step",
    "StepStatus",
    "Suite",
    "SuiteRunResult",
    "SuiteStatus",
    "SuiteTask",
    "find_suite",
    "get_task",
    "list_suite_files",
    "load_suite",
    "run_suite",
    "step_statuses",
    "suite_dirs",
    "suite_status",
    "task_kinds",
]
