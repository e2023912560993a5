"""Collect result records into per-run results: what a report is rendered from.

Reads JSON only (evaluation records, ``train_record.json``, ``config.json``, ``metrics.jsonl``);
never imports torch, models, training or evaluation code. A *run* is one trained model (one
checkpoint); its evaluation records (one per attack set and eps) are merged into one table of
values keyed by ``(branch, metric, eps)``. Accuracies are fractions in [0, 1]; eps is on the
[0, 1] pixel scale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_sabn.errors import UserInputError
from robust_sabn.report.baselines import baseline_of

SHARED_BRANCH = "shared"
CLEAN = "clean"


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
        cascades: ``(branch, eps) -> [(stage, robust accuracy), ...]`` of AutoAttack.
        flags: ``(branch, eps, message)`` AutoAttack sanity-check warnings.
        curve: the run's ``metrics.jsonl`` rows (one per epoch), empty if unknown.
        evaluations: how many evaluation records were merged.
        eval_time_s, train_time_s: wall-clock seconds from the records (``None``: no record).
        environments: ``{"versions", "hardware", "file"}`` of every record read for this run.
        baseline: whether it is a RobustBench zoo model (see :mod:`robust_sabn.report.baselines`).
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
    cascades: dict[tuple[str, float], list[tuple[str, float]]] = field(default_factory=dict)
    flags: list[tuple[str, float, str]] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)
    evaluations: int = 0
    eval_time_s: float = 0.0
    train_time_s: float | None = None
    environments: list[dict[str, Any]] = field(default_factory=list)
    baseline: bool = False
    label: str | None = None

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
    """Runs collected from records, plus the record files read."""

    runs: list[RunResults]
    record_files: list[Path]

    def eps_values(self, metric: str) -> list[float]:
        """Every eps at which ``metric`` was measured, sorted."""
        return sorted({e for run in self.runs for (_, m, e) in run.values
                       if m == metric and e is not None})

    def metrics(self) -> list[str]:
        """Every metric measured: ``"clean"``, then PGD-k by k, other attacks, AutoAttack."""
        found = {metric for run in self.runs for _, metric, _ in run.values} | {CLEAN}
        return sorted(found, key=metric_order)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{path} is not a readable JSON record: {exc}") from exc


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _is_evaluation(path: Path) -> bool:
    if path.name in ("train_record.json", "config.json"):
        return False
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(record, dict) and record.get("kind") == "evaluation"


def find_records(paths: Iterable[str | Path]) -> list[Path]:
    """Evaluation record files under ``paths``, each once, in a stable order.

    A path may be an evaluation record, a run folder or any folder above them (a suite folder).

    Raises:
        UserInputError: a path that does not exist, a file that is not an evaluation record, or
            nothing found at all.
    """
    paths = list(paths)
    records: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            if not _is_evaluation(path):
                raise UserInputError(
                    f"{path} is not an evaluation record; give evaluation JSON files or the "
                    "run/suite folders that hold them"
                )
            records.append(path)
        elif path.is_dir():
            records += sorted(p for p in path.rglob("*.json") if _is_evaluation(p))
        else:
            raise UserInputError(f"result path not found: {path}")
    records = list(dict.fromkeys(p.resolve() for p in records))
    if not records:
        raise UserInputError(
            "no evaluation records found in " + ", ".join(str(p) for p in paths)
            + "; run `robust-sabn eval` or `robust-sabn suite run` first"
        )
    return records


def _run_dir_of(record_path: Path, record: dict[str, Any]) -> Path | None:
    """The training run folder an evaluation belongs to: the record's own folder when it holds
    ``metrics.jsonl``, else the checkpoint's folder when that does."""
    candidates = [record_path.parent]
    checkpoint = record.get("checkpoint")
    if isinstance(checkpoint, str) and checkpoint:
        candidates.append(Path(checkpoint).parent)
    for folder in candidates:
        if (folder / "metrics.jsonl").is_file():
            return folder.resolve()
    return None


def _describe_model(run: RunResults, record: dict[str, Any]) -> None:
    model = record.get("model") or {}
    if "robustbench" in model:
        run.model = str(model["robustbench"])
    else:
        run.model = str(model.get("name", "?"))
        run.model_kwargs = dict(model.get("kwargs") or {})
    run.norm = record.get("norm") or model.get("norm")
    run.dataset = str(record.get("dataset", "?"))
    run.threat_model = str(record.get("threat_model", "Linf"))


def _merge_evaluation(run: RunResults, record: dict[str, Any], path: Path) -> None:
    eps = eps_key(record["eps"])
    n = int(record.get("n_examples", 0))
    for branch, result in (record.get("branches") or {}).items():
        clean_key = (branch, CLEAN, None)
        if clean_key not in run.values or run.values[clean_key][1] < n:
            run.values[clean_key] = (float(result["clean_accuracy"]), n)
        for metric, acc in (result.get("robust_accuracy") or {}).items():
            run.values[(branch, metric, eps)] = (float(acc), n)
        autoattack = result.get("autoattack")
        if autoattack:
            run.cascades[(branch, eps)] = [
                (str(stage["attack"]), float(stage["robust_accuracy"]))
                for stage in autoattack.get("cascade", [])
            ]
            run.flags += [(branch, eps, str(flag)) for flag in autoattack.get("flags", [])]
    run.evaluations += 1
    run.eval_time_s += float(record.get("wall_time_s", 0.0))
    run.environments.append({"versions": record.get("versions", {}),
                             "hardware": record.get("hardware", {}), "file": str(path)})


def _attach_training(run: RunResults, run_dir: Path) -> None:
    run.curve = _read_jsonl(run_dir / "metrics.jsonl")
    train_record = run_dir / "train_record.json"
    if train_record.is_file():
        record = _read_json(train_record)
        run.train_time_s = float(record.get("wall_time_s", 0.0))
        run.environments.append({"versions": record.get("versions", {}),
                                 "hardware": record.get("hardware", {}),
                                 "file": str(train_record)})


def collect_results(paths: Iterable[str | Path]) -> ResultSet:
    """Read every evaluation record under ``paths`` and group them by trained model.

    Raises:
        UserInputError: see :func:`find_records`; a record missing required fields.
    """
    record_files = find_records(paths)
    runs: dict[str, RunResults] = {}
    for path in record_files:
        record = _read_json(path)
        baseline = baseline_of(record) if isinstance(record, dict) else None
        run_dir = None if baseline is not None else _run_dir_of(path, record)
        if baseline is not None:
            key, name = baseline.key, baseline.name
        elif run_dir is not None:
            key, name = str(run_dir), run_dir.name
        else:
            key = str(record.get("checkpoint_sha256") or record.get("checkpoint") or path)
            name = Path(str(record.get("checkpoint") or path)).stem
        run = runs.get(key)
        if run is None:
            run = runs[key] = RunResults(key=key, name=name, baseline=baseline is not None,
                                         label=baseline.label if baseline else None)
            _describe_model(run, record)
            if run_dir is not None:
                _attach_training(run, run_dir)
        try:
            _merge_evaluation(run, record, path)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserInputError(f"{path}: malformed evaluation record ({exc!r})") from exc
    return ResultSet(runs=list(runs.values()), record_files=record_files)
