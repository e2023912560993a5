"""The ``nas`` sections of a suite file, checked, as a plan of searches and scorings.

::

    task = "nas"
    [search]                        # every SearchConfig field may be set here
    algorithms = ["darts", "gdas"]  # default ["darts"]
    norms = ["bn", "ccbn", "saauxbn"]  # "sabn", the old name of saauxbn: a deprecation line
    seeds = [0, 1, 2]
    dataset = "fashion-mnist"
    [retrain]                       # optional: standalone retraining of every found cell
    seeds = [0, 1, 2]
    epochs = 6                      # RetrainConfig fields; data and widths follow [search]
    [tables]
    analog = true                   # the analog-nasbench CIFAR-10 column (default true)
    nb201 = "/data/NAS-Bench-201-v1_0-e61699.pth"   # optional
    [comparison]
    reference = "bn"                # the row every difference is taken against
    statistic = "median"            # paired rows test the median (sign test); default "mean"
                                    # (paired Student-t); declare it before the run
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from robust_sabn.errors import UserInputError
from robust_sabn.nas.config import ALGORITHMS, RetrainConfig, SearchConfig
from robust_sabn.nas.plugin import NAS_NORMS, RENAMED_NAS_NORMS, nas_norm, renamed_settings
from robust_sabn.report.findings import MEAN, STATISTICS
from robust_sabn.suites.checked import CheckedTable

_PER_RUN = ("algorithm", "norm", "seed")
_SHARED_WITH_RETRAIN = ("dataset", "data_dir", "search_examples", "resolution", "channels",
                        "cells_per_stage", "data_seed", "device")


@dataclass(frozen=True)
class NASPlan:
    """Searches (one per algorithm x norm x seed), retraining, tables, reference norm, and
    what the paired comparisons test (``statistic``: the mean or the median difference, one of
    :data:`robust_sabn.report.findings.STATISTICS`)."""

    searches: tuple[SearchConfig, ...]
    retrain: RetrainConfig | None
    retrain_seeds: tuple[int, ...]
    analog: bool
    nb201: str | None
    reference: str
    statistic: str = MEAN


RESULT_NEUTRAL = ("device", "data_dir")
"""Settings that do not change results: ignored when deciding whether a step is done."""


def identity(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """``settings`` without :data:`RESULT_NEUTRAL` keys (None stays None)."""
    if settings is None:
        return None
    return {k: v for k, v in renamed_settings(settings).items() if k not in RESULT_NEUTRAL}


def run_id(config: SearchConfig) -> str:
    """``darts-saauxbn-seed0`` (see :func:`legacy_run_id` for folders of older suites)."""
    return f"{config.algorithm}-{config.norm}-seed{config.seed}"


def legacy_run_id(config: SearchConfig) -> str | None:
    """The folder name suites made before the norm's rename gave this search
    (``darts-sabn-seed0`` for ``saauxbn``), or None when its norm was not renamed."""
    old = next((o for o, new in RENAMED_NAS_NORMS.items() if new == config.norm), None)
    return None if old is None else f"{config.algorithm}-{old}-seed{config.seed}"


def _settings(table: CheckedTable, cls: type, skip: tuple[str, ...]) -> dict[str, Any]:
    """The dataclass fields set in ``table``, with their types checked against the defaults."""
    out: dict[str, Any] = {}
    for field in fields(cls):
        if field.name in skip or not table.has(field.name):
            continue
        value, default = table.data[field.name], field.default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                table.fail(field.name, "expected true or false")
        elif isinstance(default, int) or field.name == "resolution":
            value = table.integer(field.name, minimum=1 if field.name != "seed" else 0)
        elif isinstance(default, float):
            value = table.number(field.name)
        else:
            value = table.string(field.name)
        out[field.name] = value
    return out


def _build(table: CheckedTable, cls: type, values: dict[str, Any]) -> Any:
    try:
        return cls(**values)
    except UserInputError as exc:
        table.fail("", str(exc))


def parse_nas(doc: CheckedTable) -> NASPlan:
    """Check the ``nas`` sections of a suite file (errors name the file and the key)."""
    search = doc.table("search", required=True)
    search_fields = [f.name for f in fields(SearchConfig) if f.name not in _PER_RUN]
    search.only(["algorithms", "norms", "seeds", *search_fields])
    algorithms = search.strings("algorithms", choices=ALGORITHMS, what="algorithm") or ["darts"]
    norms = [nas_norm(n) for n in search.strings(
        "norms", choices=(*NAS_NORMS, *RENAMED_NAS_NORMS), what="norm for the nas task",
        required=True) or []]
    seeds = search.integers("seeds", minimum=0, required=True) or []
    shared = _settings(search, SearchConfig, _PER_RUN)
    searches = tuple(
        _build(search, SearchConfig, {**shared, "algorithm": a, "norm": n, "seed": s})
        for a in algorithms for n in norms for s in seeds
    )
    retrain_table = doc.table("retrain")
    retrain, retrain_seeds = None, ()
    if retrain_table.data:
        retrain_fields = [f.name for f in fields(RetrainConfig)
                          if f.name not in _SHARED_WITH_RETRAIN]
        retrain_table.only(["seeds", *retrain_fields])
        retrain_seeds = tuple(retrain_table.integers("seeds", minimum=0, required=True) or [])
        inherited = {k: v for k, v in shared.items() if k in _SHARED_WITH_RETRAIN}
        retrain = _build(retrain_table, RetrainConfig, {
            **inherited, **_settings(retrain_table, RetrainConfig, _SHARED_WITH_RETRAIN)})
    tables = doc.table("tables")
    tables.only(["analog", "nb201"])
    analog = tables.data.get("analog", True)
    if not isinstance(analog, bool):
        tables.fail("analog", "expected true or false")
    comparison = doc.table("comparison")
    comparison.only(["reference", "statistic"])
    old_names = [old for old, new in RENAMED_NAS_NORMS.items() if new in norms]
    reference = nas_norm(comparison.string("reference", "bn", choices=[*norms, *old_names],
                                           what="reference norm") or "bn")
    statistic = comparison.string("statistic", MEAN, choices=STATISTICS,
                                  what="statistic for the paired comparisons") or MEAN
    return NASPlan(searches=searches, retrain=retrain, retrain_seeds=retrain_seeds,
                   analog=analog, nb201=tables.string("nb201"), reference=reference,
                   statistic=statistic)
