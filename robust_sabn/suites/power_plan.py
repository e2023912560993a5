"""``robust-sabn suite plan``: a task's own power plan (the adversarial task's, per metric and
branch, with seed and test-sample noise), else one from the claims page's findings of the
suite's or a pilot's records (:mod:`robust_sabn.report.finding_plan`)."""

from __future__ import annotations

from pathlib import Path

from robust_sabn.errors import UserInputError
from robust_sabn.suites.spec import Suite

DEFAULT_TARGET = 1.0
"""The effect sized for when neither --target nor the suite file's ``[effects]`` states one."""


def suite_power_plan(suite: Suite, suite_dir: Path, target: float | None = None,
                     pilot: Path | None = None) -> str:
    """The power plan of ``suite`` as Markdown, from ``pilot`` (a pilot's run or records
    folder) or else the suite's finished runs in ``suite_dir``.

    Args:
        target: the true difference to size for, in the claims' unit (points); None: per
            claim the suite file's ``[effects]``, else :data:`DEFAULT_TARGET`.

    Raises:
        UserInputError: no records to estimate from, or a task without comparisons.
    """
    from robust_sabn.suites.tasks import get_task

    task = get_task(suite.task)
    if hasattr(task, "power_plan"):
        points = DEFAULT_TARGET if target is None else target
        return task.power_plan(suite, suite_dir, points / 100.0, pilot=pilot)
    if not callable(getattr(task, "findings", None)):
        raise UserInputError(f"suite {suite.name}: the {suite.task} task has no comparisons "
                             "to plan for")
    from robust_sabn.report.finding_plan import plan_markdown, plan_rows
    from robust_sabn.report.records import read_unique

    source = pilot if pilot is not None else suite_dir
    if not source.is_dir():
        raise UserInputError(f"{suite.name} has no finished runs in {suite_dir}; run "
                             f"`robust-sabn suite run {suite.name}` (or a pilot, then --pilot) "
                             "first")
    records, _ = read_unique([source])
    effects = {} if target is not None else dict(suite.effects)
    statistic = str(getattr(suite.plan, "statistic", "mean"))
    rows = plan_rows(task.findings(records), effects,
                     DEFAULT_TARGET if target is None else target, statistic)
    return plan_markdown(rows, str(source), statistic)
