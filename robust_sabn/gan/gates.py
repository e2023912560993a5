"""The GAN task's gate metrics (``[[gates]]`` of its suite files).

* ``conditional_accuracy`` (%): how often the reference classifier assigns ``norm``'s samples
  the class they were generated for (``cond_acc`` of the evaluation records, ``features``
  condition), mean over seeds. Near 10 % the generator is not class-conditional, and CCBN vs
  SaBN is not what was compared; gate with ``>=``.
* ``reference_accuracy`` (%): the reference classifier's test accuracy (the ``reference``
  record's ``test_accuracy``); a weak judge blurs FID, IS and the conditional accuracy; gate
  with ``>=``.

Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import mean
from typing import Any

from robust_sabn.suites.gates import GateMetric, Measured, Records

TASK = "gan"
PERCENT = 100.0


def conditional_accuracy(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    norm, features = params["norm"], params["features"]
    found = {}
    for _, record in records:
        if (record.task == TASK and record.kind == "evaluation"
                and record.subject.get("norm") == norm):
            values = record.find("cond_acc", features=features)
            if values:
                found[str(record.subject.get("run"))] = PERCENT * values[0].value
    if not found:
        return Measured(None, f"no {norm} evaluation record holds cond_acc ({features} "
                              "features)")
    per_run = ", ".join(f"{run} {value:.1f} %" for run, value in sorted(found.items()))
    return Measured(mean(found.values()), f"mean over {len(found)} runs: {per_run}")


def reference_accuracy(records: Records, params: Mapping[str, Any]) -> Measured:
    """See the module docstring."""
    found = [PERCENT * m.value for _, r in records if r.task == TASK and r.kind == "reference"
             for m in r.find("test_accuracy")]
    if not found:
        return Measured(None, "no reference classifier record")
    return Measured(min(found), f"test accuracy of the reference classifier "
                                f"({len(found)} record{'s' if len(found) != 1 else ''})")


GATE_METRICS = {metric.name: metric for metric in (
    GateMetric("conditional_accuracy", "%", "reference classifier's accuracy on norm's "
               "samples for their conditioning class (mean over seeds)", conditional_accuracy,
               {"norm": "ccbn", "features": "classifier"}),
    GateMetric("reference_accuracy", "%", "the reference classifier's test accuracy",
               reference_accuracy),
)}
