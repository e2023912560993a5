"""The ``adversarial`` task kind: PGD adversarial training runs, their evaluations, a report.

Run folder layout (``suite_dir`` is ``<out_root>/<suite name>``)::

    runs/<suite>/<norm>-seed<seed>/                  one training run (robust_sabn.train)
        config.json  metrics.jsonl  last.pt  best.pt  train_record.json
        eval-<evaluation name>-eps<eps>.json         one evaluation record per (evaluation, eps)

``eps`` in file names is ``8-255`` for 8/255 and ``0.1`` otherwise. A run is done when
``train_record.json`` exists and ``config.json`` holds the suite's options (``device`` and
``data_dir`` aside); it is partial (resumed with ``resume=True``) when ``last.pt`` exists with
matching options but training did not finish. An evaluation is done when its record exists, was
made with the same settings and seeding (stored in the record's ``"suite"`` field; the batch size
counts, since batch b is seeded with ``seed + b``) and from the run's current
checkpoint (same SHA-256). RobustBench baselines (``[[baselines]]``, see
:mod:`robust_sabn.adversarial.suite_baselines`) are evaluated first, into
``runs/<suite>/baseline-<NAME>/``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from robust_sabn.adversarial.claims import CLAIMS, adversarial_findings
from robust_sabn.adversarial.gates import GATE_METRICS
from robust_sabn.adversarial.plan import (
    AdversarialPlan,
    AdversarialRun,
    EvaluationSpec,
    parse_adversarial,
)
from robust_sabn.adversarial.suite_baselines import (
    BaselineSpec,
    baseline_identity,
    baseline_settings,
    baseline_state,
    weight_hashes,
)
from robust_sabn.artifacts.result import ResultRecord, read_result_if_valid, write_result
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.config import SEEDING
from robust_sabn.runs.names import read_run_record as read_training_record
from robust_sabn.suites.tasks import Hooks, Step, StepState, Suite

_IDENTITY_SKIP = ("device", "data_dir")
_RUN_OUTPUTS = ("train_record.json", "config.json", "metrics.jsonl", "last.pt", "best.pt")

TrainFn = Callable[..., Any]
EvaluateFn = Callable[..., ResultRecord]


def train_from_fields(fields: dict[str, Any], out_dir: Path, *, resume: bool, quiet: bool
                      ) -> ResultRecord:
    """The default ``train_fn``: ``robust_sabn.train.train(TrainConfig(**fields), ...)``."""
    from robust_sabn.train import TrainConfig, train

    return train(TrainConfig(**fields), out_dir, resume=resume, quiet=quiet)


def _default_evaluate(checkpoint: Path, **settings: Any) -> dict[str, Any]:
    from robust_sabn.evaluate import evaluate_checkpoint

    return evaluate_checkpoint(checkpoint, **settings)


def eps_tag(eps: float) -> str:
    """eps for a file name: ``8/255`` -> ``"8-255"``, ``0.1`` -> ``"0.1"``."""
    steps = eps * 255
    if abs(steps - round(steps)) < 1e-6 and round(steps) > 0:
        return f"{round(steps)}-255"
    return f"{eps:g}"


def evaluation_path(run_dir: Path, spec: EvaluationSpec, eps: float) -> Path:
    """Where the record of ``spec`` at ``eps`` for the run in ``run_dir`` goes."""
    return run_dir / f"eval-{spec.name}-eps{eps_tag(eps)}.json"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def config_matches(wanted: dict[str, Any], saved: dict[str, Any]) -> bool:
    """Whether a saved (resolved) config holds every option the suite sets.

    ``device`` and ``data_dir`` do not change results and are ignored.
    """
    return all(key in saved and saved[key] == value for key, value in wanted.items()
               if key not in _IDENTITY_SKIP)


def train_state(run: AdversarialRun, run_dir: Path) -> StepState:
    """``"done"``, ``"partial"`` (resumable) or ``"todo"`` for a run's training."""
    saved = _read_json(run_dir / "config.json")
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        return "todo"
    if not config_matches(run.config, saved["config"]):
        return "todo"
    record = read_training_record(run_dir)
    if record is not None:
        return "todo" if record.status == "diverged" else "done"
    return "partial" if (run_dir / "last.pt").is_file() else "todo"


