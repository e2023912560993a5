"""The ``gan`` suite file: which runs, the reference classifier, the evaluation, the report.

::

    task = "gan"
    [runs]                       # one run per generator x norm x seed
    dataset = "fashion-mnist"
    generators = ["sngan32"]
    norms = ["ccbn", "sabn"]
    seeds = [0, 1, 2]
    preset = "fmnist-cpu"        # robust_sabn.gan.config.PRESETS (optional)
    [runs.train]                 # GANConfig options over the preset
    iterations = 600
    [reference]                  # the reference classifier (offline FID/IS features)
    epochs = 3
    max_train_examples = 20000
    schedule = "cosine"          # "constant" (default) or "cosine" learning rate
    augment = false              # random crop/flip of its training images (default true)
    [evaluation]
    n_samples = 2000             # fakes, against as many real test images
    inception_weights = ""       # a path: standard Inception FID/IS instead of the classifier
    [report]
    reference = "ccbn"           # rows are compared with this norm
    grid_per_class = 8
    output = "reports/gan-fmnist.md"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_sabn.gan.config import PRESETS, GANConfig
from robust_sabn.gan.names import GENERATOR_LABELS, REFERENCE_SCHEDULES
from robust_sabn.gan.plugin import GAN_NORMS
from robust_sabn.suites.checked import CheckedTable
from robust_sabn.suites.tasks import SuiteRun

_CONFIG_KEYS = tuple(k for k in GANConfig.__dataclass_fields__
                     if k not in ("dataset", "generator", "norm", "seed"))


@dataclass(frozen=True)
class GANRun(SuiteRun):
    """One training run of the suite: its id, generator and its GANConfig fields."""

    generator: str


@dataclass(frozen=True)
class GANPlan:
    """A parsed ``gan`` suite."""

    dataset: str
    runs: list[GANRun]
    reference: dict[str, Any]
    n_samples: int
    eval_seed: int
    inception_weights: str | None
    reference_norm: str
    grid_per_class: int
    output: Path | None
    data_dir: str | None = None
    norms: list[str] = field(default_factory=list)


def parse_gan(doc: CheckedTable) -> GANPlan:
    """Check the ``runs``, ``reference``, ``evaluation`` and ``report`` sections.

    Raises:
        UserInputError: unknown or ill-typed key, unknown generator, preset or norm (e.g.
            ``saauxbn``), naming the file and key.
    """
    runs = doc.table("runs", required=True)
    runs.only(["dataset", "generators", "norms", "seeds", "preset", "train"])
    dataset = runs.string("dataset", "fashion-mnist") or "fashion-mnist"
    generators = runs.strings("generators", choices=list(GENERATOR_LABELS), what="generator",
                              required=True) or []
    norms = runs.strings("norms", choices=GAN_NORMS, what="GAN norm",
                         required=True) or []
    seeds = runs.integers("seeds", minimum=0, required=True) or []
    preset = runs.string("preset", None, choices=list(PRESETS), what="GAN preset")
    train = runs.table("train")
    train.only(_CONFIG_KEYS)
    base = {**(PRESETS[preset] if preset else {}), **train.data, "dataset": dataset}
    plan_runs = []
    for generator in generators:
        for norm in norms:
            for seed in seeds:
                fields = {**base, "generator": generator, "norm": norm, "seed": seed}
                GANConfig.from_preset(None, **fields)
                plan_runs.append(GANRun(run_id=f"{generator}-{norm}-seed{seed}",
                                        generator=generator, norm=norm, seed=seed,
                                        config=fields))
    reference = doc.table("reference")
    reference.only(["epochs", "max_train_examples", "width", "seed", "schedule", "augment"])
    ref = {"epochs": reference.integer("epochs", 3, minimum=1),
           "max_train_examples": reference.integer("max_train_examples", None, minimum=100),
           "width": reference.integer("width", 32, minimum=1),
           "seed": reference.integer("seed", 0, minimum=0)}
    # written only when set, so the settings of suites without them (their cached reference
    # classifiers) stay as they were
    if reference.has("schedule"):
        ref["schedule"] = reference.string("schedule", choices=REFERENCE_SCHEDULES, what="schedule")
    if reference.has("augment"):
        ref["augment"] = reference.boolean("augment")
    evaluation = doc.table("evaluation")
    evaluation.only(["n_samples", "seed", "inception_weights"])
    n_samples = evaluation.integer("n_samples", 2000, minimum=20) or 2000
    ref["real_samples"] = n_samples
    report = doc.table("report")
    report.only(["reference", "grid_per_class", "output"])
    output = report.string("output", None)
    return GANPlan(
        dataset=dataset, runs=plan_runs, reference=ref,
        n_samples=n_samples,
        eval_seed=evaluation.integer("seed", 0, minimum=0) or 0,
        inception_weights=evaluation.string("inception_weights", None) or None,
        reference_norm=report.string("reference", "ccbn", choices=norms,
                                     what="reference norm") or "ccbn",
        grid_per_class=report.integer("grid_per_class", 8, minimum=1) or 8,
        output=Path(output) if output else None,
        data_dir=base.get("data_dir"), norms=list(norms),
    )
