"""The report's "Where the evaluation time goes" section: seconds per pass and AutoAttack stage.

From each evaluation record's ``extras["time_s"]`` (branch -> clean / attack key -> seconds)
and ``extras["autoattack"][branch]["time_s"]`` (stage -> seconds, records from robust-sabn
0.2 on), summed over every run, branch and eps: one row per clean or PGD pass and one per
AutoAttack stage (``autoattack-standard / apgd-t``), with its share of the total. Sharded
records give the slowest rank's seconds per pass and every rank's summed stage seconds.
Torch-free.
"""

from __future__ import annotations

from robust_sabn.adversarial.report.collect import ResultSet
from robust_sabn.report.kit import format_duration, markdown_table


def evaluation_seconds(results: ResultSet) -> dict[str, float]:
    """Seconds per pass (``clean``, ``pgd-20``, ``autoattack-standard / apgd-ce`` ...), summed
    over the evaluation records; an AutoAttack total is replaced by its stages when known."""
    seconds: dict[str, float] = {}
    for run in results.runs:
        for record in run.records:
            if record.kind != "evaluation":
                continue
            stages = record.extras.get("autoattack") or {}
            for branch, passes in (record.extras.get("time_s") or {}).items():
                stage_times = (stages.get(branch) or {}).get("time_s") or {}
                for key, value in passes.items():
                    if key.startswith("autoattack") and stage_times:
                        for stage, stage_s in stage_times.items():
                            name = f"{key} / {stage}"
                            seconds[name] = seconds.get(name, 0.0) + float(stage_s)
                    else:
                        seconds[key] = seconds.get(key, 0.0) + float(value)
    return seconds


def timing_section(results: ResultSet) -> list[str]:
    """The section's Markdown lines; empty when no record holds pass times."""
    seconds = evaluation_seconds(results)
    total = sum(seconds.values())
    if total <= 0:
        return []
    rows = [[name, format_duration(value), f"{100 * value / total:.1f}%"]
            for name, value in sorted(seconds.items(), key=lambda item: -item[1])]
    return ["## Where the evaluation time goes", "",
            "Wall time of each evaluation pass, summed over runs, branches and eps "
            "(AutoAttack split into its stages where the records have them).", "",
            markdown_table(["pass", "time", "share"], rows), ""]
