"""The toy model: a line ``y = w * norm(x) + b`` on scalar inputs, in the registry's ``toy``
family as ``toy_line``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robust_sabn.models import register_model
from robust_sabn.vocabulary import check_norm


class MeanCenter(nn.Module):
    """The toy norm ``meancenter``: subtract the batch mean. Shapes: (N, 1) -> (N, 1)."""

    def forward(self, x: Tensor) -> Tensor:
        return x - x.mean(dim=0, keepdim=True)


@register_model("toy_line", family="toy")
def toy_line(norm: str = "bn") -> nn.Module:
    """A line on normalised scalars; ``norm`` is ``bn`` or ``meancenter``."""
    check_norm("toy", norm)
    layer = nn.BatchNorm1d(1, affine=False) if norm == "bn" else MeanCenter()
    torch.manual_seed(0)
    return nn.Sequential(layer, nn.Linear(1, 1))
