"""The claims page: every claim of the SaBN paper, the paper's number, ours with its CI, its
validity gate, its power, a verdict.

``robust-sabn claims -o reports/claims.md`` reads every result record under the given folders
(default ``records/``) and asks each task kind that owns claims (the optional ``claims`` and
``findings`` members of :class:`~robust_sabn.suites.tasks.SuiteTask`) what its records say
about them. This module knows no task by name. A finding is a paired difference over seeds
(row minus reference, the sign the paper claims noted in the claim) with its 95 % Student-t
interval (:mod:`robust_sabn.report.stats`), and a verdict:

* ``reproduced``: the interval excludes 0 on the paper's side;
* ``contradicted``: the interval excludes 0 on the other side;
* ``not resolved``: the interval contains 0 (or fewer than two paired seeds);
* ``not testable at this scale``: a validity gate of the finding's suite that guards the claim
  failed (:mod:`robust_sabn.suites.gates`); the row names the gate and its measured value;
* ``not run``: no records for that setup; the row says what is missing.

The first three are tests; the page counts tests, not rows. Each row also states its power: the
paired t-test's power at alpha = 0.05 for the effect its suite file states (``[effects]``), and
the effect it detects with 80 % power. A suite file may declare that its paired rows test the
median instead (``statistic = "median"``, :data:`STATISTICS`; a task's plan carries it as
``plan.statistic``): the median of the per-seed differences with the sign test's
distribution-free interval and the sign test's power (:mod:`robust_sabn.report.median_rows`),
which a rare degenerate run does not dominate. A verdict is about the direction of the
effect in *our* setup (dataset, model, schedule), which the row names; it is not the paper's
number.
Torch-free.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from statistics import stdev
from typing import TYPE_CHECKING, Any

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.report.findings import (
    MEAN,
    MEDIAN,
    NOT_RUN,
    NOT_TESTABLE,
    TESTS,
    VERDICTS,
    Claim,
    Finding,
    Key,
    Records,
    power_words,
    verdict_of,
)
from robust_sabn.vocabulary import count

if TYPE_CHECKING:
    from robust_sabn.suites.gates import GateResult


def paired_finding(claim: Claim, setup: str, row: Mapping[int, float],
                   reference: Mapping[int, float], *, suite: str | None = None,
                   scale: float = 1.0, digits: int = 2, unit: str = "") -> Finding:
    """The claim tested by ``row - reference`` paired over the seeds both have (values by
    seed), shown times ``scale`` with ``unit``; fewer than two shared seeds is not resolved."""
    from robust_sabn.report.stats import format_difference, paired_t_interval

    seeds = sorted(set(row) & set(reference))
    if not seeds:
        return Finding(claim, setup, "no seed has both runs", NOT_RUN, suite)
    a, b = [row[s] for s in seeds], [reference[s] for s in seeds]
    interval = paired_t_interval(a, b)
    means = (f" ({scale * sum(a) / len(a):.{digits}f} vs {scale * sum(b) / len(b):.{digits}f}"
             f"{unit}, {count(len(seeds), 'seed')})")
    text = format_difference(interval, scale, digits) + means
    differences = tuple(scale * (x - y) for x, y in zip(a, b, strict=True))
    return Finding(claim, setup, text, verdict_of(interval, claim.sign), suite, differences,
                   means, digits)


def not_run(claim: Claim, why: str) -> Finding:
    """A ``not run`` row saying what is missing."""
    return Finding(claim, "-", why, NOT_RUN)


def paper_setup_row(claim: Claim, findings: Sequence[Finding], ran_paper_setup: bool
                    ) -> list[Finding]:
    """``findings``, plus a ``not run`` row for the paper's own setup when none of them ran
    it."""
    return list(findings) if ran_paper_setup else [*findings, not_run(claim, claim.paper_setup)]


def suite_of(path: Path, record: ResultRecord) -> str:
    """The suite a record belongs to: its ``suite["name"]``, else its run folder's parent."""
    name = (record.suite or {}).get("name")
    return str(name) if name else path.parent.parent.name


Reader = Callable[[Path, ResultRecord], list[tuple[Key, str, int, float]]]


def values_by_setup(records: Records, task: str, read: Reader, *,
                    kind: str = "evaluation") -> dict[Key, dict[str, dict[int, float]]]:
    """setup -> norm -> seed -> value, from ``read(path, record)`` rows (setup, norm, seed,
    value) of the task's records of ``kind`` (evaluation or training); the setup's first
    element is the suite.

    Raises:
        UserInputError: two records give a value for the same setup, norm and seed (a stale
            copy of a run); the message names both files.
    """
    from robust_sabn.errors import UserInputError

    found: dict[Key, dict[str, dict[int, float]]] = {}
    source: dict[tuple[Key, str, int], Path] = {}
    for path, record in records:
        if record.task == task and record.kind == kind and record.status == "ok":
            for setup, norm, seed, value in read(path, record):
                first = source.setdefault((setup, norm, seed), path)
                if first != path:
                    raise UserInputError(
                        f"two records for suite {setup[0]}, {norm}, seed {seed}: {first} and "
                        f"{path}; delete the stale one (or read the folders separately)")
                found.setdefault(setup, {}).setdefault(norm, {})[seed] = value
    return found


