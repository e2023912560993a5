"""Collect result records into per-run results: what a report is rendered from.

Reads records through :mod:`robust_sabn.artifacts.result` (evaluation records,
``train_record.json``) and ``metrics.jsonl``; never imports torch, models, training or
evaluation code. A record that cannot be read is skipped and named in ``ResultSet.warnings``.
A *run* is one trained model (one checkpoint); its evaluation records (one per attack set and
eps) are merged into one table of values keyed by ``(branch, metric, eps)``. Accuracies are
fractions in [0, 1]; eps is on the [0, 1] pixel scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_sabn.adversarial.record import ACCURACY, TASK, example_flags, settings_of
from robust_sabn.adversarial.report.baselines import baseline_label, baseline_of
from robust_sabn.artifacts.result import ResultRecord, read_result
from robust_sabn.artifacts.result import collect_results as read_all
from robust_sabn.errors import UserInputError
from robust_sabn.runs.names import RECORD_NAME
from robust_sabn.vocabulary import CLEAN_ATTACK as CLEAN
from robust_sabn.vocabulary import SHARED_BRANCH

CONTROL_LOSS = "clean"
"""The training loss of the control arm: plain cross-entropy on clean images, no attack."""


def metric_order(metric: str) -> tuple[int, str, int]:
    """Sort key: clean first, AutoAttack last, ``pgd-10`` before ``pgd-20`` (steps as numbers)."""
    name, _, steps = metric.rpartition("-")
    rank = 0 if metric == CLEAN else 2 if metric.startswith("autoattack") else 1
    if steps.isdigit():
        return rank, name, int(steps)
    return rank, metric, 0


def eps_key(eps: float) -> float:
    """eps rounded so that values from different records compare equal."""
    return round(float(eps), 9)


@dataclass(frozen=True)
class ExampleFlags:
    """Which test points one run got right under one attack, and which points those were.

    Attributes:
        flags: one boolean per evaluated example, in the evaluated order.
        points: what makes two runs' flags comparable point by point: dataset, split, number
            of examples (the first N of the split) and the attack seed.
    """

    flags: tuple[bool, ...]
    points: tuple[str, str, int, int]


@dataclass
class RunResults:
    """Everything the records say about one trained model.

    Attributes:
        key: identity of the run (its folder, else its checkpoint path or hash).
        name: short name for people (the run folder's name, e.g. ``saauxbn-seed0``).
        dataset, model, norm: the setup (``model`` is a registry name or a RobustBench name).
        model_kwargs: the architecture's extra arguments (e.g. ``{"width": 16}``).
        values: ``(branch, metric, eps) -> (accuracy, n_examples)``; ``metric`` is ``"clean"``
            (eps ``None``) or a record key such as ``"pgd-20"`` or ``"autoattack-standard"``.
        example_flags: the per-example flags behind ``values``, same keys, where the records
            hold them (a clean accuracy comes from the record with the most examples).
        cascades: ``(branch, eps) -> [(stage, robust accuracy), ...]`` of AutoAttack.
        flags: ``(branch, eps, message)`` AutoAttack sanity-check warnings.
        curve: the run's ``metrics.jsonl`` rows (one per epoch), empty if unknown.
        evaluations: how many evaluation records were merged.
        eval_time_s, train_time_s: wall-clock seconds from the records (``None``: no record).
        records: every record read for this run (evaluations, then its training record).
        seed: the training seed (from the training record), None if unknown.
        baseline: whether it is a RobustBench zoo model (see
            :mod:`robust_sabn.adversarial.report.baselines`).
        label: a baseline's row label (``None`` for our runs: their group names them).
    """

    key: str
    name: str
    dataset: str = ""
    model: str = ""
    norm: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    threat_model: str = "Linf"
    values: dict[tuple[str, str, float | None], tuple[float, int]] = field(default_factory=dict)
    example_flags: dict[tuple[str, str, float | None], ExampleFlags] = field(
        default_factory=dict)
    cascades: dict[tuple[str, float], list[tuple[str, float]]] = field(default_factory=dict)
    flags: list[tuple[str, float, str]] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)
    evaluations: int = 0
    eval_time_s: float = 0.0
    train_time_s: float | None = None
    records: list[ResultRecord] = field(default_factory=list)
    seed: int | None = None
    baseline: bool = False
    label: str | None = None

    def training_config(self) -> dict[str, Any]:
        """The run's training config from its training record ({} when none was read)."""
        for record in self.records:
            config = record.subject.get("config") or record.extras.get("config")
            if record.kind == "training" and isinstance(config, dict):
                return config
        return {}

    def is_control(self, control_loss: str = CONTROL_LOSS) -> bool:
        """Whether the run is a control arm: trained with ``loss = control_loss`` (by default
        the clean-trained control, no attack). Reports group it apart from the adversarially
        trained runs of its norm; claims leave it out of its norm's runs; gates compare
        against it."""
        return self.training_config().get("loss") == control_loss

    @property
    def clean_trained(self) -> bool:
        """Whether the run is the clean-trained control (:meth:`is_control`)."""
        return self.is_control()

    def branches(self) -> list[str]:
        """The branches this run has values for, in first-seen order."""
        return list(dict.fromkeys(branch for branch, _, _ in self.values))

    def resolve_branch(self, branch: str) -> str | None:
        """``branch`` itself, or ``"shared"`` for a single-branch model (it stands for every
        branch, as the plain-BN column of the paper's table), or ``None``."""
        have = self.branches()
        if branch in have:
            return branch
        if have == [SHARED_BRANCH]:
            return SHARED_BRANCH
        return None

    def value(self, branch: str, metric: str, eps: float | None) -> float | None:
        """Accuracy of ``metric`` on ``branch`` at ``eps`` (ignored for clean), or ``None``."""
        resolved = self.resolve_branch(branch)
        if resolved is None:
            return None
        key = (resolved, metric, None if metric == CLEAN else eps_key(eps or 0.0))
        found = self.values.get(key)
        return None if found is None else found[0]


@dataclass
class ResultSet:
    """Runs collected from records, the record files read, and the files skipped (warnings)."""

    runs: list[RunResults]
    record_files: list[Path]
    warnings: list[str] = field(default_factory=list)

    def eps_values(self, metric: str) -> list[float]:
        """Every eps at which ``metric`` was measured, sorted."""
        return sorted({e for run in self.runs for (_, m, e) in run.values
                       if m == metric and e is not None})

    def metrics(self) -> list[str]:
        """Every metric measured: ``"clean"``, then PGD-k by k, other attacks, AutoAttack."""
        found = {metric for run in self.runs for _, metric, _ in run.values} | {CLEAN}
        return sorted(found, key=metric_order)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    from robust_sabn.artifacts.records import read_jsonl

    return read_jsonl(path)


def _is_adversarial_evaluation(record: ResultRecord) -> bool:
    return record.task == TASK and record.kind == "evaluation"


def find_records(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, ResultRecord]], list[str]]:
    """Adversarial evaluation records under ``paths``, each once, in a stable order, and one
    warning per file that looked like a record but could not be read.

    A path may be an evaluation record, a run folder or any folder above them (a suite folder).

    Raises:
        UserInputError: a path that does not exist, a file that is not an adversarial
            evaluation record, or nothing found at all.
    """
    paths = list(paths)
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            record = read_result(path)
            if not _is_adversarial_evaluation(record):
                raise UserInputError(
                    f"{path} is not an adversarial evaluation record; give evaluation JSON files "
                    "or the run/suite folders that hold them"
                )
    found, warnings = read_all(paths)
    records = list({p.resolve(): (p.resolve(), r) for p, r in found
                    if _is_adversarial_evaluation(r)}.values())
    if not records:
        raise UserInputError(
            "no evaluation records found in " + ", ".join(str(p) for p in paths)
            + "; run `robust-sabn eval` or `robust-sabn suite run` first"
        )
    return records, warnings


