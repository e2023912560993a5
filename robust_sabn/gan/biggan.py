"""BigGAN-32 generator (Brock et al. 2019) with CCBN / SaBN conditional norms or plain BN.

A shared class embedding e_y (N, shared_dim) and a hierarchical latent: z is split into one
chunk for the first linear layer and one per block. Each conditional norm takes
``c = [e_y, z_block]`` and computes per-sample affines ``g = 1 + W_g c``, ``b = W_b c``:

* ``ccbn``: ``g * xh + b``;
* ``sabn``: ``g * (g_s * xh + b_s) + b`` with the shared sandwich affine ``(g_s, b_s)``;
* ``bn``: plain BatchNorm2d; labels and block chunks are unused and all of z feeds the linear.

Spectral norm is on every generator conv and linear, as in BigGAN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from robust_sabn.errors import UserInputError
from robust_sabn.gan.generators import BOTTOM, Generator
from robust_sabn.gan.layers import output_layer, upsample, xavier_init
from robust_sabn.nn import SandwichNorm2d


class EmbeddingConditionalNorm(nn.Module):
    """Batch-statistics norm whose affine is projected from a conditioning vector.

    Args:
        channels: C of the (N, C, H, W) input.
        cond_dim: length of the conditioning vector c (N, cond_dim).
        norm: ``ccbn`` (no shared affine) or ``sabn`` (shared sandwich affine ``g_s, b_s``).
    """

    def __init__(self, channels: int, cond_dim: int, norm: str) -> None:
        super().__init__()
        self.core = SandwichNorm2d(channels, 1, stats="batch", shared_affine=norm == "sabn",
                                   branch_affine=False)
        self.gain = spectral_norm(nn.Linear(cond_dim, channels, bias=False))
        self.bias = spectral_norm(nn.Linear(cond_dim, channels, bias=False))

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        gain = 1.0 + self.gain(cond)
        return self.core(x) * gain[:, :, None, None] + self.bias(cond)[:, :, None, None]


class BigGANBlock(nn.Module):
    """Up-sampling residual block: norm, ReLU, up, conv3x3, norm, ReLU, conv3x3 + up, conv1x1."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, norm: str) -> None:
        super().__init__()
        self.n1 = self._norm(in_ch, cond_dim, norm)
        self.n2 = self._norm(out_ch, cond_dim, norm)
        self.c1 = spectral_norm(nn.Conv2d(in_ch, out_ch, 3, 1, 1))
        self.c2 = spectral_norm(nn.Conv2d(out_ch, out_ch, 3, 1, 1))
        self.c_sc = spectral_norm(nn.Conv2d(in_ch, out_ch, 1))

    @staticmethod
    def _norm(channels: int, cond_dim: int, norm: str) -> nn.Module:
        if norm == "bn":
            return nn.BatchNorm2d(channels)
        return EmbeddingConditionalNorm(channels, cond_dim, norm)

    @staticmethod
    def _normalize(layer: nn.Module, x: Tensor, cond: Tensor) -> Tensor:
        return layer(x) if isinstance(layer, nn.BatchNorm2d) else layer(x, cond)

    def forward(self, x: Tensor, cond: Tensor, size: int) -> Tensor:
        h = upsample(F.relu(self._normalize(self.n1, x, cond)), size)
        h = self.c2(F.relu(self._normalize(self.n2, self.c1(h), cond)))
        return h + self.c_sc(upsample(x, size))


class BigGANGenerator(Generator):
    """BigGAN-32: shared embedding, hierarchical latent, three up blocks, BN, ReLU, conv, tanh.

    Args:
        width: block channels (``4 * G_ch``; 256 for BigGAN's CIFAR-10 model with G_ch 64).
        shared_dim: length of the shared class embedding.
        latent_dim: length of z, split into 4 equal chunks (must divide by 4).
    """

    def __init__(self, *, norm: str, num_classes: int = 10, out_channels: int = 3,
                 image_size: int = 32, latent_dim: int = 128, width: int = 256,
                 shared_dim: int = 128) -> None:
        super().__init__(norm=norm, num_classes=num_classes, latent_dim=latent_dim,
                         out_channels=out_channels, image_size=image_size, width=width)
        slots = len(self.sizes) + 1
        if latent_dim % slots:
            raise UserInputError(f"BigGAN splits z into {slots} equal chunks; latent_dim "
                                 f"{latent_dim} does not divide by {slots}")
        self.chunk = latent_dim // slots
        first = latent_dim if norm == "bn" else self.chunk
        self.shared = nn.Embedding(num_classes, shared_dim) if self.conditional else None
        self.l1 = spectral_norm(nn.Linear(first, BOTTOM * BOTTOM * width))
        self.blocks = nn.ModuleList(
            BigGANBlock(width, width, shared_dim + self.chunk, norm) for _ in self.sizes
        )
        self.to_image = output_layer(width, out_channels)
        self.to_image[2] = spectral_norm(self.to_image[2])
        xavier_init(self)
        if self.shared is not None:
            nn.init.normal_(self.shared.weight, 0.0, 1.0)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        if self.shared is None:
            h = self.l1(z).view(-1, self.width, BOTTOM, BOTTOM)
            conds = [z[:, :0]] * len(self.blocks)
        else:
            first, *rest = torch.split(z, self.chunk, dim=1)
            h = self.l1(first).view(-1, self.width, BOTTOM, BOTTOM)
            embedding = self.shared(y)
            conds = [torch.cat([embedding, chunk], dim=1) for chunk in rest]
        for block, cond, size in zip(self.blocks, conds, self.sizes, strict=True):
            h = block(h, cond, size)
        return self.to_image(h)
