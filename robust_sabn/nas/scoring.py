"""Score a genotype: standalone retraining over seeds (each a run folder, reused when it
finished) and table lookups, one record."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.nas.config import RetrainConfig
from robust_sabn.nas.plan import identity
from robust_sabn.nas.records import score_record
from robust_sabn.nas.space import Genotype
from robust_sabn.nas.tables import CellTable
from robust_sabn.runs.names import read_run_record


def cell_hash(genotype: str, retrain: dict[str, Any]) -> str:
    """A short name for (cell, retraining settings) in the retraining cache; ``device`` and
    ``data_dir`` do not change results and are left out."""
    text = json.dumps({"genotype": genotype, "retrain": identity(retrain)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _runs_dir(cache_dir: Path | None) -> Iterator[Path]:
    """``cache_dir``, or a temporary folder removed after the block when it is None."""
    if cache_dir is not None:
        yield cache_dir
        return
    with tempfile.TemporaryDirectory(prefix="robust-sabn-retrain-") as folder:
        yield Path(folder)


def _retrain_seed(genotype: Genotype, config: RetrainConfig, seed: int, runs_dir: Path,
                  retrain_fn: Callable[..., ResultRecord], data: Any) -> tuple[float, int]:
    """(test accuracy, test images) of retraining ``genotype`` with ``seed``: from the record
    of its run folder ``runs_dir/<cell hash>-seed<seed>/`` when that run finished, else by
    retraining there (resuming a killed run). A ``<cell hash>-seed<seed>.json`` that runs made
    before retrainings had run folders left is read as it is."""
    name = f"{cell_hash(str(genotype), config.to_dict())}-seed{seed}"
    legacy = runs_dir / f"{name}.json"
    if legacy.is_file():
        saved = json.loads(legacy.read_text())
        return float(saved["accuracy"]), int(saved["n"])
    record = read_run_record(runs_dir / name)
    if record is None or record.status != "ok":
        record = retrain_fn(genotype, config, seed, runs_dir / name, data=data, resume=True)
    (metric,) = record.find("accuracy", split="test")
    return metric.value, int(metric.n or 0)


def score_genotype(genotype: str | Genotype, *, subject: dict[str, Any],
                   retrain: RetrainConfig | None, retrain_seeds: Sequence[int],
                   tables: Sequence[CellTable], cache_dir: Path | None = None,
                   retrain_fn: Callable[..., ResultRecord] | None = None,
                   progress: bool = False) -> ResultRecord:
    """Retrain ``genotype`` once per seed and look it up in ``tables``.

    Args:
        cache_dir: where each retraining's run folder goes (a suite's ``retrain-cache/``;
            a finished one is reused); None: a temporary folder, removed afterwards.
        retrain_fn: replaces :func:`robust_sabn.nas.retrain.retrain` (same arguments, returns
            its record).
        progress: a bar over the seeds and a line per retrained seed on stderr (rank 0).

    Raises:
        UserInputError: a malformed genotype string.
    """
    from robust_sabn.nas.retrain import load_retrain_data
    from robust_sabn.nas.retrain import retrain as default_retrain
    from robust_sabn.parallel.context import is_main_process
    from robust_sabn.runs.progress import PhaseProgress

    start = time.perf_counter()
    cell = genotype if isinstance(genotype, Genotype) else Genotype.parse(genotype)
    retrained: dict[int, tuple[float, int]] = {}
    if retrain is not None and retrain_seeds:
        data = load_retrain_data(retrain)
        quiet = not (progress and is_main_process())
        with (PhaseProgress("retrain seed", len(retrain_seeds), quiet) as display,
              _runs_dir(cache_dir) as runs_dir):
            for seed in retrain_seeds:
                with display.phase(f"retrain seed {seed}, {retrain.epochs} epochs"):
                    retrained[seed] = _retrain_seed(cell, retrain, seed, runs_dir,
                                                    retrain_fn or default_retrain, data)
    table_scores = {table.name: table.score(cell) for table in tables}
    return score_record(cell, subject=subject, retrained=retrained, retrain=retrain,
                        table_scores=table_scores, wall_time_s=time.perf_counter() - start)