def setup_findings(claim: Claim, values: dict[Key, dict[str, dict[int, float]]], row: str,
                   reference: str, setup_text: Callable[[Key], str], ran_paper: bool,
                   missing: str, **display: Any) -> list[Finding]:
    """One paired finding per setup holding both ``row`` and ``reference`` values (plus the
    paper-setup row), or one ``not run`` row saying what is ``missing``."""
    found = [paired_finding(claim, setup_text(setup), norms[row], norms[reference],
                            suite=str(setup[0]), **display)
             for setup, norms in values.items() if norms.get(row) and norms.get(reference)]
    if not found:
        return [not_run(claim, f"not run: {missing}; "
                        + claim.paper_setup.removeprefix("not run: "))]
    return paper_setup_row(claim, found, ran_paper)


MetricReader = Callable[[str, Path, ResultRecord], list[tuple[Key, str, int, float]]]


def metric_findings(records: Records, task: str, claim_metrics: Iterable[tuple[Claim, str]],
                    read: MetricReader, *, row: str, reference: str,
                    setup_text: Callable[[Key], str], paper_setup: Callable[[Key], bool],
                    missing: str, kind: str = "evaluation", **display: Any) -> list[Finding]:
    """Per claim, its metric's :func:`setup_findings`: ``claim_metrics`` pairs each claim with
    the metric that tests it, ``read(metric, path, record)`` gives a record's rows (setup, norm,
    seed, value) of that metric from the records of ``kind`` (see :func:`values_by_setup`), and
    ``paper_setup(setup)`` says whether a setup is the paper's own."""
    rows = []
    for claim, metric in claim_metrics:
        values = values_by_setup(records, task, partial(read, metric), kind=kind)
        rows += setup_findings(claim, values, row, reference, setup_text,
                               any(paper_setup(setup) for setup in values), missing, **display)
    return rows


def _task_members() -> list[Any]:
    """Every task kind that owns claims (has ``findings``)."""
    from robust_sabn.suites.tasks import get_task, task_kinds

    tasks = [get_task(kind) for kind in task_kinds()]
    return [task for task in tasks if callable(getattr(task, "findings", None))]


def collect_findings(records: Records) -> list[Finding]:
    """Every claim-owning task's findings from ``records``, task kinds in name order."""
    return [f for task in _task_members() for f in task.findings(records)]


def power_text(finding: Finding, effect: float | None) -> str:
    """The row's power in words: at the suite's stated effect and the effect it detects with
    80 % power (paired t, two-sided, alpha 0.05; a median row: the sign test's)."""
    from robust_sabn.report.power import effect_for_power, paired_t_power

    if finding.statistic == MEDIAN:
        from robust_sabn.report.median_rows import sign_test_power_text

        return sign_test_power_text(finding, effect)
    d, unit = finding.differences, finding.claim.unit
    if len(d) < 2:
        return "no paired t-test (fewer than 2 paired seeds)"
    sd = stdev(d)
    return power_words(effect, unit, lambda e: paired_t_power(e, sd, len(d)),
                       f"{effect_for_power(sd, len(d)):.3g}", f"sd {sd:.3g}, {len(d)} seeds")


def apply_gates(findings: Sequence[Finding], gates: Mapping[str, Sequence[GateResult]],
                effects: Mapping[str, Mapping[str, float]]) -> list[Finding]:
    """Findings with their gate and power filled in; a test whose suite has a failing gate
    that guards its claim becomes ``not testable at this scale``.

    Args:
        gates: suite name -> its gates measured from its records.
        effects: suite name -> claim key -> the effect the suite is sized for.
    """
    out = []
    for f in findings:
        if f.suite is None or f.verdict == NOT_RUN:
            out.append(f)
            continue
        guarding = [g for g in gates.get(f.suite, ()) if g.spec.guards_claim(f.claim.key)]
        gate = "; ".join(f"{g.spec.name}: {'passed' if g.passed else 'FAILED'} "
                         f"({g.spec.metric} {g.value_text}, needs {g.requirement})"
                         for g in guarding) or "none declared"
        power = (f.power if f.power != "-"
                 else power_text(f, effects.get(f.suite, {}).get(f.claim.key)))
        failed = [g for g in guarding if not g.passed]
        if failed:
            why = "; ".join(g.summary() for g in failed)
            f = replace(f, verdict=NOT_TESTABLE, ours=f"{f.ours} ({why})")
        out.append(replace(f, gate=gate, power=power))
    return out


SuiteChecks = tuple[dict[str, list["GateResult"]], dict[str, dict[str, float]], dict[str, str],
                    list[str]]


