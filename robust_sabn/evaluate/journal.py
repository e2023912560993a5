"""The state file of a resumable evaluation: every finished batch, and every finished AutoAttack
step inside a batch, written down as it ends.

One JSON object per line, appended (ranks of a distributed run append to the same file, one
``write`` per line):

* a finished batch: ``{"id", "branch", "key", "batch", "flags": [bool], "details": {...} |
  null, "seconds"}`` (``details``: the batch's AutoAttack cascade);
* a finished AutoAttack step of an unfinished batch: ``{"id", "branch", "key", "batch",
  "step": CascadeStep}``.

``id`` is a digest of the evaluation's identity (model, weights, data, every setting), so a
state file is never applied to a different evaluation. Batch b of an attack depends only on the
batch and ``seed + b`` (:mod:`robust_sabn.evaluate.sharded`), and each AutoAttack step reseeds,
so an evaluation resumed from its state file gives the flags of an uninterrupted run, whatever
the number of processes before and after. A line cut short by a kill is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.user_files import read_user_text
from robust_sabn.attacks.autoattack_adapter import CascadeStep
from robust_sabn.errors import UserInputError


@dataclass(frozen=True)
class FinishedBatch:
    """A batch of one stage, read back: its flags (B,), whole-set details, seconds."""

    flags: list[bool]
    details: dict[str, Any] | None
    seconds: float


def identity_digest(identity: dict[str, Any]) -> str:
    """A 16-hex-digit digest of a JSON-able identity (sorted keys)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class EvaluationJournal:
    """Read and extend the state file at ``path`` for the evaluation ``identity``.

    Raises:
        UserInputError: the file holds batches of another evaluation, or is not a state file.
    """

    def __init__(self, path: str | Path, identity: dict[str, Any]) -> None:
        self.path = Path(path)
        self.digest = identity_digest(identity)
        self._batches: dict[tuple[str, str, int], FinishedBatch] = {}
        self._steps: dict[tuple[str, str, int], list[CascadeStep]] = {}
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        text = read_user_text(self.path, "evaluation state file")
        for number, line in enumerate(text.splitlines(), 1):
            try:
                entry = json.loads(line)
                where = (str(entry["branch"]), str(entry["key"]), int(entry["batch"]))
                digest = entry["id"]
            except (ValueError, KeyError, TypeError):
                continue  # a blank line, or one cut short by a kill
            if digest != self.digest:
                raise UserInputError(
                    f"state file {self.path} (line {number}) belongs to a different evaluation "
                    "(other model, data or settings); delete it, or give another --state"
                )
            if "step" in entry:
                self._steps.setdefault(where, []).append(CascadeStep.from_dict(entry["step"]))
            else:
                self._batches[where] = FinishedBatch(
                    [bool(b) for b in entry["flags"]], entry.get("details"),
                    float(entry["seconds"]))

    @property
    def finished_batches(self) -> int:
        """How many (branch, stage, batch) entries the file held when read."""
        return len(self._batches)

    @property
    def finished_steps(self) -> int:
        """How many AutoAttack steps of unfinished batches the file held when read."""
        return sum(len(steps) for where, steps in self._steps.items()
                   if where not in self._batches)

    def batch(self, branch: str, key: str, batch: int) -> FinishedBatch | None:
        """The finished batch, or None."""
        return self._batches.get((branch, key, batch))

    def steps(self, branch: str, key: str, batch: int) -> list[CascadeStep]:
        """The finished AutoAttack steps of an unfinished batch, in cascade order."""
        return list(self._steps.get((branch, key, batch), []))

    def add_batch(self, branch: str, key: str, batch: int, flags: list[bool],
                  details: dict[str, Any] | None, seconds: float) -> None:
        """Write down a finished batch."""
        self._append({"branch": branch, "key": key, "batch": batch, "flags": flags,
                      "details": details, "seconds": seconds})

    def add_step(self, branch: str, key: str, batch: int, step: CascadeStep) -> None:
        """Write down a finished AutoAttack step of a batch."""
        self._append({"branch": branch, "key": key, "batch": batch, "step": step.to_dict()})

    def _append(self, entry: dict[str, Any]) -> None:
        # the leading newline ends a line an earlier kill cut short, so this one stays whole
        line = "\n" + json.dumps({"id": self.digest, **entry}) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def remove(self) -> None:
        """Delete the state file (the evaluation's record is complete)."""
        self.path.unlink(missing_ok=True)
