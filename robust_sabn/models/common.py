"""Pieces every architecture shares: input normalization and the branch-aware forward."""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from robust_sabn.nn import Branch, use_branch


class InputNormalization(nn.Module):
    """``(x - mean) / std`` per channel, as buffers, so models take images in [0, 1].

    Args:
        in_channels: channel count C of (N, C, H, W) inputs.
        mean, std: per-channel values; ``None`` gives 0 and 1 (identity).
    """

    def __init__(self, in_channels: int, mean: tuple[float, ...] | None = None,
                 std: tuple[float, ...] | None = None) -> None:
        super().__init__()
        m = torch.tensor(mean if mean is not None else [0.0] * in_channels)
        s = torch.tensor(std if std is not None else [1.0] * in_channels)
        if (s <= 0).any():
            raise ValueError(f"std must be positive, got {s.tolist()}")
        self.register_buffer("mean", m.view(1, -1, 1, 1))
        self.register_buffer("std", s.view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module, abc.ABC):
    """Base of our architectures: ``forward(x, branch=None)`` routes every norm to ``branch``.

    Subclasses implement :meth:`logits`. Without ``branch`` the routing set by
    :func:`robust_sabn.nn.use_branch` (or a :class:`~robust_sabn.nn.BranchView`) applies.
    """

    @abc.abstractmethod
    def logits(self, x: Tensor) -> Tensor:
        """(N, num_classes) logits of images x (N, C, H, W) in [0, 1]."""

    def forward(self, x: Tensor, branch: Branch | None = None) -> Tensor:
        if branch is None:
            return self.logits(x)
        with use_branch(self, branch):
            return self.logits(x)
