"""The toy task's row of the claims page (:mod:`robust_sabn.report.claims`): MeanCenter minus
BN, the final mse of the line fit, paired by seed, read from the ``train`` records."""

from __future__ import annotations

from robust_sabn.report.claims import not_run, paired_finding, suite_of
from robust_sabn.report.findings import Claim, Finding, Records

CLAIM = Claim("toy-meancenter", "toy", "MeanCenter minus BN: final mse of the line fit",
              "none: a toy claim (either norm lets a line reach the least-squares fit)", -1,
              "not run: the toy task has no paper setup", unit="mse")


def toy_findings(records: Records) -> list[Finding]:
    """One finding per suite holding train records of both norms."""
    by_suite: dict[str, dict[str, dict[int, float]]] = {}
    for path, record in records:
        if record.task == "toy" and record.kind == "train" and record.value("mse") is not None:
            norms = by_suite.setdefault(suite_of(path, record), {})
            norms.setdefault(str(record.subject["norm"]), {})[int(record.subject["seed"])] = (
                float(record.value("mse") or 0.0))
    found = [paired_finding(CLAIM, f"{suite}: line fit", norms["meancenter"], norms["bn"],
                            suite=suite, digits=6, unit=" mse")
             for suite, norms in sorted(by_suite.items()) if {"meancenter", "bn"} <= set(norms)]
    return found or [not_run(CLAIM, "not run: no toy train records with both norms")]
