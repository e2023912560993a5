"""Validity gates in reports: check a suite's gates against its records and print them.

The gates are declared in the suite file (:mod:`robust_sabn.suites.gates`) and measured by the
suite's task. Every suite report carries a "Validity gates" section before its first result
section; the claims page reads the same results to mark a gated claim "not testable at this
scale". Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from robust_sabn.report.kit import markdown_table, write_markdown
from robust_sabn.suites.gates import GateResult, Records, evaluate_gates
from robust_sabn.suites.tasks import Suite, get_task

SECTION = "## Validity gates"


def suite_gates(suite: Suite, records: Records) -> list[GateResult]:
    """The suite's gates measured from ``records`` (the suite's own records)."""
    return evaluate_gates(suite.gates, get_task(suite.task), records)


def gates_section(results: Sequence[GateResult]) -> str:
    """``## Validity gates``: one row per gate with its measured value and whether it passed."""
    header = ["gate", "metric", "required", "measured", "passed", "how measured", "guards",
              "why"]
    rows = [[r.spec.name, r.spec.metric, r.requirement, r.value_text,
             "**yes**" if r.passed else "**no**", r.measured.detail,
             ", ".join(r.spec.guards) if r.spec.guards is not None else "every claim",
             r.spec.why or "-"] for r in results]
    failed = sum(not r.passed for r in results)
    verdict = (f"{failed} of {len(results)} gates failed: the claims they guard are not "
               "testable at this scale." if failed else f"All {len(results)} gates passed.")
    return "\n".join([
        SECTION, "",
        "Each gate is a measurable condition on the mechanism a claim rests on, declared in the "
        "suite file and measured from these records. A claim whose gate fails is **not "
        "testable at this scale** on the claims page, whatever its interval says. " + verdict,
        "", markdown_table(header, rows, align="lllrllll"), ""])


def insert_section(text: str, section: str) -> str:
    """``text`` (Markdown) with ``section`` inserted before its first ``## `` heading (at the
    end when there is none)."""
    lines = text.rstrip("\n").split("\n")
    at = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    return "\n".join([*lines[:at], *section.rstrip("\n").split("\n"), "", *lines[at:]]) + "\n"


def add_gates_section(report: Path, suite: Suite, records: Records) -> Path:
    """Insert the suite's gates, measured from ``records``, into the written ``report``
    (unchanged when the suite declares no gates)."""
    if not suite.gates:
        return report
    section = gates_section(suite_gates(suite, records))
    return write_markdown(report, insert_section(report.read_text(), section))
