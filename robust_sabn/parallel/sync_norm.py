"""``--sync-norm``: batch statistics over the global batch of every rank, per branch.

In a data-parallel run each rank sees ``batch_size / world_size`` images; without this its
norm layers normalise with the statistics of that shard (as PyTorch's ``BatchNorm2d`` under
DDP does). :func:`convert_sync_norm` makes every batch-statistics layer of the SaBN family
(:class:`robust_sabn.nn.SandwichNorm2d` with ``stats="batch"`` or ``"branch"``, one set per
branch) and every ``nn.BatchNorm2d`` normalise in training mode with the mean and variance of
the whole global batch: two differentiable all-reduces per layer call (sum, then the sum of
squared deviations), so gradients also flow across ranks as in one process. Evaluation mode
uses the running statistics, which stay identical on every rank. Works with gloo (CPU) and NCCL.

Per-sample branch tensors in training mode (mixed-branch batches) are not synchronised on
layers with per-branch statistics (``stats="branch"``): each rank may hold different branches,
so they raise. With one set of statistics (``stats="batch"``, a conditional GAN generator's
CCBN/SaBN with a per-sample class affine) they are synchronised like any batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from robust_sabn.nn.norm import SandwichNorm2d

_SYNC_CLASSES: dict[type, type] = {}


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum over ranks of the incoming gradients (every
    rank's loss depends on every rank's input through the shared statistics)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor, group: dist.ProcessGroup | None) -> Tensor:
        ctx.group = group
        total = tensor.clone()
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        total = grad.contiguous().clone()
        dist.all_reduce(total, group=ctx.group)
        return total, None


def _all_reduce_sum(tensor: Tensor, group: dist.ProcessGroup | None) -> Tensor:
    return _AllReduceSum.apply(tensor, group)


def sync_batch_norm(x: Tensor, running_mean: Tensor, running_var: Tensor,
                    weight: Tensor | None, bias: Tensor | None, *, momentum: float, eps: float,
                    group: dist.ProcessGroup | None) -> Tensor:
    """``F.batch_norm`` in training mode with the statistics of every rank's ``x``.

    Args:
        x: this rank's (N, C, H, W) activations.
        running_mean, running_var: (C,) buffers, updated in place (unbiased variance, the count
            being the global N*H*W).
        weight, bias: (C,) affine or None.
        momentum, eps: as ``nn.BatchNorm2d``.
        group: the process group to reduce over (None: the default group).

    Returns:
        (N, C, H, W) normalised activations.
    """
    channels = x.shape[1]
    count = torch.full((1,), x.numel() / channels, device=x.device, dtype=x.dtype)
    totals = _all_reduce_sum(torch.cat([x.sum(dim=(0, 2, 3)), count]), group)
    n = totals[-1]
    mean = totals[:channels] / n
    centered = x - mean.view(1, -1, 1, 1)
    var = _all_reduce_sum(centered.pow(2).sum(dim=(0, 2, 3)), group) / n
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(momentum * mean)
        running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1).clamp_min(1))
    out = centered * torch.rsqrt(var + eps).view(1, -1, 1, 1)
    if weight is not None:
        out = out * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)  # type: ignore[union-attr]
    return out


class _SyncSandwich(SandwichNorm2d):
    """A SaBN-family layer whose training-mode statistics span every rank."""

    sync_group: dist.ProcessGroup | None = None

    def _batch_stats_norm(self, x: Tensor, stats_set: int, weight: Tensor | None,
                          bias: Tensor | None) -> Tensor:
        if not self.training:
            return super()._batch_stats_norm(x, stats_set, weight, bias)
        self.num_batches_tracked[stats_set] += 1
        return sync_batch_norm(x, self.running_mean[stats_set], self.running_var[stats_set],
                               weight, bias, momentum=self.momentum, eps=self.eps,
                               group=self.sync_group)

    def forward(self, x: Tensor, branch: object = None, style: Tensor | None = None) -> Tensor:
        if (self.training and self.stats == "branch" and isinstance(branch, Tensor)
                and branch.dim() > 0):
            raise ValueError("--sync-norm needs one branch per call in training mode, not a "
                             "per-sample branch tensor")
        return super().forward(x, branch, style)  # type: ignore[arg-type]


class _SyncBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics span every rank (CPU and GPU)."""

    sync_group: dist.ProcessGroup | None = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        self.num_batches_tracked += 1
        return sync_batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               momentum=self.momentum or 0.1, eps=self.eps,
                               group=self.sync_group)


def _sync_class(cls: type) -> type:
    """The synchronised subclass of a norm class (made once per class)."""
    if cls not in _SYNC_CLASSES:
        base = _SyncSandwich if issubclass(cls, SandwichNorm2d) else _SyncBatchNorm2d
        _SYNC_CLASSES[cls] = type(f"Sync{cls.__name__}", (base, cls), {})
    return _SYNC_CLASSES[cls]


def convert_sync_norm(model: nn.Module, group: dist.ProcessGroup | None = None) -> int:
    """Make every batch-statistics norm layer of ``model`` synchronise over ``group``, in place
    (same parameters and buffers, so state dicts are unchanged); returns how many layers."""
    converted = 0
    for module in model.modules():
        cls = type(module)
        if cls in _SYNC_CLASSES.values():
            continue
        if (isinstance(module, SandwichNorm2d) and module.stats != "instance") or (
                cls is nn.BatchNorm2d):
            module.__class__ = _sync_class(cls)
            module.sync_group = group  # type: ignore[assignment]
            converted += 1
    return converted
