"""Score a genotype: standalone retraining over seeds (cached) and table lookups, one record."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.checkpoint import atomic_write_bytes
from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.nas.config import RetrainConfig
from robust_sabn.nas.plan import identity
from robust_sabn.nas.records import score_record
from robust_sabn.nas.space import Genotype
from robust_sabn.nas.tables import CellTable


def cell_hash(genotype: str, retrain: dict[str, Any]) -> str:
    """A short name for (cell, retraining settings) in the retraining cache; ``device`` and
    ``data_dir`` do not change results and are left out."""
    text = json.dumps({"genotype": genotype, "retrain": identity(retrain)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached_retrain(genotype: Genotype, config: RetrainConfig, seed: int, cache_dir: Path | None,
                    retrain_fn: Callable[..., Any], data: Any) -> tuple[float, int]:
    path = None
    if cache_dir is not None:
        path = cache_dir / f"{cell_hash(str(genotype), config.to_dict())}-seed{seed}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            return float(saved["accuracy"]), int(saved["n"])
    result = retrain_fn(genotype, config, seed, data=data)
    if path is not None:
        text = json.dumps({"genotype": str(genotype), "seed": seed, "accuracy": result.accuracy,
                           "n": result.n, "wall_time_s": result.wall_time_s}, allow_nan=False)
        atomic_write_bytes(path, lambda f: f.write(text.encode()))
    return result.accuracy, result.n


def score_genotype(genotype: str | Genotype, *, subject: dict[str, Any],
                   retrain: RetrainConfig | None, retrain_seeds: Sequence[int],
                   tables: Sequence[CellTable], cache_dir: Path | None = None,
                   retrain_fn: Callable[..., Any] | None = None,
                   progress: bool = False) -> ResultRecord:
    """Retrain ``genotype`` once per seed (reusing cached runs) and look it up in ``tables``;
    ``progress`` shows a bar over the seeds and a line per retrained seed on stderr (rank 0).

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
        with PhaseProgress("retrain seed", len(retrain_seeds), quiet) as display:
            for seed in retrain_seeds:
                with display.phase(f"retrain seed {seed}, {retrain.epochs} epochs"):
                    retrained[seed] = _cached_retrain(cell, retrain, seed, cache_dir,
                                                      retrain_fn or default_retrain, data)
    table_scores = {table.name: table.score(cell) for table in tables}
    return score_record(cell, subject=subject, retrained=retrained, retrain=retrain,
                        table_scores=table_scores, wall_time_s=time.perf_counter() - start)
