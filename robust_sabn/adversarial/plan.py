"""The ``adversarial`` task kind's suite sections, parsed and checked into a plan.

Sections (see ``suites/adversarial-fmnist.toml`` for a full example)::

    [runs]                      # the matrix: one run per (norm, seed)
    dataset = "fashion-mnist"   # robust_sabn.data.list_datasets()
    model = "small_cnn"         # robust_sabn.models.list_models("classifier")
    norms = ["bn", "auxbn", "saauxbn"]    # robust_sabn.nn.NORM_KINDS
    seeds = [0, 1, 2]           # default [0]
    [runs.train]                # TrainConfig options shared by every run (unset: defaults)
    epochs = 4
    [[runs.override]]           # options for the runs matching norms/seeds (both optional)
    norms = ["bn"]
    train = { lr = 0.02 }
    [[runs.arms]]               # an extra arm over the same seeds: runs <name>-seed<seed>
    name = "control"            #   (e.g. a clean-trained control of the same model)
    norm = "bn"
    train = { loss = "clean" }  # over [runs.train]

    [[evaluations]]             # each (evaluation, eps) is one evaluation record per run
    name = "pgd"                # names the record file eval-<name>-eps<eps>.json
    attacks = ["pgd"]           # robust_sabn.attacks.registry.list_attacks(); [] or absent:
                                #   clean accuracy only
    eps = [0.05, 0.1, "8/255"]  # [0, 1] pixel scale; fractions as strings
    n_examples = 500            # also: batch_size, branches, version, pgd_steps, seed, split,
                                #       checkpoint ("best" | "last"), device, and with
                                #       version "custom" autoattack_attacks (the cascade)

    [comparison]                # the report: metrics, branches, branch, eps, rows,
    metrics = ["clean", "pgd-20"]   # curve_metric, title, output

    [[baselines]]               # optional: a RobustBench zoo model evaluated like the runs
    robustbench = "Wong2020Fast"    # cifar10, cifar100, imagenet (adversarial.suite_baselines)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_sabn.adversarial.evaluation_spec import EvaluationSpec
from robust_sabn.adversarial.report import ROWS, ReportOptions
from robust_sabn.adversarial.suite_baselines import BaselineSpec, parse_baselines
from robust_sabn.errors import UserInputError
from robust_sabn.suites.checked import CheckedTable
from robust_sabn.suites.tasks import SuiteRun
from robust_sabn.train.config import CHOICES
from robust_sabn.vocabulary import ADV_BRANCH_NAMES

BRANCHES = ADV_BRANCH_NAMES
# TrainConfig options a suite may set in [runs.train] and [[runs.override]] tables; dataset,
# model, norm and seed come from the [runs] matrix.
_INTEGERS = ("width", "epochs", "batch_size", "warmup_iters", "max_train_examples", "val_size",
             "val_examples", "attack_steps")
_NUMBERS = ("lr", "momentum", "weight_decay", "gamma", "eps", "step_size")
_STRINGS = ("data_dir", "device", "preset")
TRAIN_OPTIONS = (*_INTEGERS, *_NUMBERS, *CHOICES, *_STRINGS, "milestones")


class AdversarialRun(SuiteRun):
    """One training run: ``config`` holds the TrainConfig fields the suite sets."""


@dataclass(frozen=True)
class AdversarialPlan:
    """A parsed adversarial suite: runs, evaluations, RobustBench baselines, the report."""

    dataset: str
    model: str
    runs: tuple[AdversarialRun, ...]
    evaluations: tuple[EvaluationSpec, ...]
    comparison: ReportOptions
    report_output: Path | None
    baselines: tuple[BaselineSpec, ...] = ()


def _train_options(table: CheckedTable) -> dict[str, Any]:
    """The TrainConfig options of a ``train`` table, checked by type and choice."""
    for key in ("dataset", "model", "norm", "seed"):
        if table.has(key):
            table.fail(key, f"set {key} in [runs] (the run matrix), not per training option")
    table.only(TRAIN_OPTIONS)
    options: dict[str, Any] = {}
    for key in table.data:
        if key in _INTEGERS:
            options[key] = table.integer(key, minimum=0)
        elif key in _NUMBERS:
            options[key] = table.number(key)
        elif key in CHOICES:
            options[key] = table.string(key, choices=CHOICES[key])
        elif key in _STRINGS:
            options[key] = table.string(key)
        else:
            options[key] = table.integers(key, minimum=0)
    return options


def _parse_runs(doc: CheckedTable) -> tuple[str, str, list[AdversarialRun]]:
    from robust_sabn.data import list_datasets
    from robust_sabn.models import list_models
    from robust_sabn.nn import NORM_KINDS
    from robust_sabn.train import TrainConfig

    runs = doc.table("runs", required=True)
    runs.only(["dataset", "model", "norms", "seeds", "train", "override", "arms"])
    runs.require("dataset")
    runs.require("model")
    dataset = runs.string("dataset", choices=list_datasets(), what="dataset") or ""
    model = runs.string("model", choices=list_models(family="classifier"), what="model") or ""
    norms = runs.strings("norms", choices=NORM_KINDS, what="norm", required=True) or []
    seeds = runs.integers("seeds", minimum=0) or [0]
    shared = _train_options(runs.table("train"))
    overrides = []
    for table in runs.tables("override"):
        table.only(["norms", "seeds", "train"])
        match_norms = table.strings("norms", choices=norms, what="norm")
        match_seeds = table.integers("seeds")
        for i, seed in enumerate(match_seeds or []):
            if seed not in seeds:
                table.fail(f"seeds[{i}]", f"seed {seed} is not in runs.seeds")
        overrides.append((match_norms, match_seeds, _train_options(table.table("train",
                                                                              required=True))))
    arms: list[tuple[str, str, dict[str, Any]]] = []
    for table in runs.tables("arms"):
        table.only(["name", "norm", "train"])
        table.require("name")
        table.require("norm")
        name = table.string("name") or ""
        if name in norms or name in [arm[0] for arm in arms] or "-seed" in name or not name:
            table.fail("name", f"{name!r} must be a new, non-empty arm name (not a norm of "
                               "runs.norms, without '-seed')")
        arms.append((name, table.string("norm", choices=NORM_KINDS, what="norm") or "",
                     _train_options(table.table("train"))))
    plan = []
    for name, norm, arm_options in [*((norm, norm, None) for norm in norms), *arms]:
        for seed in seeds:
            config = {"dataset": dataset, "model": model, "norm": norm, "seed": seed, **shared}
            for match_norms, match_seeds, options in overrides:
                if arm_options is None and norm in (match_norms or norms) and seed in (
                        match_seeds or seeds):
                    config.update(options)
            config.update(arm_options or {})
            run_id = f"{name}-seed{seed}"
            try:
                TrainConfig(**config).resolved()
            except UserInputError as exc:
                raise UserInputError(f"{doc.file}: runs ({run_id}): {exc}") from exc
            plan.append(AdversarialRun(run_id=run_id, norm=norm, seed=seed, config=config))
    return dataset, model, plan


def _parse_evaluations(doc: CheckedTable) -> list[EvaluationSpec]:
    tables = doc.tables("evaluations")
    if not tables:
        raise UserInputError(f"{doc.file}: evaluations: missing; add at least one "
                             "[[evaluations]] table (name, attacks, eps)")
    specs: list[EvaluationSpec] = []
    measured: dict[tuple[str, float], str] = {}
    for table in tables:
        spec = table.validate(EvaluationSpec)
        if spec.name in [s.name for s in specs]:
            table.fail("name", f"{spec.name!r} is used by another evaluation; names must differ")
        for metric in spec.metrics():
            for eps in spec.eps:
                if (metric, eps) in measured:
                    table.fail("eps", f"{metric} at eps {eps:g} is already measured by "
                                      f"{measured[(metric, eps)]}; measure it once")
                measured[(metric, eps)] = table.where
        specs.append(spec)
    return specs


def _parse_comparison(doc: CheckedTable, evaluations: list[EvaluationSpec]
                      ) -> tuple[ReportOptions, Path | None]:
    table = doc.table("comparison")
    table.only(["metrics", "branches", "branch", "eps", "rows", "curve_metric", "title",
                "output"])
    measured = list(dict.fromkeys(["clean", *[m for e in evaluations for m in e.metrics()]]))
    all_eps = sorted({eps for e in evaluations for eps in e.eps})
    metrics = table.strings("metrics", choices=measured, what="metric")
    curve_metric = table.string("curve_metric", choices=measured, what="metric")
    eps = table.number("eps")
    if eps is not None and all(abs(eps - e) > 1e-9 for e in all_eps):
        table.fail("eps", f"{eps:g} is in no evaluation's eps list "
                          f"({', '.join(f'{e:g}' for e in all_eps)})")
    branches = table.strings("branches", choices=BRANCHES, what="branch")
    output = table.string("output")
    options = ReportOptions(
        metrics=tuple(metrics) if metrics else None,
        branches=tuple(branches) if branches else None,
        branch=table.string("branch", "adv", choices=BRANCHES, what="branch") or "adv",
        eps=eps,
        rows=table.string("rows", "norm", choices=ROWS, what="rows") or "norm",
        curve_metric=curve_metric,
        title=table.string("title"),
    )
    return options, Path(output) if output else None


def parse_adversarial(doc: CheckedTable) -> AdversarialPlan:
    """Check the ``runs``, ``evaluations``, ``comparison`` and ``baselines`` sections; expand
    the run matrix.

    Raises:
        UserInputError: naming the file and the key (or the run) at fault.
    """
    dataset, model, runs = _parse_runs(doc)
    evaluations = _parse_evaluations(doc)
    comparison, output = _parse_comparison(doc, evaluations)
    baselines = parse_baselines(doc, dataset)
    return AdversarialPlan(dataset=dataset, model=model, runs=tuple(runs),
                           evaluations=tuple(evaluations), comparison=comparison,
                           report_output=output, baselines=tuple(baselines))
