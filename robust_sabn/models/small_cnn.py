"""A small fast CNN for CPU runs (Fashion-MNIST in seconds per epoch)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.models.common import Classifier, InputNormalization
from robust_sabn.models.registry import register_model
from robust_sabn.nn import make_norm


class SmallCNN(Classifier):
    """Four conv-norm-ReLU layers (two 2x2 max-pools) and a linear head.

    (N, C, H, W) images in [0, 1] -> (N, num_classes) logits; any H, W >= 4.

    Args:
        width: channels of the first two convolutions; the last two use 2 x width.
    """

    def __init__(self, *, norm: str, num_classes: int, in_channels: int, num_branches: int,
                 mean: tuple[float, ...] | None, std: tuple[float, ...] | None,
                 width: int = 32) -> None:
        super().__init__()
        self.normalize = InputNormalization(in_channels, mean, std)
        chans = [in_channels, width, width, 2 * width, 2 * width]
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1, bias=False) for i in range(4)
        )
        self.norms = nn.ModuleList(make_norm(norm, chans[i + 1], num_branches) for i in range(4))
        self.linear = nn.Linear(2 * width, num_classes)

    def logits(self, x: Tensor) -> Tensor:
        out = self.normalize(x)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            out = F.relu(norm(conv(out)))
            if i in (1, 3):
                out = F.max_pool2d(out, 2)
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


@register_model("small_cnn")
def small_cnn(**kwargs: object) -> SmallCNN:
    """The CPU default: about 65k parameters at width 32."""
    return SmallCNN(**kwargs)
