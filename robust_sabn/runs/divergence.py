"""The divergence guard every trainer runs: losses, parameters, buffers and validation numbers.

A learning rate of 1e6 (or NaN) used to train to the end with NaN weights, or to end with
status "ok" while the losses sat at 6e5 or BatchNorm running variances were infinite. A trainer
holds one :class:`DivergenceGuard` and calls

* :meth:`~DivergenceGuard.check` on each step's loss before its optimizer step: a NaN or
  infinite loss, or one that grew :data:`EXPLOSION_FACTOR` times past the run's first loss
  (at least 1), stops the run;
* :meth:`~DivergenceGuard.check_modules` on its networks before it writes a checkpoint and
  before it records "ok": every floating parameter and buffer (running variances included)
  must be finite;
* :meth:`~DivergenceGuard.check_values` on other numbers it records (validation metrics).

The first failure raises :class:`TrainingDiverged`, a :class:`UserInputError` whose one-line
message names where (epoch, step), what (the loss, a buffer ...), its value, the likely cause and
the last finite checkpoint on disk (only if it exists). Nothing non-finite is saved: the checks
run before the checkpoints are written, so the last one on disk is the last finite state. The
trainer then records ``"status": "diverged"`` with :func:`diverged_fields` and re-raises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from robust_sabn.errors import UserInputError

if TYPE_CHECKING:
    from robust_sabn.runs.distributed import DistributedRun

DIVERGED = "diverged"
HIGH_LR = 1.0
EXPLOSION_FACTOR = 1e4
"""A loss this many times the run's first loss (or 1, whichever is larger) counts as diverged:
four orders of magnitude, far beyond the noise of any healthy run here."""


class TrainingDiverged(UserInputError):
    """Training diverged; the run stopped before saving anything non-finite.

    Attributes:
        epoch: 0-based epoch where it was seen (None for iteration-based trainers).
        step: 0-based global optimizer step (or iteration) where it was seen.
        quantity: what diverged ("the loss", "buffer cells.0.bn.running_var" ...).
        value: its value as text ("nan", "inf", "6.1e+05"), so records stay strict JSON.
        checkpoint: the last finite checkpoint on disk, or None when there is none.
    """

    def __init__(self, message: str, *, epoch: int | None, step: int, quantity: str,
                 value: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.quantity = epoch, step, quantity
        self.value, self.checkpoint = value, checkpoint


class DivergenceGuard:
    """Checks a run's losses, networks and recorded numbers; see the module docstring.

    Args:
        lr: the run's peak learning rate (named in the likely cause).
        checkpoint: the file holding the last finite state once one has been written (None:
            the trainer keeps none, e.g. a NAS retraining).
        lr_option: how users set the learning rate (``--lr``).
        dist: the distributed run; :meth:`check_modules` then stops every rank when any
            rank's networks hold a non-finite value (None: one process).
    """

    def __init__(self, lr: float, checkpoint: Path | None, lr_option: str = "--lr",
                 dist: DistributedRun | None = None) -> None:
        self.lr, self.checkpoint, self.lr_option, self.dist = lr, checkpoint, lr_option, dist
        self.first_loss: float | None = None

    def check(self, loss: Tensor, *, step: int, epoch: int | None = None) -> None:
        """Raise :class:`TrainingDiverged` unless ``loss`` (a scalar tensor, the same on every
        rank) is finite and within :data:`EXPLOSION_FACTOR` of the first loss checked.

        ``step`` is the 0-based global optimizer step, ``epoch`` the 0-based epoch (left out by
        trainers counted in iterations, e.g. a GAN's). Costs one device-to-host copy.
        """
        value = float(loss.detach())
        if not math.isfinite(value):
            self._stop("the loss", str(value), step=step, epoch=epoch)
        if self.first_loss is None:
            self.first_loss = value
        limit = EXPLOSION_FACTOR * max(abs(self.first_loss), 1.0)
        if abs(value) > limit:
            self._stop("the loss", f"{value:.4g}", step=step, epoch=epoch,
                       detail=f", over {EXPLOSION_FACTOR:g} times its first value "
                              f"{self.first_loss:.4g}")

    def check_values(self, values: Mapping[str, Any], *, what: str, step: int,
                     epoch: int | None = None) -> None:
        """Raise :class:`TrainingDiverged` at the first non-finite number in ``values`` (nested
        dicts of floats, e.g. per-branch validation metrics; ``what`` names them)."""
        for name, value in _flatten(values):
            if not math.isfinite(value):
                self._stop(f"{what} {name}", str(value), step=step, epoch=epoch)

    def check_modules(self, *modules: nn.Module, step: int, epoch: int | None = None) -> None:
        """Raise :class:`TrainingDiverged` when a floating parameter or buffer of ``modules``
        holds a NaN or infinity (on any rank of a distributed run)."""
        found = _first_non_finite(modules)
        if self.dist is not None and self.dist.ctx is not None:
            found = next((f for f in self.dist.ctx.all_gather(found) if f is not None), None)
        if found is not None:
            self._stop(found[0], found[1], step=step, epoch=epoch)

    def _stop(self, quantity: str, value: str, *, step: int, epoch: int | None,
              detail: str = "") -> None:
        cause = (f"the learning rate {self.lr:g} is likely too high; lower {self.lr_option}"
                 if self.lr >= HIGH_LR else
                 f"likely a learning rate too high for this data; lower {self.lr_option} "
                 f"(now {self.lr:g}) or check the data for extreme values")
        kept = self.checkpoint if self.checkpoint and self.checkpoint.is_file() else None
        kept_text = ("" if self.checkpoint is None
                     else f" (the last finite checkpoint is {kept})" if kept is not None
                     else " (no epoch finished, so no checkpoint was kept)")
        where = f"epoch {epoch + 1}, step {step + 1}" if epoch is not None else f"step {step + 1}"
        raise TrainingDiverged(
            f"training diverged at {where}: {quantity} is {value}{detail}; {cause}{kept_text}",
            epoch=epoch, step=step, quantity=quantity, value=value, checkpoint=kept,
        )


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, float]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield name, float(value)


@torch.no_grad()
def _first_non_finite(modules: Iterable[nn.Module]) -> tuple[str, str] | None:
    """("parameter <name>" or "buffer <name>", its first non-finite value) or None."""
    for module in modules:
        named = [("parameter", module.named_parameters()), ("buffer", module.named_buffers())]
        for kind, tensors in named:
            for name, tensor in tensors:
                if not tensor.is_floating_point():
                    continue
                bad = ~torch.isfinite(tensor)
                if bool(bad.any()):
                    return f"{kind} {name}", str(float(tensor[bad].flatten()[0]))
    return None


def diverged_fields(error: TrainingDiverged) -> dict[str, Any]:
    """What a diverged run's record holds in ``extras["diverged"]`` (strict JSON)."""
    return {"epoch": error.epoch, "step": error.step, "quantity": error.quantity,
            "value": error.value, "message": str(error),
            "last_finite_checkpoint": (str(error.checkpoint)
                                       if error.checkpoint is not None else None)}