def _run_dir_of(record_path: Path, record: ResultRecord) -> Path | None:
    """The training run folder an evaluation belongs to: the record's own folder when it holds
    ``metrics.jsonl``, else the checkpoint's folder when that does."""
    candidates = [record_path.parent]
    checkpoint = record.subject.get("checkpoint")
    if isinstance(checkpoint, str) and checkpoint:
        candidates.append(Path(checkpoint).parent)
    for folder in candidates:
        if (folder / "metrics.jsonl").is_file():
            return folder.resolve()
    return None


def _describe_model(run: RunResults, record: ResultRecord) -> None:
    model = record.subject.get("model") or {}
    if "robustbench" in model:
        run.model = str(model["robustbench"])
    else:
        run.model = str(model.get("name", "?"))
        run.model_kwargs = dict(model.get("kwargs") or {})
    run.norm = record.subject.get("norm") or model.get("norm")
    run.dataset = str(record.subject.get("dataset", "?"))
    run.threat_model = str(settings_of(record).get("threat_model", "Linf"))


def _merge_evaluation(run: RunResults, record: ResultRecord,
                      flags: dict[tuple[str, str], list[bool]]) -> None:
    settings = settings_of(record)
    eps = eps_key(settings["eps"])
    points = (str(record.subject.get("dataset")), str(record.subject.get("split")),
              int(settings.get("n_examples") or 0), int(settings.get("seed") or 0))
    for metric in record.find(ACCURACY):
        branch = metric.branch or SHARED_BRANCH
        attack = str(metric.condition.get("attack"))
        n = metric.n or 0
        key = (branch, CLEAN, None) if attack == CLEAN else (branch, attack, eps)
        if attack == CLEAN and key in run.values and run.values[key][1] >= n:
            continue
        run.values[key] = (metric.value, n)
        run.example_flags.pop(key, None)
        if (branch, attack) in flags:
            run.example_flags[key] = ExampleFlags(tuple(flags[(branch, attack)]), points)
    for branch, autoattack in (record.extras.get("autoattack") or {}).items():
        run.cascades[(branch, eps)] = [
            (str(stage["attack"]), float(stage["robust_accuracy"]))
            for stage in autoattack.get("cascade", [])
        ]
        run.flags += [(branch, eps, str(flag)) for flag in autoattack.get("flags", [])]
    run.evaluations += 1
    run.eval_time_s += record.provenance.wall_time_s or 0.0
    run.records.append(record)


