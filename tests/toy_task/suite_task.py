"""The ``toy`` task: each run "samples" n numbers from a seeded generator and records their mean.

Suite file::

    task = "toy"
    [toy]
    seeds = [0, 1, 2]
    n = 100
    norms = ["bn", "meancenter"]    # optional: one train step per norm and seed
    steps = 200

One ``sample`` step per seed writes ``<suite_dir>/seed<k>/sample.json``, a result record with the
metric ``mean``; one ``train`` step per norm and seed runs the toy trainer into
``<suite_dir>/<norm>-seed<k>/``. The report is a mean ± std table with the difference of each
seed from seed 0, and the trained lines' mse per norm. It uses only the platform: the suite
protocol, the result record and the report kit.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.result import (
    Metric,
    ResultRecord,
    collect_results,
    new_result,
    read_result,
    write_result,
)
from robust_sabn.errors import UserInputError
from robust_sabn.report import kit
from robust_sabn.suites.checked import CheckedTable
from robust_sabn.suites.tasks import Hooks, Step, StepState, Suite
from robust_sabn.vocabulary import norm_label
from toy_task.claims import CLAIM, toy_findings
from toy_task.plugin import TOY_NORMS
from toy_task.trainer import RECORD, train_toy


@dataclass(frozen=True)
class ToyPlan:
    seeds: tuple[int, ...]
    n: int
    norms: tuple[str, ...]
    steps: int


def sample_mean(seed: int, n: int) -> float:
    rng = random.Random(seed)
    return sum(rng.random() for _ in range(n)) / n


class ToyTask:
    name = "toy"
    sections = ("toy",)
    claims = (CLAIM,)

    findings = staticmethod(toy_findings)
    """The claims page's toy row (:mod:`toy_task.claims`)."""

    def parse(self, doc: CheckedTable) -> ToyPlan:
        table = doc.table("toy")
        table.only(["seeds", "n", "norms", "steps"])
        seeds = table.integers("seeds", required=True) or []
        norms = table.strings("norms", choices=TOY_NORMS, what="toy norm") or []
        return ToyPlan(seeds=tuple(seeds), n=table.integer("n", 10, minimum=1) or 10,
                       norms=tuple(norms), steps=table.integer("steps", 200, minimum=1) or 200)

    def _path(self, suite_dir: Path, seed: int) -> Path:
        return suite_dir / f"seed{seed}" / "sample.json"

    def _state(self, path: Path, n: int) -> StepState:
        if not path.is_file():
            return "todo"
        try:
            record = read_result(path)
        except UserInputError:
            return "todo"
        return "done" if record.subject.get("n") == n else "todo"

    def _sample(self, suite: Suite, path: Path, seed: int, n: int, resume: bool) -> None:
        record = new_result("toy", "sample", subject={"run": f"seed{seed}", "seed": seed, "n": n},
                            metrics=[Metric(name="mean", value=sample_mean(seed, n), n=n)])
        record.suite = {"name": suite.name}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_result(path, record)

    def _trained(self, run_dir: Path, steps: int) -> StepState:
        if not (run_dir / RECORD).is_file():
            return "todo"
        return "done" if read_result(run_dir / RECORD).subject.get("steps") == steps else "todo"

    def _train(self, run_dir: Path, norm: str, seed: int, steps: int, resume: bool) -> None:
        train_toy(run_dir, norm=norm, seed=seed, steps=steps)

    def steps(self, suite: Suite, suite_dir: Path, *, quiet: bool, hooks: Hooks) -> list[Step]:
        plan: ToyPlan = suite.plan
        samples = [Step(f"seed{seed}", "sample", f"sample seed {seed}",
                        partial(self._state, self._path(suite_dir, seed), plan.n),
                        partial(self._sample, suite, self._path(suite_dir, seed), seed, plan.n))
                   for seed in plan.seeds]
        runs = [(norm, seed, suite_dir / f"{norm}-seed{seed}") for norm in plan.norms
                for seed in plan.seeds]
        return samples + [Step(run.name, "train", f"train {run.name}",
                               partial(self._trained, run, plan.steps),
                               partial(self._train, run, norm, seed, plan.steps))
                          for norm, seed, run in runs]

    def report_path(self, suite: Suite) -> Path:
        return Path("reports") / f"{suite.name}.md"

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        records, warnings = collect_results(suite_dir)
        return self._render(records, output, f"robust-sabn report {suite_dir}", warnings,
                            suite_command)

    def render_records(self, records: list[tuple[Path, ResultRecord]], output: Path, *,
                       command: str, warnings: list[str], options: Mapping[str, Any]) -> Path:
        if options:
            raise UserInputError(f"the toy report takes no options (got {', '.join(options)})")
        return self._render(records, output, command, warnings, None)

    def _render(self, records: list[tuple[Path, ResultRecord]], output: Path, command: str,
                warnings: list[str], suite_command: str | None) -> Path:
        means = {int(r.subject["seed"]): r.value("mean") or 0.0 for _, r in records
                 if r.kind == "sample"}
        fits: dict[str, list[float]] = {}
        for _, r in records:
            if r.kind == "train":
                fits.setdefault(norm_label(r.subject["norm"]), []).append(r.value("mse") or 0.0)
        groups = {"all seeds": means, "seed 0 again": {s: means[0] for s in means}}
        text = "\n\n".join([
            "# Toy report",
            kit.markdown_table(["rows", "mean"],
                               [["all seeds", kit.format_mean_std(list(means.values()))]]),
            kit.difference_table(groups, "seed 0 again", metric="mean", higher_is_better=True),
            kit.markdown_table(["norm", "mse"], [[label, kit.format_mean_std(values, digits=4)]
                                                 for label, values in sorted(fits.items())]),
            kit.warnings_section(warnings),
            kit.provenance_footer([r for _, r in records], command, suite_command),
        ])
        return kit.write_markdown(output, text)


TASK = ToyTask()
