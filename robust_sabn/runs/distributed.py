"""A trainer's place in a (possibly) distributed run: device, ranks, global batches, barrier.

Every trainer starts with ``dist = DistributedRun.join(config.device)``: the device is resolved
(``auto``, and a bare ``cuda`` becomes this rank's GPU under torchrun), the process group that
torchrun describes is joined, and :meth:`DistributedRun.check_global_batch` refuses a global
batch that does not split evenly over the ranks, in one wording for every task. In one process
everything here is a no-op (``world_size`` 1, rank 0 writes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robust_sabn.errors import UserInputError
from robust_sabn.parallel.context import DistContext, distributed_context
from robust_sabn.parallel.data_parallel import DataParallelStep, data_parallel_module
from robust_sabn.parallel.devices import resolve_device


def check_global_batch(world_size: int, **batches: int) -> None:
    """Raise UserInputError unless every global batch (option name -> images) splits evenly
    over ``world_size`` ranks."""
    for name, value in batches.items():
        if value % world_size:
            raise UserInputError(f"{name} {value} (the global batch) does not split over "
                                 f"{world_size} ranks; pass a multiple of {world_size}")


@dataclass(frozen=True)
class DistributedRun:
    """This process's part of a training run.

    Attributes:
        device: the concrete device (after :func:`resolve_device`).
        ctx: the distributed context under torchrun, None in one process.
    """

    device: str
    ctx: DistContext | None

    @classmethod
    def join(cls, device: str | None) -> DistributedRun:
        """Resolve ``device`` and join the process group torchrun describes (if any)."""
        device = resolve_device(device)
        return cls(device=device, ctx=distributed_context(device))

    @property
    def world_size(self) -> int:
        return 1 if self.ctx is None else self.ctx.world_size

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder (rank 0, or the only process)."""
        return self.ctx is None or self.ctx.is_main

    def check_global_batch(self, **batches: int) -> None:
        """See :func:`check_global_batch`."""
        check_global_batch(self.world_size, **batches)

    def barrier(self) -> None:
        """Wait for every rank (nothing in one process)."""
        if self.ctx is not None:
            self.ctx.barrier()

    def take_rank0_buffers(self, *modules: nn.Module) -> None:
        """Every rank takes rank 0's buffers of ``modules`` (norm running statistics, which
        differ per slice of the batch); nothing in one process."""
        if self.ctx is not None:
            for module in modules:
                self.ctx.broadcast_buffers(module)

    def data_parallel(self, module: nn.Module, *, sync_norm: bool = False,
                      find_unused_parameters: bool = False, amp: bool = False
                      ) -> DataParallelStep:
        """How this rank trains ``module``: DDP-wrapped under torchrun (see
        :func:`~robust_sabn.parallel.data_parallel.data_parallel_module`), with each global
        batch sliced to this rank's share; every rank calls it after loading any checkpoint."""
        wrapped = data_parallel_module(module, self.ctx, self.device, sync_norm=sync_norm,
                                       find_unused_parameters=find_unused_parameters)
        return DataParallelStep(module=wrapped, ctx=self.ctx,
                                device_type=torch.device(self.device).type, amp=amp)
