"""Building blocks shared by the GAN generators: conditional norms, up-sampling sizes, init.

Every generator maps latents z (N, latent_dim) and class labels y (N,) (int64) to images
(N, C, H, W) in [-1, 1]. Norm kinds: ``bn`` (plain BatchNorm, the unconditional control),
``ccbn`` (``g_y*xh + b_y``) and ``sabn`` (``g_y*(g_s*xh + b_s) + b_y``), all from
:mod:`robust_sabn.nn`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.nn import SandwichNorm2d, make_norm
from robust_sabn.vocabulary import check_norm


def check_gan_norm(norm: str) -> None:
    """Raise UserInputError unless ``norm`` is a generator norm kind (``saauxbn`` is not)."""
    check_norm("gan", norm)


def class_norm(norm: str, channels: int, num_classes: int) -> nn.Module:
    """A norm of ``norm`` kind for ``channels``: BatchNorm2d, or CCBN/SaBN with one affine
    per class (K = ``num_classes``)."""
    check_gan_norm(norm)
    return make_norm(norm, channels, num_classes)


def apply_class_norm(layer: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """``layer(x)`` on per-sample classes ``y`` (N,) for SaBN-family layers, plain for BN."""
    if isinstance(layer, SandwichNorm2d):
        return layer(x, branch=y)
    return layer(x)


def block_sizes(image_size: int, blocks: int = 3) -> list[int]:
    """Output side length of each up-sampling block: 32 -> [8, 16, 32], 28 -> [7, 14, 28].

    The first block up-samples from the 4x4 bottom to ``ceil(image_size / 2**(blocks-1))``.
    """
    sizes = [image_size]
    for _ in range(blocks - 1):
        sizes.insert(0, -(-sizes[0] // 2))
    return sizes


def upsample(x: Tensor, size: int, mode: str = "nearest") -> Tensor:
    """Resize (N, C, H, W) feature maps to (N, C, size, size)."""
    if mode == "nearest":
        return F.interpolate(x, size=(size, size), mode="nearest")
    return F.interpolate(x, size=(size, size), mode=mode, align_corners=False)


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every conv and linear layer (authors' init).

    Spectral-normalised layers are initialised through their stored original weight.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding):
            weight = getattr(getattr(m, "parametrizations", None), "weight", None)
            target = weight.original if weight is not None else m.weight
            nn.init.xavier_uniform_(target)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


def output_layer(channels: int, out_channels: int) -> nn.Sequential:
    """Final plain BN, ReLU, 3x3 conv to image channels and tanh (never conditional)."""
    return nn.Sequential(
        nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, out_channels, 3, 1, 1), nn.Tanh()
    )
