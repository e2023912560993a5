"""Pre-activation ResNet-18 as in the SaBN paper (no final BN; input normalization inside)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.models.common import Classifier, InputNormalization
from robust_sabn.models.registry import register_model
from robust_sabn.nn import make_norm


class PreActBlock(nn.Module):
    """norm-relu-conv3x3 twice, with a 1x1 projection shortcut when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int, norm: str, num_branches: int
                 ) -> None:
        super().__init__()
        self.bn1 = make_norm(norm, in_planes, num_branches)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = make_norm(norm, planes, num_branches)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(Classifier):
    """Pre-activation ResNet on (N, C, H, W) images in [0, 1] -> (N, num_classes) logits.

    Args:
        blocks: blocks per stage, e.g. [2, 2, 2, 2] for ResNet-18.
        width: channels of the first stage (64 in the paper); stages use width x 1, 2, 4, 8.
    """

    def __init__(self, blocks: list[int], *, norm: str, num_classes: int, in_channels: int,
                 num_branches: int, mean: tuple[float, ...] | None,
                 std: tuple[float, ...] | None, width: int = 64) -> None:
        super().__init__()
        self.normalize = InputNormalization(in_channels, mean, std)
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        stages: list[nn.Module] = []
        in_planes = width
        for i, n in enumerate(blocks):
            planes = width * 2**i
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                stages.append(PreActBlock(in_planes, planes, stride, norm, num_branches))
                in_planes = planes
        self.layers = nn.Sequential(*stages)
        self.linear = nn.Linear(in_planes, num_classes)

    def logits(self, x: Tensor) -> Tensor:
        out = self.layers(self.conv1(self.normalize(x)))
        out = F.adaptive_avg_pool2d(F.relu(out), 1).flatten(1)
        return self.linear(out)


@register_model("preact_resnet18")
def preact_resnet18(**kwargs: object) -> PreActResNet:
    """The paper's PreActResNet-18: blocks [2, 2, 2, 2], widths 64-512 (scaled by ``width``)."""
    return PreActResNet([2, 2, 2, 2], **kwargs)
