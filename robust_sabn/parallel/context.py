"""The distributed context of a process started by torchrun (or ``--nproc``): rank, world size.

A process whose environment holds ``WORLD_SIZE`` > 1 joins the default process group once
(gloo on CPU, NCCL on CUDA) with a collective timeout, so a rank that dies makes the others
fail within that time instead of hanging. The timeout is ``ROBUST_SABN_DIST_TIMEOUT`` seconds
(default 1800: rank 0 writes checkpoints while the others wait at a barrier).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from robust_sabn.errors import UserInputError

TIMEOUT_ENV = "ROBUST_SABN_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class DistContext:
    """This process's place in a distributed run.

    Attributes:
        rank: global rank, 0 .. world_size - 1 (rank 0 writes every file).
        world_size: number of processes.
        local_rank: rank within this node (its GPU index).
        backend: "gloo" or "nccl".
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every rank reaches this point (fails after the collective timeout)."""
        dist.barrier()

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (a picklable object), in rank order, on every rank."""
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def sum(self, values: Tensor) -> Tensor:
        """Element-wise sum over ranks of ``values`` (any shape; a CPU tensor under gloo, a
        CUDA one under NCCL), as a new tensor on every rank."""
        total = values.detach().clone()
        dist.all_reduce(total)
        return total

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Give every rank rank 0's buffers of ``module`` (the norm layers' running statistics
        and batch counts), in place; the model DistributedDataParallel keeps is rank 0's."""
        with torch.no_grad():
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)


def _timeout() -> timedelta:
    text = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(text)
    except ValueError:
        raise UserInputError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds") from None
    return timedelta(seconds=seconds)


def distributed_context(device: str) -> DistContext | None:
    """Join (once) the process group torchrun describes in the environment; None when this
    is a single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``).

    Args:
        device: the run's device; a CUDA device selects NCCL and becomes this process's
            current GPU, anything else gloo.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    cuda = torch.device(device).type == "cuda"
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend=backend, timeout=_timeout())
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                       backend=dist.get_backend())


def is_main_process() -> bool:
    """True in a single process and on rank 0 of a distributed run."""
    return not dist.is_initialized() or dist.get_rank() == 0