def _attach_training(run: RunResults, run_dir: Path) -> None:
    run.curve = _read_jsonl(run_dir / "metrics.jsonl")
    train_record = run_dir / RECORD_NAME
    if train_record.is_file():
        record = read_result(train_record)
        run.train_time_s = record.provenance.wall_time_s or 0.0
        run.records.append(record)
        config = record.subject.get("config") or {}
        seed = config.get("seed")
        run.seed = int(seed) if isinstance(seed, int) else None


def collect_run_results(paths: Iterable[str | Path]) -> ResultSet:
    """Read every adversarial evaluation record under ``paths`` and group them by trained model.

    Raises:
        UserInputError: see :func:`find_records`.
    """
    found, warnings = find_records(paths)
    runs: dict[str, RunResults] = {}
    for path, record in found:
        baseline = baseline_of(record)
        run_dir = None if baseline is not None else _run_dir_of(path, record)
        if baseline is not None:
            key, name = baseline.key, baseline.name
        elif run_dir is not None:
            key, name = str(run_dir), run_dir.name
        else:
            subject = record.subject
            key = str(subject.get("checkpoint_sha256") or subject.get("checkpoint") or path)
            name = Path(str(subject.get("checkpoint") or path)).stem
        run = runs.get(key)
        if run is None:
            run = runs[key] = RunResults(key=key, name=name, baseline=baseline is not None,
                                         label=baseline.label if baseline else None)
            _describe_model(run, record)
            if run_dir is not None:
                _attach_training(run, run_dir)
        try:
            flags = example_flags(record)
        except (ValueError, KeyError, TypeError) as exc:
            warnings.append(f"{path}: per-example flags unreadable ({exc}); its accuracies are "
                            "used without them")
            flags = {}
        _merge_evaluation(run, record, flags)
    return ResultSet(runs=list(runs.values()), record_files=[p for p, _ in found],
                     warnings=warnings)


def relabel_baselines(results: ResultSet, labels: Mapping[str, str]) -> None:
    """Give the baselines named in ``labels`` (zoo name -> label) those row labels."""
    for run in results.runs:
        if run.baseline and run.model in labels:
            run.label = baseline_label(run.model, labels[run.model])
