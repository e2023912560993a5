"""The run folder every trainer writes: lock, resume identity, config, metrics, record.

Layout (``names`` are in :mod:`robust_sabn.runs.names`)::

    .robust-sabn.lock   held while a process writes the folder (robust_sabn.artifacts.lock)
    config.json         {"config": the resolved options, plus what rebuilds the model}
    metrics.jsonl       one strict-JSON row per logged step or epoch
    last.pt             the resumable state (a task may name it otherwise: NAS's search.pt)
    train_record.json   the ResultRecord, written when the run ends ("ok" or "diverged")

:func:`open_run_folder` takes the lock (rank 0 only under torchrun: it alone writes), removes the
temporary files killed writes left, and removes the folder again when the run created it and
left it empty (bad input refused before any write). :meth:`RunFolder.resume_state` decides
between a fresh run and a resumed one, and refuses to lose work or to resume with other options,
naming each changed option with its saved and its new value.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.atomic import atomic_write_bytes, remove_stale_temp_files
from robust_sabn.artifacts.checkpoint import load_checkpoint, save_checkpoint
from robust_sabn.artifacts.lock import folder_lock
from robust_sabn.artifacts.records import append_jsonl, dumps_strict
from robust_sabn.artifacts.result import ResultRecord, write_result
from robust_sabn.artifacts.user_files import read_run_config
from robust_sabn.errors import UserInputError
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.names import CONFIG_NAME, LAST_CHECKPOINT, METRICS_NAME, RECORD_NAME

RUN_LOCAL = frozenset({"device", "data_dir"})
"""Options that do not change a run's numbers: a run may resume with other values of them."""


def config_changes(saved: Mapping[str, Any], now: Mapping[str, Any], *,
                   defaults: Mapping[str, Any] | None = None,
                   ignore: Collection[str] = RUN_LOCAL) -> dict[str, tuple[Any, Any]]:
    """Option name -> (saved value, value now) for each option of ``now`` whose value differs
    from ``saved``, sorted by name; an option ``saved`` predates counts as its value in
    ``defaults`` (else as ``"(absent)"``); options in ``ignore`` are left out."""
    defaults = defaults or {}
    changes = {}
    for name in sorted(now):
        before = saved.get(name, defaults.get(name, "(absent)"))
        if name not in ignore and before != now[name]:
            changes[name] = (before, now[name])
    return changes


@dataclass(frozen=True)
class RunFolder:
    """One run's folder, as a trainer writes it (see the module docstring).

    Attributes:
        path: the folder.
        dist: the distributed run; only its main process writes.
        checkpoint_name: the resumable state's file name.
    """

    path: Path
    dist: DistributedRun
    checkpoint_name: str = LAST_CHECKPOINT

    @property
    def writes(self) -> bool:
        """Whether this process writes the folder (rank 0 or the only process)."""
        return self.dist.is_main

    @property
    def checkpoint(self) -> Path:
        return self.path / self.checkpoint_name

    @property
    def record_path(self) -> Path:
        return self.path / RECORD_NAME

    def saved_config(self) -> dict[str, Any] | None:
        """The ``config`` of ``config.json``, or None when there is no such file.

        Raises:
            UserInputError: ``config.json`` is there but unreadable or not a run's config
                (:func:`~robust_sabn.artifacts.user_files.read_run_config`).
        """
        path = self.path / CONFIG_NAME
        return read_run_config(path) if path.is_file() else None

    def resume_state(self, config: Mapping[str, Any], *, resume: bool, what: str,
                     defaults: Mapping[str, Any] | None = None,
                     resumable: Collection[str] = (), map_location: str = "cpu",
                     upgrade_saved: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None
                     ) -> dict[str, Any] | None:
        """The checkpoint to resume from, or None for a fresh run.

        Args:
            config: the options of this run (a dict).
            resume: whether the user asked to continue the run in the folder.
            what: the kind of run, for messages ("training", "GAN", "search").
            defaults: option values that saved configs predating an option stand for.
            resumable: options that may change on resume (e.g. a longer schedule).
            map_location: where the checkpoint's tensors go.
            upgrade_saved: turns the saved options into today's spelling before they are
                compared (a task's renamed option values).

        Raises:
            UserInputError: a run is there and ``resume`` is off; or options other than
                run-local and ``resumable`` ones differ from the saved run (each named, with
                both values).
        """
        if not self.checkpoint.is_file():
            return None
        if not resume:
            raise UserInputError(f"{self.path} already holds a {what} run; pass --resume to "
                                 "continue it or choose another --out")
        saved = self.saved_config()  # before the checkpoint: a damaged config.json is named
        ckpt = load_checkpoint(self.checkpoint, map_location=map_location)
        if saved is None:
            saved = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else None
        if saved is not None:
            if upgrade_saved is not None:
                saved = dict(upgrade_saved(saved))
            changes = config_changes(saved, config, defaults=defaults,
                                     ignore=RUN_LOCAL | set(resumable))
            if changes:
                diff = "; ".join(f"{name}: {before!r} -> {after!r}"
                                 for name, (before, after) in changes.items())
                raise UserInputError(
                    f"cannot resume {self.path}: options {list(changes)} differ from the saved "
                    f"run ({diff}); drop them or start a new --out")
        return ckpt

    def write_config(self, payload: Mapping[str, Any]) -> None:
        """Write ``config.json`` (``{"config": ..., ...}``), rank 0 only."""
        if self.writes:
            text = json.dumps(dict(payload), indent=2).encode()
            atomic_write_bytes(self.path / CONFIG_NAME, lambda f: f.write(text))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.jsonl`` with ``rows`` atomically (rank 0 only)."""
        if self.writes:
            text = "".join(dumps_strict(row) + "\n" for row in rows).encode()
            atomic_write_bytes(self.path / METRICS_NAME, lambda f: f.write(text))

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one row to ``metrics.jsonl`` (rank 0 only)."""
        if self.writes:
            append_jsonl(self.path / METRICS_NAME, row)

    def save_checkpoint(self, payload: dict[str, Any], name: str | None = None) -> None:
        """Write a checkpoint (the resumable one unless ``name``), rank 0 only."""
        if self.writes:
            save_checkpoint(self.path / (name or self.checkpoint_name), payload)

    def write_record(self, record: ResultRecord) -> ResultRecord:
        """Write the run's record (rank 0, while the others wait); every rank returns it."""
        if self.writes:
            write_result(self.record_path, record)
        self.dist.barrier()
        return record


@contextlib.contextmanager
def open_run_folder(out_dir: str | Path, dist: DistributedRun,
                    checkpoint_name: str = LAST_CHECKPOINT) -> Iterator[RunFolder]:
    """The run folder ``out_dir`` for the ``with`` block, locked by rank 0 (see the module
    docstring).

    Raises:
        UserInputError: another process holds the folder.
    """
    folder = RunFolder(Path(out_dir), dist, checkpoint_name)
    if not dist.is_main:
        yield folder
        return
    with folder_lock(folder.path):
        remove_stale_temp_files(folder.path)
        yield folder
