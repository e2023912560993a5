"""A finite-loss guard for every trainer: stop a diverged run at once, keep what was finite.

A learning rate of 1e6 (or NaN) used to train to the end with NaN weights, write NaN into
``metrics.jsonl`` (not JSON) and print an accuracy table as if all were well. A trainer calls
:meth:`FiniteLossGuard.check` on each step's loss before the optimizer step; the first
non-finite loss raises :class:`TrainingDiverged`, a :class:`UserInputError` whose one-line
message names the epoch, the step, the likely cause and the last finite checkpoint. Nothing
non-finite is saved: checkpoints are written only at the end of a finite epoch, so the last one
on disk is the last finite state. The trainer then writes its record with
``"status": "diverged"`` (:func:`diverged_fields`) and re-raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from robust_sabn.errors import UserInputError

DIVERGED = "diverged"
HIGH_LR = 1.0


class TrainingDiverged(UserInputError):
    """The loss became NaN or infinite; the run stopped before saving anything non-finite.

    Attributes:
        epoch: 0-based epoch of the first non-finite loss (None for iteration-based trainers).
        step: 0-based global optimizer step of that loss.
        loss: the loss as text ("nan", "inf", "-inf"), so records stay strict JSON.
        checkpoint: the last finite checkpoint on disk, or None when no epoch finished.
    """

    def __init__(self, message: str, *, epoch: int | None, step: int, loss: str,
                 checkpoint: Path | None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.loss, self.checkpoint = epoch, step, loss, checkpoint


@dataclass(frozen=True)
class FiniteLossGuard:
    """Checks each step's loss; see the module docstring.

    Attributes:
        lr: the run's peak learning rate (named in the likely cause).
        checkpoint: the file holding the last finite state once an epoch has finished.
        lr_option: how users set the learning rate (``--lr``).
    """

    lr: float
    checkpoint: Path
    lr_option: str = "--lr"

    def check(self, loss: Tensor, *, step: int, epoch: int | None = None) -> None:
        """Raise :class:`TrainingDiverged` unless ``loss`` (a scalar tensor) is finite.

        ``step`` is the 0-based global optimizer step, ``epoch`` the 0-based epoch (left out by
        trainers counted in iterations, e.g. a GAN's). Costs one device-to-host copy of a scalar
        per call.
        """
        value = float(loss.detach())
        if math.isfinite(value):
            return
        cause = (f"the learning rate {self.lr:g} is likely too high; lower {self.lr_option}"
                 if self.lr >= HIGH_LR else
                 f"likely a learning rate too high for this data; lower {self.lr_option} "
                 f"(now {self.lr:g}) or check the data for extreme values")
        kept = self.checkpoint if self.checkpoint.is_file() else None
        kept_text = (f"the last finite checkpoint is {kept}" if kept is not None
                     else "no epoch finished, so no checkpoint was kept")
        where = f"epoch {epoch + 1}, step {step + 1}" if epoch is not None else f"step {step + 1}"
        raise TrainingDiverged(
            f"training diverged at {where}: the loss is {value}; "
            f"{cause} ({kept_text})",
            epoch=epoch, step=step, loss=str(value), checkpoint=kept,
        )


def diverged_fields(error: TrainingDiverged) -> dict[str, Any]:
    """Record fields of a diverged run: ``status`` and where it diverged (strict JSON)."""
    return {
        "status": DIVERGED,
        "diverged": {"epoch": error.epoch, "step": error.step, "loss": error.loss,
                     "message": str(error),
                     "last_finite_checkpoint": (str(error.checkpoint)
                                                if error.checkpoint is not None else None)},
    }
