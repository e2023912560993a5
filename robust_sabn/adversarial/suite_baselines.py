"""RobustBench baselines of an adversarial suite: zoo models evaluated like the suite's runs.

A suite may list RobustBench zoo models (``[[baselines]]``, runs.dataset cifar10, cifar100 or
imagenet only); each is loaded through ``robustbench.utils.load_model`` from ``model_dir``
(downloaded there only when the file is absent and the network is there) and evaluated with every
``[[evaluations]]`` entry: same attacks, eps, examples, steps and seed as the runs. A zoo model
has one branch (``"shared"``), so ``branches`` and ``checkpoint`` of an evaluation do not apply::

    [[baselines]]
    robustbench = "Wong2020Fast"          # a RobustBench model name (required)
    threat_model = "Linf"                 # the leaderboard it is filed under (default Linf)
    label = "Wong2020Fast (RobustBench)"  # row label in the report (default: NAME (RobustBench))
    model_dir = "models"                  # RobustBench's MODEL_DIR (default "models")

Records go to ``runs/<suite>/baseline-<NAME>/eval-<evaluation name>-eps<eps>.json``. A baseline
evaluation is done when its record exists with the same settings and, when the weights file
(``MODEL_DIR/<dataset>/<threat_model>/<NAME>.pt``, or an ensemble's ``<NAME>.pt_m<i>.pt``) is
there, was made from weights with the same SHA-256.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_sabn.adversarial.evaluation_spec import EvaluationSpec
from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.errors import UserInputError
from robust_sabn.suites.checked import CheckedTable
from robust_sabn.suites.tasks import StepState

BASELINE_KEYS = ("robustbench", "threat_model", "label", "model_dir")
SUITE_THREAT_MODEL = "Linf"
"""The threat model of every suite evaluation (``evaluate_checkpoint``'s default)."""
DEFAULT_MODEL_DIR = Path("models")
RUN_PREFIX = "baseline-"
_SKIPPED_IN_IDENTITY = ("batch_size", "data_dir", "device", "model_dir")

Hasher = Callable[[Path], str | None]


@dataclass(frozen=True)
class BaselineSpec:
    """One ``[[baselines]]`` entry.

    Attributes:
        name: the RobustBench model name (``Wong2020Fast``).
        threat_model: the RobustBench leaderboard it is filed under (``Linf``).
        label: its row label in the report, or ``None`` for ``NAME (RobustBench)``.
        model_dir: RobustBench's MODEL_DIR (weights at ``<dataset>/<threat_model>/<NAME>.pt``).
    """

    name: str
    threat_model: str
    label: str | None
    model_dir: Path

    @property
    def run_id(self) -> str:
        """Its folder in the suite's results: ``baseline-<NAME>``."""
        return f"{RUN_PREFIX}{self.name}"

    @property
    def source(self) -> str:
        """What ``evaluate_checkpoint`` is given: ``robustbench:<NAME>``."""
        return f"robustbench:{self.name}"


def _check_known(table: CheckedTable, name: str, dataset: str, threat_model: str) -> None:
    """Fail on ``robustbench`` unless RobustBench (or timm through it) knows the model."""
    from robust_sabn.zoo.robustbench_zoo import robustbench_models, timm_backed

    known = robustbench_models(dataset, threat_model)
    if name in known or timm_backed(name, dataset, threat_model):
        return
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    table.fail("robustbench", f"unknown RobustBench model {name!r} for {dataset}/{threat_model}; "
                              f"{hint}see robustbench/model_zoo/{dataset}.py for the names")


def _parse_baseline(table: CheckedTable, dataset: str) -> BaselineSpec:
    from robust_sabn.zoo.layout import ROBUSTBENCH_DATASETS, check_model_name

    table.only(BASELINE_KEYS)
    table.require("robustbench")
    name = table.string("robustbench") or ""
    if dataset not in ROBUSTBENCH_DATASETS:
        table.fail("robustbench", f"RobustBench has no models for runs.dataset {dataset!r}; "
                                  f"baselines need {', '.join(ROBUSTBENCH_DATASETS)}")
    try:
        check_model_name(name)
    except UserInputError as exc:
        table.fail("robustbench", str(exc))
    threat_model = table.string("threat_model", SUITE_THREAT_MODEL) or SUITE_THREAT_MODEL
    if threat_model != SUITE_THREAT_MODEL:
        table.fail("threat_model", f"{threat_model!r}: suite evaluations attack in "
                                   f"{SUITE_THREAT_MODEL} and a baseline is attacked like the "
                                   f"runs; choose {SUITE_THREAT_MODEL}")
    label = table.string("label")
    if label is not None and not label.strip():
        table.fail("label", "must not be empty; leave it out for 'NAME (RobustBench)'")
    model_dir = table.string("model_dir")
    if model_dir is not None and not model_dir.strip():
        table.fail("model_dir", f"must not be empty; leave it out for {DEFAULT_MODEL_DIR}")
    _check_known(table, name, dataset, threat_model)
    return BaselineSpec(name=name, threat_model=threat_model, label=label,
                        model_dir=Path(model_dir) if model_dir else DEFAULT_MODEL_DIR)


def parse_baselines(doc: CheckedTable, dataset: str) -> list[BaselineSpec]:
    """The ``[[baselines]]`` tables of a suite whose runs use ``dataset``; empty when absent.

    Raises:
        UserInputError: naming the file and the key at fault: an unknown key, a dataset
            RobustBench has no models for, an unknown model name, a name listed twice.
    """
    specs: list[BaselineSpec] = []
    for table in doc.tables("baselines"):
        spec = _parse_baseline(table, dataset)
        if spec.name in [s.name for s in specs]:
            table.fail("robustbench", f"{spec.name!r} is listed twice; list each baseline once")
        specs.append(spec)
    return specs


def weight_files(baseline: BaselineSpec, dataset: str) -> list[Path]:
    """The baseline's weights files that exist: ``<NAME>.pt`` and an ensemble's
    ``<NAME>.pt_m<i>.pt``, in RobustBench's ``MODEL_DIR/<dataset>/<threat_model>/``."""
    folder = baseline.model_dir / dataset / baseline.threat_model
    if not folder.is_dir():
        return []
    single, member = f"{baseline.name}.pt", f"{baseline.name}.pt_m"
    return sorted(p for p in folder.iterdir() if p.is_file() and (
        p.name == single or (p.name.startswith(member) and p.name.endswith(".pt"))))


def weight_hashes(baseline: BaselineSpec, dataset: str, hasher: Hasher) -> dict[str, str]:
    """File name -> SHA-256 of each weights file there (empty when none is)."""
    hashes = {p.name: hasher(p) for p in weight_files(baseline, dataset)}
    return {name: digest for name, digest in hashes.items() if digest is not None}


def baseline_settings(baseline: BaselineSpec, spec: EvaluationSpec, eps: float, *,
                      dataset: str, data_dir: str | None, device: str) -> dict[str, Any]:
    """The keyword arguments of ``evaluate_checkpoint(baseline.source, ...)`` at ``eps``:
    the evaluation's settings, one branch, and where RobustBench finds the model."""
    return {
        "attacks": list(spec.attacks), "eps": eps, "n_examples": spec.n_examples,
        "batch_size": spec.batch_size, "branches": None, "version": spec.version,
        "seed": spec.seed, "pgd_steps": spec.pgd_steps, "split": spec.split,
        "data_dir": data_dir, "device": spec.device or device, "dataset": dataset,
        "model_dir": str(baseline.model_dir), "threat_model": baseline.threat_model,
    }


def baseline_identity(baseline: BaselineSpec, spec: EvaluationSpec,
                      settings: dict[str, Any]) -> dict[str, Any]:
    """What must match for a record to count as done (the weights are compared apart)."""
    kept = {k: v for k, v in settings.items() if k not in _SKIPPED_IN_IDENTITY}
    return {**kept, "evaluation": spec.name, "robustbench": baseline.name}


def baseline_state(record: ResultRecord | None, identity: dict[str, Any],
                   weights: dict[str, str]) -> StepState:
    """``"done"`` when ``record`` holds ``identity`` and, if the weights files exist
    (``weights`` not empty), was made from the same weights; else ``"todo"``."""
    if record is None:
        return "todo"
    suite = record.suite or {}
    if suite.get("settings") != identity:
        return "todo"
    if weights and (suite.get("baseline") or {}).get("weights_sha256") != weights:
        return "todo"
    return "done"
