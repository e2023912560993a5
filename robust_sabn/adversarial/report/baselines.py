"""RobustBench baselines in reports: zoo models evaluated beside ours, one row each.

An evaluation record whose ``model`` is ``{"robustbench": NAME}`` (``robust-sabn eval
robustbench:NAME``, or a suite's ``[[baselines]]``) is a *baseline*: its records are merged by
(dataset, threat model, NAME), it gets a row of its own after our models, labelled with the
suite's ``label`` or ``NAME (RobustBench)`` (a label without "RobustBench" gets it appended),
it shows one value (one model: no mean ± std over seeds), and it takes no part in the bold
"best per branch". A zoo model has one branch, so, as a plain-BN model, it stands in every branch
column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robust_sabn.artifacts.result import ResultRecord

BASELINE_MARK = "RobustBench"


@dataclass(frozen=True)
class BaselineIdentity:
    """Who a baseline record is about: ``key`` groups its records, ``name`` is the zoo name."""

    key: str
    name: str
    label: str


def baseline_label(name: str, label: str | None = None) -> str:
    """The row label: ``label`` (marked "(RobustBench)" unless it says so) or
    ``"NAME (RobustBench)"``."""
    if not label:
        return f"{name} ({BASELINE_MARK})"
    return label if BASELINE_MARK in label else f"{label} ({BASELINE_MARK})"


def baseline_of(record: ResultRecord) -> BaselineIdentity | None:
    """The baseline a record is about, or ``None`` for a record of one of our checkpoints."""
    model = record.subject.get("model")
    if not isinstance(model, dict) or "robustbench" not in model:
        return None
    name = str(model["robustbench"])
    suite = record.suite or {}
    recorded = (suite.get("baseline") or {}).get("label")
    threat_model = (record.extras.get("settings") or {}).get("threat_model", "Linf")
    key = f"robustbench:{record.subject.get('dataset', '?')}/{threat_model}/{name}"
    return BaselineIdentity(key=key, name=name, label=baseline_label(name, recorded))


def baseline_note(count: int) -> str:
    """The report's sentence on its baseline rows (empty without baselines)."""
    if not count:
        return ""
    rows = "row" if count == 1 else "rows"
    return (f" {count} {BASELINE_MARK} baseline {rows} (zoo models loaded through "
            "robustbench.utils.load_model, attacked with the same settings on the same "
            "examples): one model each, so one value and no std; a single-branch model, so the "
            "same value in every branch column; never in bold.")
