"""The claims page: every claim of the SaBN paper, the paper's number, ours with its CI, a verdict.

``robust-sabn claims -o reports/claims.md`` reads every result record under the given folders
(default ``runs/``) and asks each task's extractor (:data:`EXTRACTORS`) what its records say
about the claims it owns. A finding is a paired difference over seeds (row minus reference, the
sign the paper claims noted in the claim) with its 95 % Student-t interval
(:mod:`robust_sabn.report.stats`), and a verdict:

* ``reproduced``: the interval excludes 0 on the paper's side;
* ``contradicted``: the interval excludes 0 on the other side;
* ``not resolved``: the interval contains 0 (or fewer than two paired seeds);
* ``not run``: no records for that setup; the row says what is missing.

A verdict is about the direction of the effect in *our* setup (dataset, model, schedule), which
the row names; it is not a reproduction of the paper's number. Torch-free.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from robust_sabn.artifacts.result import ResultRecord, collect_results
from robust_sabn.report.kit import markdown_table, provenance_footer, warnings_section
from robust_sabn.report.stats import Interval, format_difference, paired_t_interval

REPRODUCED = "reproduced"
NOT_RESOLVED = "not resolved"
CONTRADICTED = "contradicted"
NOT_RUN = "not run"
VERDICTS = (REPRODUCED, NOT_RESOLVED, CONTRADICTED, NOT_RUN)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper.

    Attributes:
        key: short identifier (``adv-clean-branch-auxbn``).
        task: the task whose records test it (``adversarial``, ``gan``, ``nas``, ``style``).
        statement: the claim in words, as "row minus reference" reads.
        paper: the paper's numbers and setup, as text.
        sign: +1 when the paper's row minus reference is positive, -1 when negative.
        paper_setup: what running the paper's own setup needs (a suite, a GPU, a dataset).
    """

    key: str
    task: str
    statement: str
    paper: str
    sign: int
    paper_setup: str


@dataclass(frozen=True)
class Finding:
    """What one setup's records say about a claim.

    Attributes:
        claim: the claim.
        setup: our setup in words (suite, dataset, model, seeds, test points).
        ours: our number: difference with its interval and the two means, or why none.
        verdict: one of :data:`VERDICTS`.
    """

    claim: Claim
    setup: str
    ours: str
    verdict: str


Records = Sequence[tuple[Path, ResultRecord]]
Extractor = Callable[[Records], list[Finding]]


def verdict_of(interval: Interval, sign: int) -> str:
    """``reproduced`` / ``contradicted`` when the interval excludes 0 on the claimed / other
    side, else ``not resolved``."""
    if not interval.resolved:
        return NOT_RESOLVED
    return REPRODUCED if (interval.estimate > 0) == (sign > 0) else CONTRADICTED


def paired_finding(claim: Claim, setup: str, row: Mapping[int, float],
                   reference: Mapping[int, float], *, scale: float = 1.0, digits: int = 2,
                   unit: str = "") -> Finding:
    """The claim tested by ``row - reference`` paired over the seeds both have (values by
    seed), shown times ``scale`` with ``unit``; fewer than two shared seeds is not resolved."""
    seeds = sorted(set(row) & set(reference))
    if not seeds:
        return Finding(claim, setup, "no seed has both runs", NOT_RUN)
    a, b = [row[s] for s in seeds], [reference[s] for s in seeds]
    interval = paired_t_interval(a, b)
    means = (f" ({scale * sum(a) / len(a):.{digits}f} vs {scale * sum(b) / len(b):.{digits}f}"
             f"{unit}, {len(seeds)} seeds)")
    text = format_difference(interval, scale, digits) + means
    return Finding(claim, setup, text, verdict_of(interval, claim.sign))


def not_run(claim: Claim, why: str) -> Finding:
    """A ``not run`` row saying what is missing."""
    return Finding(claim, "-", why, NOT_RUN)


def paper_setup_row(claim: Claim, findings: Sequence[Finding], ran_paper_setup: bool
                    ) -> list[Finding]:
    """``findings``, plus a ``not run`` row for the paper's own setup when none of them ran
    it."""
    return list(findings) if ran_paper_setup else [*findings, not_run(claim, claim.paper_setup)]


def _default_extractors() -> list[Extractor]:
    from robust_sabn.adversarial.claims import adversarial_findings
    from robust_sabn.report.claims_tasks import gan_findings, nas_findings, style_findings

    return [adversarial_findings, gan_findings, nas_findings, style_findings]


def collect_findings(records: Records, extractors: Sequence[Extractor] | None = None
                     ) -> list[Finding]:
    """Every extractor's findings, in the order of the extractors."""
    return [f for extract in (extractors or _default_extractors()) for f in extract(records)]


def render_claims(findings: Sequence[Finding], *, records: Records, command: str,
                  warnings: Sequence[str] = ()) -> str:
    """The claims page's Markdown: a summary count, one table row per finding, the footer."""
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    header = ["claim (row minus reference)", "paper", "our setup", "ours [95 % CI]", "verdict"]
    rows = [[f.claim.statement, f.claim.paper, f.setup, f.ours, f"**{f.verdict}**"]
            for f in findings]
    lines = [
        "# The paper's claims, tested", "",
        "Each row is one claim of Gong et al., *Sandwich Batch Normalization* (WACV 2022, "
        "arXiv:2102.11382), tested in one of our setups: the difference row minus reference "
        "paired over training seeds, with its 95 % Student-t interval. **reproduced**: the "
        "interval excludes 0 on the paper's side; **contradicted**: on the other side; **not "
        "resolved**: it contains 0; **not run**: no records, and what is missing. A verdict is "
        "about the direction of the effect in our setup (named in the row), at our scale; it is "
        "not the paper's number.", "",
        "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", "",
        markdown_table(header, rows, align="lllll"), "",
        warnings_section(list(warnings), "None: every record was read."), "",
        provenance_footer([r for _, r in records], command), "",
    ]
    return "\n".join(lines)


def write_claims(sources: Sequence[str | Path], output: str | Path, *,
                 extractors: Sequence[Extractor] | None = None) -> Path:
    """Read the records under ``sources`` and write the claims page to ``output``.

    Raises:
        UserInputError: a source does not exist.
    """
    from robust_sabn.report.kit import write_markdown

    records, warnings = collect_results(list(sources))
    findings = collect_findings(records, extractors)
    command = shlex.join(["robust-sabn", "claims", *map(str, sources), "-o", str(output)])
    return write_markdown(output, render_claims(findings, records=records, command=command,
                                                warnings=warnings))
