"""The AdaIN style-transfer network: frozen encoder, AdaIN or SaAdaIN at relu4_1, decoder.

``stylize(content, style, alpha)`` maps RGB images in [0, 1] of shape (N, 3, H, W) to stylized
images of the content's size. :func:`transfer_losses` is the training objective of Huang and
Belongie (2017) as the SaBN authors use it: the content loss is the MSE between the relu4_1
features of the output and the target ``t`` (the AdaIN / SaAdaIN output, not detached, as in
the reference code), the style loss sums, over relu1_1..relu4_1, the MSE of the channel means
plus the MSE of the channel stds of output and style features.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.models.registry import register_model
from robust_sabn.nn import AdaIN, SaAdaIN, channel_mean_std
from robust_sabn.style.encoder import FEATURE_CHANNELS, VGGEncoder

TransferNorm = Literal["adain", "saadain"]
NORM_LABELS: dict[str, str] = {"adain": "AdaIN", "saadain": "SaAdaIN"}

# Mirror of the encoder: (in, out) channels of each 3x3 conv; "up" doubles the size.
_DECODER_LAYOUT: tuple[tuple[int, int] | str, ...] = (
    (512, 256), "up", (256, 256), (256, 256), (256, 256), (256, 128), "up",
    (128, 128), (128, 64), "up", (64, 64), (64, 3),
)


class Decoder(nn.Module):
    """Mirrored VGG decoder: reflection-padded 3x3 convs with ReLU (none after the last), and
    nearest up-sampling to the encoder's stage sizes, so the output has the input's exact size
    for odd and even crops alike.

    Input: relu4_1-like features (N, 512, h, w); output: an image (N, 3, H, W), unclamped.
    """

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(*item, 3) for item in _DECODER_LAYOUT if not isinstance(item, str)
        )

    def forward(self, features: Tensor, stage_sizes: list[tuple[int, int]]) -> Tensor:
        """Decode ``features``; ``stage_sizes`` are the encoder's sizes, input size first."""
        targets = list(reversed(stage_sizes[:-1]))
        x, conv_index = features, 0
        for item in _DECODER_LAYOUT:
            if item == "up":
                x = F.interpolate(x, size=targets.pop(0), mode="nearest")
                continue
            x = self.convs[conv_index](F.pad(x, (1, 1, 1, 1), mode="reflect"))
            conv_index += 1
            if conv_index < len(self.convs):
                x = F.relu(x)
        return x


@register_model("adain_decoder", family="decoder")
def adain_decoder() -> Decoder:
    """The mirrored decoder of the AdaIN network (random init)."""
    return Decoder()


def make_transfer_layer(norm: str) -> AdaIN | SaAdaIN:
    """AdaIN or SaAdaIN (shared affine exactly 1/0 at init) over the relu4_1 channels."""
    if norm == "adain":
        return AdaIN(FEATURE_CHANNELS)
    if norm == "saadain":
        return SaAdaIN(FEATURE_CHANNELS)
    raise ValueError(f"unknown style-transfer norm {norm!r}; choose adain or saadain")


class StyleTransferNet(nn.Module):
    """Encoder (frozen) -> AdaIN/SaAdaIN at relu4_1 -> decoder.

    Args:
        encoder: the frozen feature extractor.
        norm: ``"adain"`` or ``"saadain"``.

    Only ``transfer`` (SaAdaIN's shared affine) and ``decoder`` hold trainable parameters;
    :meth:`trainable_state` is what checkpoints store.
    """

    def __init__(self, encoder: VGGEncoder, norm: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.norm = norm
        self.decoder = Decoder()  # first: its init draws the same numbers for either norm
        self.transfer = make_transfer_layer(norm)

    def trainable_state(self) -> dict[str, Tensor]:
        """State of the transfer layer and decoder (the encoder is rebuilt from its spec)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def load_trainable_state(self, state: dict[str, Tensor]) -> None:
        """Load what :meth:`trainable_state` returned (strict on those keys)."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("encoder.")]
        if missing or unexpected:
            raise RuntimeError(f"missing keys {missing}, unexpected keys {unexpected}")

    def target(self, content_features: Tensor, style_features: Tensor, alpha: float = 1.0
               ) -> Tensor:
        """``t = alpha*norm(c, s) + (1 - alpha)*c`` on relu4_1 features (N, 512, h, w)."""
        t = self.transfer(content_features, style=style_features)
        return t if alpha == 1.0 else alpha * t + (1.0 - alpha) * content_features

    def stylize(self, content: Tensor, style: Tensor, alpha: float = 1.0) -> Tensor:
        """Stylized images (N, 3, H, W), clamped to [0, 1]; ``alpha`` in [0, 1] is strength."""
        t = self.target(self.encoder(content)[-1], self.encoder(style)[-1], alpha)
        sizes = self.encoder.stage_sizes(content.shape[-2], content.shape[-1])
        return self.decoder(t, sizes).clamp(0.0, 1.0)

    def forward(self, content: Tensor, style: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """One training pass: (output image unclamped (N, 3, H, W), target t at relu4_1,
        the style's features at relu1_1..relu4_1)."""
        style_features = self.encoder(style)
        t = self.target(self.encoder(content)[-1], style_features[-1])
        sizes = self.encoder.stage_sizes(content.shape[-2], content.shape[-1])
        return self.decoder(t, sizes), t, style_features


def style_loss(output_features: list[Tensor], style_features: list[Tensor]) -> Tensor:
    """Sum over layers of MSE(channel means) + MSE(channel stds); a scalar, 0 for equal inputs."""
    total = output_features[0].new_zeros(())
    for out, ref in zip(output_features, style_features, strict=True):
        out_mean, out_std = channel_mean_std(out)
        ref_mean, ref_std = channel_mean_std(ref)
        total = total + F.mse_loss(out_mean, ref_mean) + F.mse_loss(out_std, ref_std)
    return total


def content_loss(output_relu4: Tensor, target: Tensor) -> Tensor:
    """MSE between the output's relu4_1 features and the target ``t`` (same shape)."""
    return F.mse_loss(output_relu4, target)


def transfer_losses(net: StyleTransferNet, content: Tensor, style: Tensor
                    ) -> tuple[Tensor, Tensor]:
    """(content loss, style loss) of one batch, both scalars with gradients to the decoder and
    to SaAdaIN's shared affine; the encoder is frozen."""
    output, t, style_features = net(content, style)
    output_features = net.encoder(output)
    return content_loss(output_features[-1], t), style_loss(output_features, style_features)
