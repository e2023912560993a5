"""SNGAN-32 and AutoGAN-32 generators with a class-conditional norm (CCBN / SaBN) or plain BN.

Shapes: latents z (N, latent_dim), labels y (N,) int64 in ``0 .. num_classes-1`` -> images
(N, out_channels, image_size, image_size) in [-1, 1]. ``image_size`` 32 (CIFAR) grows a 4x4
bottom through 8, 16, 32; 28 (Fashion-MNIST) through 7, 14, 28. Plain-BN generators ignore y.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.gan.layers import (
    apply_class_norm,
    block_sizes,
    check_gan_norm,
    class_norm,
    output_layer,
    upsample,
    xavier_init,
)
from robust_sabn.gan.names import CONDITIONAL_NORMS

BOTTOM = 4


class Generator(nn.Module):
    """Common attributes of the generators.

    Attributes:
        norm: ``bn``, ``ccbn`` or ``sabn``.
        num_classes: K classes of the labels.
        latent_dim: length of z.
        out_channels, image_size: shape of the images made.
        width: channels of the 4x4 bottom and of every block.
        sizes: output side of each of the three up-sampling blocks.
    """

    def __init__(self, *, norm: str, num_classes: int, latent_dim: int, out_channels: int,
                 image_size: int, width: int) -> None:
        super().__init__()
        check_gan_norm(norm)
        self.norm = norm
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        self.out_channels = out_channels
        self.image_size = image_size
        self.width = width
        self.sizes = block_sizes(image_size)

    @property
    def conditional(self) -> bool:
        """Whether the class label changes the output (CCBN / SaBN)."""
        return self.norm in CONDITIONAL_NORMS


class SNGANBlock(nn.Module):
    """Up-sampling residual block: norm, ReLU, up, conv3x3, norm, ReLU, conv3x3 + up, conv1x1."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, num_classes: int) -> None:
        super().__init__()
        self.n1 = class_norm(norm, in_ch, num_classes)
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.n2 = class_norm(norm, out_ch, num_classes)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor, y: Tensor, size: int) -> Tensor:
        h = upsample(F.relu(apply_class_norm(self.n1, x, y)), size)
        h = self.c2(F.relu(apply_class_norm(self.n2, self.c1(h), y)))
        return h + self.c_sc(upsample(x, size))


class SNGANGenerator(Generator):
    """SNGAN-32 (Miyato & Koyama 2018): Linear -> 4x4 -> three up blocks -> BN, ReLU, conv, tanh.

    Args:
        width: channels of every block (256 in the paper's CIFAR-10 model).
    """

    def __init__(self, *, norm: str, num_classes: int = 10, out_channels: int = 3,
                 image_size: int = 32, latent_dim: int = 128, width: int = 256) -> None:
        super().__init__(norm=norm, num_classes=num_classes, latent_dim=latent_dim,
                         out_channels=out_channels, image_size=image_size, width=width)
        self.l1 = nn.Linear(latent_dim, BOTTOM * BOTTOM * width)
        self.blocks = nn.ModuleList(
            SNGANBlock(width, width, norm, num_classes) for _ in self.sizes
        )
        self.to_image = output_layer(width, out_channels)
        xavier_init(self)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.l1(z).view(-1, self.width, BOTTOM, BOTTOM)
        for block, size in zip(self.blocks, self.sizes, strict=True):
            h = block(h, y, size)
        return self.to_image(h)


class AutoGANCell(nn.Module):
    """One cell of the AutoGAN-32 generator (Gong et al. 2019).

    norm, ReLU, up (``up_mode``), conv3x3 -> (+ 1x1 convs of the up-sampled skip-ins) -> norm,
    ReLU, conv3x3, plus an optional up-sampled 1x1 shortcut. Returns (output of the first conv,
    the cell's output): the first is what later cells take as a skip-in.
    """

    def __init__(self, ch: int, norm: str, num_classes: int, up_mode: str, num_skip_in: int,
                 shortcut: bool) -> None:
        super().__init__()
        self.up_mode = up_mode
        self.n1 = class_norm(norm, ch, num_classes)
        self.c1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.n2 = class_norm(norm, ch, num_classes)
        self.c2 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.skip_in = nn.ModuleList(nn.Conv2d(ch, ch, 1) for _ in range(num_skip_in))
        self.c_sc = nn.Conv2d(ch, ch, 1) if shortcut else None

    def forward(self, x: Tensor, y: Tensor, size: int, skips: tuple[Tensor, ...] = ()
                ) -> tuple[Tensor, Tensor]:
        h = upsample(F.relu(apply_class_norm(self.n1, x, y)), size, self.up_mode)
        h_skip_out = self.c1(h)
        h = h_skip_out
        for feature, conv in zip(skips, self.skip_in, strict=True):
            h = h + conv(upsample(feature, size, self.up_mode))
        out = self.c2(F.relu(apply_class_norm(self.n2, h, y)))
        if self.c_sc is not None:
            out = out + self.c_sc(upsample(x, size, self.up_mode))
        return h_skip_out, out


class AutoGANGenerator(Generator):
    """The AutoGAN-32 generator: three discovered cells with skip-ins.

    Cell 1: nearest up, shortcut; cell 2: bilinear up, shortcut, skip-in from cell 1; cell 3:
    nearest up, no shortcut, skip-ins from cells 1 and 2. Then BN, ReLU, conv, tanh.
    """

    def __init__(self, *, norm: str, num_classes: int = 10, out_channels: int = 3,
                 image_size: int = 32, latent_dim: int = 128, width: int = 256) -> None:
        super().__init__(norm=norm, num_classes=num_classes, latent_dim=latent_dim,
                         out_channels=out_channels, image_size=image_size, width=width)
        self.l1 = nn.Linear(latent_dim, BOTTOM * BOTTOM * width)
        self.cell1 = AutoGANCell(width, norm, num_classes, "nearest", 0, shortcut=True)
        self.cell2 = AutoGANCell(width, norm, num_classes, "bilinear", 1, shortcut=True)
        self.cell3 = AutoGANCell(width, norm, num_classes, "nearest", 2, shortcut=False)
        self.to_image = output_layer(width, out_channels)
        xavier_init(self)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.l1(z).view(-1, self.width, BOTTOM, BOTTOM)
        skip1, h1 = self.cell1(h, y, self.sizes[0])
        skip2, h2 = self.cell2(h1, y, self.sizes[1], (skip1,))
        _, h3 = self.cell3(h2, y, self.sizes[2], (skip1, skip2))
        return self.to_image(h3)