def diverged_message(run_dir: Path) -> str | None:
    """The one-line message of a run whose training diverged with these options, else None."""
    record = read_training_record(run_dir)
    if record is not None and record.status == "diverged":
        return str((record.extras.get("diverged") or {}).get("message")
                   or "the loss became non-finite")
    return None


class _Hashes:
    """SHA-256 of checkpoints, cached while the file is unchanged (size and mtime)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], str] = {}

    def __call__(self, path: Path) -> str | None:
        from robust_sabn.artifacts import file_sha256

        if not path.is_file():
            return None
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._cache:
            self._cache[key] = file_sha256(path)
        return self._cache[key]


class AdversarialTask:
    """Adversarial training suites: train each run, evaluate each at each eps, compare."""

    name = "adversarial"
    sections = ("runs", "evaluations", "comparison", "baselines")
    gate_metrics = GATE_METRICS
    claims = CLAIMS

    parse = staticmethod(parse_adversarial)
    """The suite file's sections as the task's plan (:func:`parse_adversarial`)."""
    findings = staticmethod(adversarial_findings)
    """The claims page's adversarial rows (:mod:`robust_sabn.adversarial.claims`)."""

    def __init__(self) -> None:
        self._hashes = _Hashes()

    def evaluation_settings(self, run: AdversarialRun, spec: EvaluationSpec, eps: float
                            ) -> dict[str, Any]:
        """The keyword arguments of ``evaluate_checkpoint`` for one run and eps.

        A plain-BN run has one ("shared") branch, so ``branches`` is not passed for it;
        ``autoattack_attacks`` is passed only for a custom AutoAttack cascade.
        """
        settings = {
            "attacks": list(spec.attacks), "eps": eps, "n_examples": spec.n_examples,
            "batch_size": spec.batch_size,
            "branches": None if run.norm == "bn" or spec.branches is None else list(spec.branches),
            "version": spec.version, "seed": spec.seed, "pgd_steps": spec.pgd_steps,
            "split": spec.split, "data_dir": run.config.get("data_dir"),
            "device": spec.device or run.config.get("device") or "auto",
        }
        if spec.autoattack_attacks is not None:
            settings["autoattack_attacks"] = list(spec.autoattack_attacks)
        return settings

    def _identity(self, settings: dict[str, Any], spec: EvaluationSpec) -> dict[str, Any]:
        """What makes an evaluation record this step's: its settings (the batch size too, since
        batch b is seeded with ``seed + b``), the evaluator's seeding, name and checkpoint."""
        kept = {k: v for k, v in settings.items() if k not in ("data_dir", "device")}
        return {**kept, "seeding": SEEDING, "evaluation": spec.name,
                "checkpoint": spec.checkpoint}

    def _evaluation_state(self, run: AdversarialRun, run_dir: Path, spec: EvaluationSpec,
                          eps: float) -> StepState:
        if train_state(run, run_dir) != "done":
            return "todo"
        record = read_result_if_valid(evaluation_path(run_dir, spec, eps))
        if record is None:
            return "todo"
        identity = self._identity(self.evaluation_settings(run, spec, eps), spec)
        if (record.suite or {}).get("settings") != identity:
            return "todo"
        current = self._hashes(run_dir / f"{spec.checkpoint}.pt")
        return "done" if current and record.subject.get("checkpoint_sha256") == current \
            else "todo"

    def _train(self, run: AdversarialRun, run_dir: Path, train_fn: TrainFn, quiet: bool,
               resume: bool) -> None:
        """Train the run (from scratch unless ``resume``); a run that diverged with the same
        options is not retrained: the suite stops with its message."""
        saved = _read_json(run_dir / "config.json")
        message = diverged_message(run_dir)
        if message and isinstance(saved, dict) and config_matches(run.config,
                                                                 saved.get("config") or {}):
            raise UserInputError(f"{run.run_id} diverged: {message}; change its options in the "
                                 f"suite file, or delete {run_dir} to try again")
        if not resume:
            for name in _RUN_OUTPUTS:
                (run_dir / name).unlink(missing_ok=True)
            for stale in run_dir.glob("eval-*.json"):
                stale.unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
        train_fn(dict(run.config), run_dir, resume=resume, quiet=quiet)

    def _evaluate(self, suite: Suite, run: AdversarialRun, run_dir: Path, spec: EvaluationSpec,
                  eps: float, evaluate_fn: EvaluateFn, resume: bool) -> None:
        """Evaluate one run at one eps and write the record (``resume`` has no meaning here:
        an evaluation is one call)."""
        checkpoint = run_dir / f"{spec.checkpoint}.pt"
        if not checkpoint.is_file():
            raise UserInputError(
                f"{run_dir}: training left no {checkpoint.name}; set checkpoint = "
                f"\"{'last' if spec.checkpoint == 'best' else 'best'}\" in the evaluation"
            )
        settings = self.evaluation_settings(run, spec, eps)
        record = evaluate_fn(checkpoint, **settings)
        record.suite = {"name": suite.name, "run": run.run_id,
                        "settings": self._identity(settings, spec)}
        write_result(evaluation_path(run_dir, spec, eps), record)

    def _baseline_settings(self, plan: AdversarialPlan, baseline: BaselineSpec,
                           spec: EvaluationSpec, eps: float) -> dict[str, Any]:
        """``evaluate_checkpoint`` arguments of a baseline; data_dir and device: the first
        run's (they do not change results)."""
        first = plan.runs[0].config
        return baseline_settings(baseline, spec, eps, dataset=plan.dataset,
                                 data_dir=first.get("data_dir"),
                                 device=first.get("device") or "auto")

    def _baseline_state(self, plan: AdversarialPlan, baseline: BaselineSpec, suite_dir: Path,
                        spec: EvaluationSpec, eps: float) -> StepState:
        record = read_result_if_valid(evaluation_path(suite_dir / baseline.run_id, spec, eps))
        identity = baseline_identity(baseline, spec,
                                     self._baseline_settings(plan, baseline, spec, eps))
        return baseline_state(record, identity, weight_hashes(baseline, plan.dataset,
                                                              self._hashes))

    def _evaluate_baseline(self, suite: Suite, baseline: BaselineSpec, suite_dir: Path,
                           spec: EvaluationSpec, eps: float, evaluate_fn: EvaluateFn,
                           resume: bool) -> None:
        """Evaluate a RobustBench model at one eps; the record notes its weights' SHA-256
        (``resume`` has no meaning here: an evaluation is one call)."""
        plan: AdversarialPlan = suite.plan
        settings = self._baseline_settings(plan, baseline, spec, eps)
        record = evaluate_fn(baseline.source, **settings)
        record.suite = {
            "name": suite.name, "run": baseline.run_id,
            "settings": baseline_identity(baseline, spec, settings),
            "baseline": {"robustbench": baseline.name, "label": baseline.label,
                         "weights_sha256": weight_hashes(baseline, plan.dataset, self._hashes)},
        }
        write_result(evaluation_path(suite_dir / baseline.run_id, spec, eps), record)

    def steps(self, suite: Suite, suite_dir: Path, *, quiet: bool, hooks: Hooks) -> list[Step]:
        """Each baseline at each evaluation and eps (first: a missing model fails fast), then
        per run: its training, then each evaluation at each eps (after the training).
        ``hooks["train"]`` replaces :func:`train_from_fields`, ``hooks["evaluate"]``
        ``evaluate_checkpoint``."""
        plan: AdversarialPlan = suite.plan
        train_fn = hooks.get("train") or train_from_fields
        evaluate_fn = hooks.get("evaluate") or _default_evaluate
        steps = [
            Step(baseline.run_id, "evaluate",
                 f"evaluate {baseline.run_id} {spec.name} eps {eps:g}",
                 partial(self._baseline_state, plan, baseline, suite_dir, spec, eps),
                 partial(self._evaluate_baseline, suite, baseline, suite_dir, spec, eps,
                         evaluate_fn))
            for baseline in plan.baselines for spec in plan.evaluations for eps in spec.eps
        ]
        for run in plan.runs:
            run_dir = suite_dir / run.run_id
            training = f"train {run.run_id}"
            steps.append(Step(run.run_id, "train", training, partial(train_state, run, run_dir),
                              partial(self._train, run, run_dir, train_fn, quiet)))
            for spec in plan.evaluations:
                for eps in spec.eps:
                    steps.append(Step(
                        run.run_id, "evaluate",
                        f"evaluate {run.run_id} {spec.name} eps {eps:g}",
                        partial(self._evaluation_state, run, run_dir, spec, eps),
                        partial(self._evaluate, suite, run, run_dir, spec, eps, evaluate_fn),
                        after=(training,),
                    ))
        return steps

    def record_paths(self, suite: Suite, suite_dir: Path) -> list[Path]:
        """The suite's evaluation records that exist (only those its definition names)."""
        plan: AdversarialPlan = suite.plan
        run_ids = [*(b.run_id for b in plan.baselines), *(run.run_id for run in plan.runs)]
        paths = [evaluation_path(suite_dir / run_id, spec, eps)
                 for run_id in run_ids for spec in plan.evaluations for eps in spec.eps]
        return [p for p in paths if p.is_file()]

    def report_path(self, suite: Suite) -> Path:
        """``[comparison] output``, else ``reports/<suite>.md``."""
        plan: AdversarialPlan = suite.plan
        return plan.report_output or Path("reports") / f"{suite.name}.md"

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        """Render the suite's comparison from its evaluation records; baseline rows take
        their labels from the suite file. The gates are measured from every record under
        ``suite_dir`` (a clean-only control arm too)."""
        from robust_sabn.adversarial.report import collect_run_results, render_report
        from robust_sabn.adversarial.report.collect import relabel_baselines
        from robust_sabn.artifacts.result import collect_results as read_records
        from robust_sabn.report.gates import add_gates_section

        plan: AdversarialPlan = suite.plan
        options = plan.comparison
        if options.title is None:
            title = suite.name + (f": {suite.description}" if suite.description else "")
            options = replace(options, title=title)
        command = shlex.join(["robust-sabn", "report", str(suite_dir), "-o", str(output),
                              *options.cli_arguments()])
        results = collect_run_results(self.record_paths(suite, suite_dir))
        relabel_baselines(results, {b.name: b.label for b in plan.baselines if b.label})
        report = render_report(results, output, options=options, command=command,
                               suite_command=suite_command)
        records, _ = read_records(suite_dir) if suite_dir.is_dir() else ([], [])
        return add_gates_section(report.path, suite, records)

    def power_plan(self, suite: Suite, suite_dir: Path, target: float,
                   pilot: Path | None = None) -> str:
        """``robust-sabn suite plan``: from the suite's finished evaluations (or every
        evaluation record under ``pilot``, a pilot's run or records folder), the noise of each
        comparison and the seeds or test points at which a true ``target`` difference
        (fraction) is detected with 80 % power at alpha = 0.05, as Markdown."""
        from robust_sabn.adversarial.report import collect_run_results
        from robust_sabn.adversarial.report.power import power_note, power_rows, power_table

        plan: AdversarialPlan = suite.plan
        paths = [pilot] if pilot is not None else self.record_paths(suite, suite_dir)
        if not paths:
            raise UserInputError(f"{suite.name} has no finished evaluations in {suite_dir}; run "
                                 f"`robust-sabn suite run {suite.name}` (or a pilot, then "
                                 "--pilot) first")
        results = collect_run_results(paths)
        options = plan.comparison
        metrics = list(options.metrics or results.metrics())
        branches = list(options.branches or ("clean", "adv"))
        rows = power_rows(results, metrics, branches, options.eps, target)
        return power_note(rows, target) + "\n\n" + power_table(rows, target)

    def render_records(self, records: list[tuple[Path, ResultRecord]], output: Path, *,
                       command: str, warnings: list[str], options: Mapping[str, Any]) -> Path:
        """``robust-sabn report``: the comparison of these evaluation records (training and
        other records of the runs are found beside them); ``options`` are
        :class:`~robust_sabn.adversarial.report.ReportOptions` fields."""
        from robust_sabn.adversarial.report import ReportOptions, collect_run_results, render_report

        try:
            report_options = ReportOptions(**options)
        except TypeError as exc:
            raise UserInputError(f"the adversarial report takes no such option: {exc}") from exc
        evaluations = [path for path, record in records if record.kind == "evaluation"]
        results = collect_run_results(evaluations)
        results.warnings += warnings
        return render_report(results, output, options=report_options, command=command).path


TASK = AdversarialTask()
