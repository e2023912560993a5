"""The report kit every task's report is built from: Markdown tables, mean ± std with the best
in bold, differences with confidence intervals, images, warnings and the provenance footer.

Torch-free. Values are plain floats; ``scale`` turns fractions into percent (100) where a table
shows percent. A task's report module composes these pieces into its own sections.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.report.findings import MEAN, MEDIAN
from robust_sabn.report.sign_test import sign_test_interval
from robust_sabn.report.stats import format_difference, paired_t_interval

DASH = "-"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table.

    Args:
        header: column titles.
        rows: cells as text, one list per row.
        align: one letter per column, ``l`` (left) or ``r`` (right); default: the first column
            left, the rest right.
    """
    align = align or "l" + "r" * (len(header) - 1)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1); std is ``None`` for a single value.

    Raises:
        ValueError: no values.
    """
    if not values:
        raise ValueError("mean_std of no values")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_mean_std(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``[0.8, 0.82]`` with scale 100 -> ``"81.00 ± 1.41"``; one value: no ±; none: ``"-"``."""
    if not values:
        return DASH
    mean, std = mean_std(values)
    text = f"{scale * mean:.{digits}f}"
    return text if std is None else f"{text} ± {scale * std:.{digits}f}"


def bold_best(cells: Sequence[Sequence[float]], *, higher_is_better: bool = True,
              scale: float = 1.0, digits: int = 2) -> list[str]:
    """Each cell's values as mean ± std; the cells whose shown mean is best are bold, unless
    every shown mean is equal (nothing is best then)."""
    texts = [format_mean_std(values, scale, digits) for values in cells]
    shown = [round(scale * mean_std(v)[0], digits) if v else None for v in cells]
    present = [s for s in shown if s is not None]
    if len(set(present)) < 2:
        return texts
    best = max(present) if higher_is_better else min(present)
    return [f"**{text}**" if s == best else text for text, s in zip(texts, shown, strict=True)]


def difference_rows(groups: Mapping[str, Mapping[int, float]], reference: str, *,
                    scale: float = 1.0, digits: int = 2, statistic: str = MEAN
                    ) -> list[list[str]]:
    """Rows ``[label, "vs reference", difference with its interval, pairs]`` for each group
    other than ``reference``, paired over the seeds both have: the mean difference with its 95 %
    Student-t interval, or for ``statistic`` ``"median"`` the median difference with the sign
    test's interval (coverage >= 95 %, :mod:`robust_sabn.report.sign_test`)."""
    base = groups[reference]
    rows = []
    for label, values in groups.items():
        if label == reference:
            continue
        seeds = sorted(set(values) & set(base))
        if not seeds:
            rows.append([label, reference, "no shared seeds", "0"])
            continue
        if statistic == MEDIAN:
            text = format_difference(sign_test_interval(
                [scale * (values[s] - base[s]) for s in seeds]), 1.0, digits)
        else:
            text = format_difference(paired_t_interval([values[s] for s in seeds],
                                                       [base[s] for s in seeds]), scale, digits)
        rows.append([label, reference, text, str(len(seeds))])
    return rows


def difference_table(groups: Mapping[str, Mapping[int, float]], reference: str, *, metric: str,
                     higher_is_better: bool, scale: float = 1.0, digits: int = 2,
                     statistic: str = MEAN) -> str:
    """A Markdown table of each group minus ``reference`` on ``metric``, paired over shared
    seeds: the mean with its 95 % Student-t interval, or (``statistic="median"``) the median
    with the sign test's interval; "not resolved" where the interval contains 0.

    Args:
        groups: row label -> {seed: value}.
        reference: the label every other row is compared with.
        metric: the metric's name for the header (with its unit).
        higher_is_better: said in the header, so a reader knows which sign is a gain.
        scale, digits: display scale (100 for fractions as points) and decimals.
        statistic: ``"mean"`` or ``"median"``.

    Raises:
        KeyError: ``reference`` is not a group.
    """
    better = "higher is better" if higher_is_better else "lower is better"
    what = ("median difference in {} [sign-test CI, >= 95 %]" if statistic == MEDIAN
            else "difference in {} [95 % CI]").format(metric)
    header = ["row", "minus", f"{what} ({better})", "seeds"]
    return markdown_table(header, difference_rows(groups, reference, scale=scale, digits=digits,
                                                  statistic=statistic), align="llrr")


def image(path: str | Path, alt: str) -> str:
    """A Markdown image; ``path`` relative to the report file."""
    return f"![{alt}]({Path(path).as_posix()})"


def format_duration(seconds: float) -> str:
    """``3723`` -> ``"1h 02m 03s"``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def warnings_section(lines: Sequence[str], none_text: str = "None.") -> str:
    """``## Warnings`` with one bullet per line (``none_text`` when there are none)."""
    body = [f"- {line}" for line in lines] or [none_text]
    return "\n".join(["## Warnings", "", *body])


def _distinct(records: Iterable[ResultRecord], kind: str) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for record in records:
        values = getattr(record.provenance, kind)
        text = ", ".join(f"{k} {v}" for k, v in values.items()) or "not recorded"
        counts[text] = counts.get(text, 0) + 1
    return list(counts.items())


def provenance_footer(records: Sequence[ResultRecord], command: str,
                      suite_command: str | None = None, extra: Sequence[str] = ()) -> str:
    """``## How this report was made``: the commands, how many records of each kind, the
    package versions and machines they came from, and their total wall time."""
    kinds: dict[str, int] = {}
    for record in records:
        kinds[record.kind] = kinds.get(record.kind, 0) + 1
    lines = ["## How this report was made", "", f"- Report command: `{command}`"]
    if suite_command:
        lines.append(f"- Suite command: `{suite_command}`")
    lines.append("- Records: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
                                  or "none"))
    for kind, title in (("versions", "Packages"), ("hardware", "Hardware")):
        for text, n in _distinct(records, kind):
            lines.append(f"- {title} ({n} record{'s' if n != 1 else ''}): {text}")
    lines += [f"- {line}" for line in extra]
    total = sum(r.provenance.wall_time_s or 0.0 for r in records)
    lines.append(f"- Total wall time in the records: {format_duration(total)}")
    return "\n".join(lines)


def write_markdown(path: str | Path, text: str) -> Path:
    """Write a report's Markdown (its folder created), ending with one newline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")
    return path