def _suite_checks(records: Records, suites_dir: Path | None) -> SuiteChecks:
    """Per suite named by the records: its gates measured from its records, its stated
    effects and the statistic its paired rows test, from its suite file; one note per suite
    whose file is not found."""
    from robust_sabn.errors import UserInputError
    from robust_sabn.report.gates import suite_gates
    from robust_sabn.suites.spec import find_suite, load_suite

    by_suite: dict[str, list[tuple[Path, ResultRecord]]] = {}
    for path, record in records:
        by_suite.setdefault(suite_of(path, record), []).append((path, record))
    gates, effects, statistics, notes = {}, {}, {}, []
    for name, own in sorted(by_suite.items()):
        try:
            path = find_suite(name, suites_dir)
        except UserInputError:
            notes.append(f"suite {name}: no suite file of that name, so its gates and effects "
                         "were not checked")
            continue
        try:
            suite = load_suite(path)
        except UserInputError as exc:
            notes.append(f"suite {name}: its gates and effects were not checked: {exc}")
            continue
        gates[name] = suite_gates(suite, own)
        effects[name] = dict(suite.effects)
        statistics[name] = str(getattr(suite.plan, "statistic", MEAN))
    return gates, effects, statistics, notes


def render_claims(findings: Sequence[Finding], *, records: Records, command: str,
                  warnings: Sequence[str] = ()) -> str:
    """The claims page's Markdown: the tests counted, one table row per finding, the footer."""
    from robust_sabn.report.kit import markdown_table, provenance_footer, warnings_section
    from robust_sabn.report.multiplicity import multiplicity_text
    from robust_sabn.report.power import ALPHA, POWER

    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    tests = sum(counts[v] for v in TESTS)
    header = ["claim (row minus reference)", "paper", "our setup", "ours [95 % CI]", "gate",
              "power", "verdict"]
    rows = [[f.claim.statement, f.claim.paper, f.setup, f.ours, f.gate, f.power,
             f"**{f.verdict}**"] for f in findings]
    if any(f.statistic == MEDIAN for f in findings):
        from robust_sabn.report.median_rows import MEDIAN_ROWS_TEXT

        statistic_text = " " + MEDIAN_ROWS_TEXT
    else:
        statistic_text = ""
    lines = [
        "# The paper's claims, tested", "",
        "Each row is one claim of Gong et al., *Sandwich Batch Normalization* (WACV 2022, "
        "arXiv:2102.11382), in one of our setups: the difference row minus reference paired "
        "over training seeds, with its 95 % Student-t interval. **reproduced**: the interval "
        "excludes 0 on the paper's side; **contradicted**: on the other side; **not resolved**: "
        "it contains 0; **not testable at this scale**: a validity gate of the suite failed "
        "(the mechanism the claim rests on did not appear), so the interval says nothing about "
        "the claim; **not run**: no records, and what is missing. *gate*: the suite file's "
        "validity gates that guard the claim, with the measured value; *power*: the paired "
        f"t-test's power (two-sided, alpha = {ALPHA:g}) for the effect the suite file states, "
        f"and the effect it detects with {100 * POWER:g} % power at the observed spread. A verdict "
        "is about the direction of the effect in our setup, at our scale; it is not the "
        f"paper's number.{statistic_text}", "",
        f"Tests: {tests} ({', '.join(f'{counts[v]} {v}' for v in TESTS)}). Not tests: "
        f"{counts[NOT_TESTABLE]} {NOT_TESTABLE} (a gate failed), {counts[NOT_RUN]} {NOT_RUN} "
        "(no records).", "",
        *([many, ""] if (many := multiplicity_text(findings)) else []),
        markdown_table(header, rows, align="lllllll"), "",
        warnings_section(list(warnings), "None: every record was read and every suite file "
                         "found."), "",
        provenance_footer([r for _, r in records], command), "",
    ]
    return "\n".join(lines)


def claims_markdown(sources: Sequence[str | Path], output: str | Path, *,
                    suites_dir: Path | None = None) -> str:
    """The claims page of the records under ``sources`` (as ``write_claims`` writes it).

    Raises:
        UserInputError: a source does not exist, or two records of one suite, run and seed.
    """
    from robust_sabn.report.records import read_unique

    records, warnings = read_unique(sources)
    from robust_sabn.report.median_rows import with_statistics

    gates, effects, statistics, notes = _suite_checks(records, suites_dir)
    findings = apply_gates(with_statistics(collect_findings(records), statistics), gates,
                           effects)
    command = shlex.join(["robust-sabn", "claims", *map(str, sources), "-o", str(output)])
    return render_claims(findings, records=records, command=command,
                         warnings=[*warnings, *notes])


def write_claims(sources: Sequence[str | Path], output: str | Path, *,
                 suites_dir: Path | None = None) -> Path:
    """Read the records under ``sources`` and write the claims page to ``output``.

    Raises:
        UserInputError: see :func:`claims_markdown`.
    """
    from robust_sabn.report.kit import write_markdown

    return write_markdown(output, claims_markdown(sources, output, suites_dir=suites_dir))
