"""Data-parallel training pieces: the DDP-wrapped module a trainer steps and each rank's slice.

A :class:`DataParallelStep` (made by :meth:`robust_sabn.runs.distributed.DistributedRun.
data_parallel`) is a no-op in one process (the plain module, whole batches); under torchrun it
holds the module wrapped in ``DistributedDataParallel`` (gradients averaged over ranks),
optionally with synchronised norm statistics (:mod:`robust_sabn.parallel.sync_norm`), and
slices every global batch so rank r of W takes images ``r*B/W .. (r+1)*B/W - 1``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from robust_sabn.parallel.context import DistContext
from robust_sabn.parallel.sync_norm import convert_sync_norm


@dataclass(frozen=True)
class DataParallelStep:
    """How one training step runs on this rank.

    Attributes:
        module: what the trainer steps (a loss forward such as the adversarial task's branch
            pair, a GAN's discriminator, a supernet), DDP-wrapped under torchrun.
        ctx: the distributed context (None: one process).
        device_type: "cpu", "cuda", "mps" (for autocast).
        amp: whether the step runs under bf16 autocast.
    """

    module: nn.Module
    ctx: DistContext | None
    device_type: str
    amp: bool = False

    @property
    def world_size(self) -> int:
        return 1 if self.ctx is None else self.ctx.world_size

    def shard(self, batch: Tensor) -> Tensor:
        """This rank's contiguous slice of a global batch (B, ...) -> (B / W, ...)."""
        if self.ctx is None:
            return batch
        size = batch.shape[0] // self.ctx.world_size
        return batch[self.ctx.rank * size:(self.ctx.rank + 1) * size]

    def autocast(self) -> AbstractContextManager[object]:
        """bf16 autocast when ``amp`` is on, else nothing."""
        if not self.amp:
            return nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=torch.bfloat16)

    def mean_over_ranks(self, value: Tensor) -> Tensor:
        """The mean of a scalar over ranks (the global batch's loss), detached."""
        value = value.detach()
        if self.ctx is None:
            return value
        total = value.clone()
        dist.all_reduce(total)
        return total / self.ctx.world_size

    def sum_over_ranks(self, values: Tensor) -> Tensor:
        """Element-wise sum of a tensor over ranks (a copy in one process too)."""
        total = values.detach().clone()
        if self.ctx is not None:
            dist.all_reduce(total)
        return total

    def barrier(self) -> None:
        if self.ctx is not None:
            self.ctx.barrier()


def data_parallel_module(module: nn.Module, ctx: DistContext | None, device: str, *,
                         sync_norm: bool = False, find_unused_parameters: bool = False
                         ) -> nn.Module:
    """``module`` as this process trains it: itself in one process; under torchrun wrapped in
    ``DistributedDataParallel`` (gradients averaged over ranks at each backward), its norm
    layers first synchronised when ``sync_norm`` (:func:`convert_sync_norm`). Every rank calls
    it with the same weights (load any checkpoint first: DDP broadcasts rank 0's and checks).

    Any trainer's piece: the adversarial step wraps its branch pair, a GAN its generator and
    discriminator, style transfer its decoder.
    """
    if ctx is None:
        return module
    ctx.barrier()
    if sync_norm:
        convert_sync_norm(module, dist.new_group(backend=ctx.backend))
    where = torch.device(device)
    return DistributedDataParallel(
        module, device_ids=[where] if where.type == "cuda" else None,
        find_unused_parameters=find_unused_parameters,
    )

