"""The SNGAN-32 projection discriminator (Miyato & Koyama 2018): spectral norm, no BN.

Images x (N, C, H, W) in [-1, 1] and labels y (N,) -> scores (N,). The projection term
``<embed(y), h>`` is added when ``num_classes > 0``; with 0 the discriminator is unconditional
(the partner of a plain-BN generator). With ``aux_classes > 0`` it also has an auxiliary
classifier head on the same pooled features (AC-GAN, Odena et al. 2017; not in the paper's
recipe): :meth:`ProjectionDiscriminator.scores_and_logits` gives its (N, aux_classes) logits.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from robust_sabn.gan.layers import xavier_init


def _sn_conv(in_ch: int, out_ch: int, kernel: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(in_ch, out_ch, kernel, 1, kernel // 2))


class OptimizedDiscriminatorBlock(nn.Module):
    """First block: conv3x3, ReLU, conv3x3, 2x2 avg-pool + avg-pool, conv1x1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.c1, self.c2 = _sn_conv(in_ch, out_ch, 3), _sn_conv(out_ch, out_ch, 3)
        self.c_sc = _sn_conv(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class DiscriminatorBlock(nn.Module):
    """ReLU, conv3x3, ReLU, conv3x3 (, avg-pool) + conv1x1 (, avg-pool) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool) -> None:
        super().__init__()
        self.c1, self.c2 = _sn_conv(in_ch, out_ch, 3), _sn_conv(out_ch, out_ch, 3)
        self.c_sc = _sn_conv(in_ch, out_ch, 1)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        h = self.c2(F.relu(self.c1(F.relu(x))))
        shortcut = self.c_sc(x)
        if self.downsample:
            h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(shortcut, 2)
        return h + shortcut


class ProjectionDiscriminator(nn.Module):
    """Four residual blocks (two down-sampling), ReLU, global sum pool, linear + projection.

    Args:
        in_channels: image channels.
        num_classes: classes of the projection embedding; 0 for an unconditional D.
        width: channels of every block (128 in the paper's CIFAR-10 model).
        aux_classes: classes of the auxiliary classifier head; 0 (the paper's): none.
    """

    def __init__(self, *, in_channels: int = 3, num_classes: int = 10, width: int = 128,
                 aux_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.blocks = nn.Sequential(
            OptimizedDiscriminatorBlock(in_channels, width),
            DiscriminatorBlock(width, width, downsample=True),
            DiscriminatorBlock(width, width, downsample=False),
            DiscriminatorBlock(width, width, downsample=False),
        )
        self.linear = spectral_norm(nn.Linear(width, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, width)) if num_classes else None
        self.classifier = (spectral_norm(nn.Linear(width, aux_classes)) if aux_classes
                           else None)
        xavier_init(self)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.scores_and_logits(x, y)[0]

    def scores_and_logits(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        """Scores (N,) and the auxiliary classifier's logits (N, aux_classes), None without
        that head."""
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        score = self.linear(h).squeeze(1)
        if self.embed is not None:
            score = score + (self.embed(y) * h).sum(dim=1)
        return score, (self.classifier(h) if self.classifier is not None else None)
