"""Validity gates: measurable conditions on the mechanism a claim rests on, declared in the
suite file and checked from the suite's records.

A suite file declares its gates in ``[[gates]]`` tables (syntax: ``suites/README.md``)::

    [[gates]]
    name = "auxbn-clean-branch"          # unique in the file
    metric = "clean_branch_gap"          # one of the task's gate metrics
    params = { norm = "auxbn" }          # the metric's parameters (optional)
    compare = "<="                       # >=, >, <= or <
    threshold = 2.0                      # in the metric's unit
    guards = ["adv-clean-auxbn"]         # claim keys it guards (default: all the task's)
    why = "the clean branch has specialised"

The task computes the metric (its ``gate_metrics``: name -> :class:`GateMetric`) from the
suite's records; a claim row of the suite whose gate fails is "not testable at this scale"
on the claims page. Torch-free; this module never imports the report package.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from robust_sabn.suites.checked import CheckedTable

if TYPE_CHECKING:
    from robust_sabn.artifacts.result import ResultRecord

Records = Sequence[tuple[Path, "ResultRecord"]]
Compare = Literal[">=", ">", "<=", "<"]
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


class GateSpec(BaseModel):
    """One ``[[gates]]`` table of a suite file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(strict=True, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    metric: Annotated[str, Field(strict=True)]
    params: dict[str, Any] = Field(default_factory=dict)
    compare: Compare
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    guards: tuple[Annotated[str, Field(strict=True)], ...] | None = None
    why: Annotated[str, Field(strict=True)] = ""

    def guards_claim(self, key: str) -> bool:
        """Whether the gate guards the claim ``key`` (no ``guards``: every claim)."""
        return self.guards is None or key in self.guards


@dataclass(frozen=True)
class Measured:
    """A gate metric's value from the records (``None``: not measurable) and how it was
    obtained, in words (``"control 91.20 % vs AuxBN clean branch 89.00 %, 5 seeds"``)."""

    value: float | None
    detail: str


@dataclass(frozen=True)
class GateMetric:
    """A quantity a task computes from a suite's records for a gate.

    Attributes:
        name: the ``metric`` value of a ``[[gates]]`` table.
        unit: what ``threshold`` and the value are in (``points``, ``nats``, ``epochs``, ``%``).
        description: one line for the documentation and the report.
        measure: ``measure(records, params)``: the value from the suite's records.
        params: the parameters it takes, with their defaults.
    """

    name: str
    unit: str
    description: str
    measure: Callable[[Records, Mapping[str, Any]], Measured]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    """A gate checked against records: passed only when measured and the comparison holds."""

    spec: GateSpec
    unit: str
    measured: Measured

    @property
    def passed(self) -> bool:
        """Whether the value exists and ``value <compare> threshold`` holds."""
        value = self.measured.value
        return value is not None and math.isfinite(value) and _OPERATORS[self.spec.compare](
            value, self.spec.threshold)

    @property
    def value_text(self) -> str:
        """``"2.41 points"`` or ``"not measured"``."""
        value = self.measured.value
        return "not measured" if value is None else f"{value:.3g} {self.unit}"

    @property
    def requirement(self) -> str:
        """``"<= 2 points"``."""
        return f"{self.spec.compare} {self.spec.threshold:g} {self.unit}"

    def summary(self) -> str:
        """``"gate: auxbn-clean-branch, clean_branch_gap <= 2 points, measured 2.41 points"``."""
        return (f"gate: {self.spec.name}, {self.spec.metric} {self.requirement}, measured "
                f"{self.value_text}")


def task_gate_metrics(task: Any) -> Mapping[str, GateMetric]:
    """The task's gate metrics (its optional ``gate_metrics`` attribute; none without it)."""
    return getattr(task, "gate_metrics", None) or {}


def task_claim_keys(task: Any) -> list[str]:
    """The keys of the claims the task owns (its optional ``claims`` attribute)."""
    return [claim.key for claim in getattr(task, "claims", None) or ()]


def parse_gates(doc: CheckedTable, task: Any) -> tuple[GateSpec, ...]:
    """The ``[[gates]]`` tables of a suite file, checked against the task's gate metrics
    (name, parameters) and claims (``guards``).

    Raises:
        UserInputError: a bad key or value, naming the file and the key.
    """
    metrics = task_gate_metrics(task)
    claim_keys = task_claim_keys(task)
    gates: list[GateSpec] = []
    for table in doc.tables("gates"):
        gate = table.validate(GateSpec)
        if gate.metric not in metrics:
            known = ", ".join(metrics) or "none (this task declares no gate metrics)"
            table.fail("metric", f"unknown gate metric {gate.metric!r}; choose one of {known}")
        params = CheckedTable(doc.file, gate.params, table.key("params"))
        params.only(metrics[gate.metric].params)
        for key, value in gate.params.items():
            default = metrics[gate.metric].params[key]
            if type(value) is not type(default):
                params.fail(key, f"expected {type(default).__name__} like {default!r}, got "
                                 f"{value!r}")
        for i, key in enumerate(gate.guards or ()):
            if key not in claim_keys:
                table.fail(f"guards[{i}]", f"unknown claim {key!r}; choose one of "
                           f"{', '.join(claim_keys) or 'none (this task owns no claims)'}")
        if gate.name in [g.name for g in gates]:
            table.fail("name", f"{gate.name!r} names another gate too; names must differ")
        gates.append(gate)
    return tuple(gates)


def evaluate_gates(gates: Sequence[GateSpec], task: Any, records: Records
                   ) -> list[GateResult]:
    """Each gate measured by the task from ``records`` (the suite's records)."""
    metrics = task_gate_metrics(task)
    results = []
    for gate in gates:
        metric = metrics[gate.metric]
        params = {**metric.params, **gate.params}
        results.append(GateResult(gate, metric.unit, metric.measure(records, params)))
    return results


def parse_effects(doc: CheckedTable, task: Any) -> dict[str, float]:
    """The ``[effects]`` table: claim key -> the smallest effect (in the claim's unit, a
    magnitude) the suite is sized to detect with 80 % power; the claims page states each row's
    power for it.

    Raises:
        UserInputError: an unknown claim key or a value that is not a number >= 0.
    """
    table = doc.table("effects")
    claim_keys = task_claim_keys(task)
    for key in table.data:
        if key not in claim_keys:
            table.fail(key, f"unknown claim; choose one of "
                       f"{', '.join(claim_keys) or 'none (this task owns no claims)'}")
    return {key: float(table.number(key) or 0.0) for key in table.data}
