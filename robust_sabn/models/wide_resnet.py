"""WideResNet-34-10 (pre-activation, as in TRADES and RobustBench), any norm of the family."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.models.common import Classifier, InputNormalization
from robust_sabn.models.preact_resnet import PreActBlock
from robust_sabn.models.registry import register_model
from robust_sabn.nn import make_norm


class WideResNet(Classifier):
    """Pre-activation WideResNet on images in [0, 1] -> (N, num_classes) logits.

    Args:
        depth: 6n + 4 layers (34 gives 5 blocks per stage).
        widen_factor: stage widths are 16k, 32k, 64k.
    """

    def __init__(self, *, depth: int = 34, widen_factor: int = 10, norm: str, num_classes: int,
                 in_channels: int, num_branches: int, mean: tuple[float, ...] | None,
                 std: tuple[float, ...] | None) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.normalize = InputNormalization(in_channels, mean, std)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        stages: list[nn.Module] = []
        in_planes = 16
        for i, planes in enumerate(widths):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                stages.append(PreActBlock(in_planes, planes, stride, norm, num_branches))
                in_planes = planes
        self.layers = nn.Sequential(*stages)
        self.bn_final = make_norm(norm, in_planes, num_branches)
        self.linear = nn.Linear(in_planes, num_classes)

    def logits(self, x: Tensor) -> Tensor:
        out = self.layers(self.conv1(self.normalize(x)))
        out = F.adaptive_avg_pool2d(F.relu(self.bn_final(out)), 1).flatten(1)
        return self.linear(out)


@register_model("wrn34_10")
def wrn34_10(**kwargs: object) -> WideResNet:
    """WideResNet-34-10; ``widen_factor`` and ``depth`` may be overridden for small tests."""
    kwargs.setdefault("depth", 34)
    kwargs.setdefault("widen_factor", 10)
    return WideResNet(**kwargs)
