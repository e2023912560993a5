"""The ``gan`` suite task: reference classifier, GAN runs, their evaluations, sample grids, the
report. Cheap to import (torch-heavy modules are imported inside the steps).

Run folder layout (``suite_dir`` is ``runs/<suite>``)::

    reference/classifier.pt  reference/reference.json       the reference classifier
    <generator>-<norm>-seed<s>/                             one GAN run (robust_sabn.gan.train)
        config.json  metrics.jsonl  last.pt  generator.pt  train_record.json  eval.json
    samples/<generator>-<norm>.png  samples/<generator>-<norm>.json   grid of the first seed

A step is done when its record exists, holds the suite's settings (``record.suite``) and, for
evaluations and grids, was made from the current ``generator.pt`` (SHA-256).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.digest import sha256_if_file
from robust_sabn.artifacts.result import (
    ResultRecord,
    collect_results,
    read_result,
    read_result_if_valid,
    write_result,
)
from robust_sabn.errors import UserInputError
from robust_sabn.gan.claims import CLAIMS, GRADIENT_CLAIMS, gan_findings
from robust_sabn.gan.gates import GATE_METRICS
from robust_sabn.gan.plan import GANPlan, GANRun, parse_gan
from robust_sabn.runs.names import RECORD_NAME
from robust_sabn.suites.tasks import Hooks, Step, StepState, Suite

_RUN_OUTPUTS = ("train_record.json", "config.json", "metrics.jsonl", "last.pt", "generator.pt",
                "eval.json")
_SKIP = ("device", "data_dir")


def _full_config(run: GANRun) -> dict[str, Any]:
    from robust_sabn.gan.config import GANConfig

    return GANConfig.from_preset(None, **run.config).to_dict()


def train_state(run: GANRun, run_dir: Path) -> StepState:
    """``"done"`` (record present, same options), ``"partial"`` (resumable) or ``"todo"``."""
    try:
        saved = json.loads((run_dir / "config.json").read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return "todo"
    wanted = _full_config(run)
    if any(saved.get(k) != v for k, v in wanted.items() if k not in _SKIP):
        return "todo"
    record = read_result_if_valid(run_dir / RECORD_NAME)
    if record is not None and record.status == "ok":
        return "done"
    return "partial" if (run_dir / "last.pt").is_file() else "todo"


class GANTask:
    """Conditional-GAN suites: CCBN vs SaBN (and plain BN) generators, IS/FID, report."""

    name = "gan"
    sections = ("runs", "reference", "evaluation", "report")
    claims = (*CLAIMS, *GRADIENT_CLAIMS)
    gate_metrics = GATE_METRICS

    parse = staticmethod(parse_gan)
    """The suite file's sections as the task's plan (:func:`parse_gan`)."""
    findings = staticmethod(gan_findings)
    """The claims page's gan rows (:mod:`robust_sabn.gan.claims`)."""

    # ----- reference classifier
    def _reference_settings(self, plan: GANPlan) -> dict[str, Any]:
        return {"dataset": plan.dataset, **plan.reference}

    def _reference_state(self, plan: GANPlan, suite_dir: Path) -> StepState:
        record = read_result_if_valid(suite_dir / "reference" / "reference.json")
        ok = (record is not None and (suite_dir / "reference" / "classifier.pt").is_file()
              and (record.suite or {}).get("settings") == self._reference_settings(plan))
        return "done" if ok else "todo"

    def _train_reference(self, suite: Suite, suite_dir: Path, fn: Callable[..., ResultRecord],
                         resume: bool) -> None:
        plan: GANPlan = suite.plan
        record = fn(plan.dataset, suite_dir / "reference", data_dir=plan.data_dir,
                    **plan.reference)
        record.suite = {"name": suite.name, "settings": self._reference_settings(plan)}
        write_result(suite_dir / "reference" / "reference.json", record)

    # ----- training
    def _train(self, suite: Suite, run: GANRun, suite_dir: Path, fn: Callable[..., Any],
               quiet: bool, resume: bool) -> None:
        from robust_sabn.gan.config import GANConfig

        run_dir = suite_dir / run.run_id
        if not resume:
            for name in _RUN_OUTPUTS:
                (run_dir / name).unlink(missing_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        record = fn(GANConfig.from_preset(None, **run.config), run_dir,
                    reference=suite_dir / "reference" / "classifier.pt", resume=resume,
                    quiet=quiet, run_id=run.run_id)
        record.suite = {"name": suite.name, "run": run.run_id}
        write_result(run_dir / "train_record.json", record)

    # ----- evaluation
    def _eval_settings(self, plan: GANPlan) -> dict[str, Any]:
        return {"n_samples": plan.n_samples, "seed": plan.eval_seed,
                "inception_weights": plan.inception_weights}

    def _eval_state(self, plan: GANPlan, run: GANRun, suite_dir: Path) -> StepState:
        run_dir = suite_dir / run.run_id
        if train_state(run, run_dir) != "done":
            return "todo"
        record = read_result_if_valid(run_dir / "eval.json")
        if record is None or (record.suite or {}).get("settings") != self._eval_settings(plan):
            return "todo"
        current = sha256_if_file(run_dir / "generator.pt")
        return "done" if current and record.subject.get("checkpoint_sha256") == current \
            else "todo"

    def _evaluate(self, suite: Suite, run: GANRun, suite_dir: Path, fn: Callable[..., Any],
                  resume: bool) -> None:
        plan: GANPlan = suite.plan
        run_dir = suite_dir / run.run_id
        record = fn(run_dir / "generator.pt", suite_dir / "reference" / "classifier.pt",
                    run_dir / "eval.json", n_samples=plan.n_samples, seed=plan.eval_seed,
                    inception_weights=plan.inception_weights, data_dir=plan.data_dir,
                    device=run.config.get("device", "cpu"),
                    subject={"run": run.run_id, "seed": run.seed})
        record.suite = {"name": suite.name, "run": run.run_id,
                        "settings": self._eval_settings(plan)}
        write_result(run_dir / "eval.json", record)

    # ----- sample grids
    def _sample_paths(self, suite_dir: Path, run: GANRun) -> tuple[Path, Path]:
        stem = suite_dir / "samples" / f"{run.generator}-{run.norm}"
        return stem.with_suffix(".png"), stem.with_suffix(".json")

    def _sample_state(self, plan: GANPlan, run: GANRun, suite_dir: Path) -> StepState:
        png, path = self._sample_paths(suite_dir, run)
        record = read_result_if_valid(path)
        if record is None or not png.is_file():
            return "todo"
        settings = {"per_class": plan.grid_per_class, "run": run.run_id,
                    "sha256": sha256_if_file(suite_dir / run.run_id / "generator.pt")}
        return "done" if (record.suite or {}).get("settings") == settings else "todo"

    def _sample(self, suite: Suite, run: GANRun, suite_dir: Path, fn: Callable[..., Any],
                resume: bool) -> None:
        plan: GANPlan = suite.plan
        png, path = self._sample_paths(suite_dir, run)
        checkpoint = suite_dir / run.run_id / "generator.pt"
        fn(checkpoint, png, classes=None, per_class=plan.grid_per_class, seed=plan.eval_seed,
           record_path=path, subject={"run": run.run_id, "seed": run.seed})
        record = read_result(path)
        record.suite = {"name": suite.name, "settings": {
            "per_class": plan.grid_per_class, "run": run.run_id,
            "sha256": sha256_if_file(checkpoint)}}
        write_result(path, record)

    def steps(self, suite: Suite, suite_dir: Path, *, quiet: bool, hooks: Hooks) -> list[Step]:
        """Reference classifier; per run: train, evaluate; per generator x norm: a grid of its
        first seed's EMA generator (unconditional ``bn`` rows get none). ``hooks`` may replace
        ``reference``, ``train``, ``evaluate`` and ``sample`` (the workflow functions)."""
        from robust_sabn.gan import workflow

        plan: GANPlan = suite.plan
        reference_fn = hooks.get("reference") or workflow.train_reference
        train_fn = hooks.get("train") or workflow.train_run
        evaluate_fn = hooks.get("evaluate") or workflow.evaluate_run
        sample_fn = hooks.get("sample") or workflow.sample_run
        reference = f"train the {plan.dataset} reference classifier"
        steps = [Step("reference", "reference", reference,
                      partial(self._reference_state, plan, suite_dir),
                      partial(self._train_reference, suite, suite_dir, reference_fn))]
        for run in plan.runs:
            steps.append(Step(run.run_id, "train", f"train {run.run_id}",
                              partial(train_state, run, suite_dir / run.run_id),
                              partial(self._train, suite, run, suite_dir, train_fn, quiet),
                              after=(reference,)))
            steps.append(Step(run.run_id, "evaluate", f"evaluate {run.run_id}",
                              partial(self._eval_state, plan, run, suite_dir),
                              partial(self._evaluate, suite, run, suite_dir, evaluate_fn),
                              after=(reference, f"train {run.run_id}")))
        first = {}
        for run in plan.runs:
            if run.norm != "bn":
                first.setdefault((run.generator, run.norm), run)
        for run in first.values():
            steps.append(Step(run.run_id, "sample", f"sample grid {run.generator} {run.norm}",
                              partial(self._sample_state, plan, run, suite_dir),
                              partial(self._sample, suite, run, suite_dir, sample_fn),
                              after=(f"train {run.run_id}",)))
        return steps

    def report_path(self, suite: Suite) -> Path:
        """``[report] output``, else ``reports/<suite>.md``."""
        plan: GANPlan = suite.plan
        return plan.output or Path("reports") / f"{suite.name}.md"

    def _suite_records(self, suite: Suite, suite_dir: Path
                       ) -> tuple[list[tuple[Path, ResultRecord]], list[str]]:
        plan: GANPlan = suite.plan
        paths = [suite_dir / "reference" / "reference.json"]
        for run in plan.runs:
            paths += [suite_dir / run.run_id / "train_record.json",
                      suite_dir / run.run_id / "eval.json"]
        paths += sorted((suite_dir / "samples").glob("*.json"))
        return collect_results([p for p in paths if p.is_file()] or [suite_dir])

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        """Render the suite's report from its records (see :mod:`robust_sabn.gan.report`)."""
        from robust_sabn.gan.report import render_gan_report
        from robust_sabn.report.gates import add_gates_section

        plan: GANPlan = suite.plan
        records, warnings = self._suite_records(suite, suite_dir)
        command = shlex.join(["robust-sabn", "report", str(suite_dir), "-o", str(output)])
        path = render_gan_report(records, output, command=command,
                                 suite_command=suite_command, warnings=warnings,
                                 reference=plan.reference_norm,
                                 title=f"{suite.name}: {suite.description}".rstrip(": "),
                                 notes=[suite_note(suite)])
        return add_gates_section(path, suite, records)

    def render_records(self, records: list[tuple[Path, ResultRecord]], output: Path, *,
                       command: str, warnings: list[str], options: Mapping[str, Any]) -> Path:
        """What ``robust-sabn report`` calls for GAN records; rows are compared with CCBN. The
        one option it takes is ``title``."""
        from robust_sabn.gan.report import render_gan_report

        unknown = sorted(set(options) - {"title"})
        if unknown:
            raise UserInputError(f"the gan report does not take the option(s) {unknown} "
                                 "(those are the adversarial report's); it takes --title")
        return render_gan_report(records, output, command=command, warnings=warnings,
                                 title=options.get("title"))


def suite_note(suite: Suite) -> str:
    """The suite file's leading comments as one paragraph, without its command lines (comments
    that start with ``robust-sabn``); prose that names a command is kept whole."""
    text = suite.path.read_text() if suite.path.is_file() else ""
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    return " ".join(c for c in comments if c and not c.startswith("robust-sabn"))


TASK = GANTask()
