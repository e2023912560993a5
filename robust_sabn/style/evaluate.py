"""Validation of a style-transfer network: the paper's losses on fixed held-out pairs, and the
same losses measured with a second encoder that training never saw.

* ``content_loss`` / ``style_loss`` (features ``training encoder``): the training objective on
  the validation pairs, alpha = 1, on the decoder's unclamped output (what the SaBN authors
  plot). For SaAdaIN the content target includes its learned shared affine.
* ``second_content_loss`` / ``second_style_loss`` (features ``second encoder``): the same two
  losses with a second, differently seeded random encoder in place of the training one; its
  content target is plain AdaIN of its own features (no learned affine), so AdaIN and SaAdaIN
  are measured against the same target there.
* ``output_spread``: how much the stylized images differ between the pairs, the standard
  deviation over the pairs of each output pixel (clamped to the [0, 1] pixel scale), averaged
  over pixels and channels. A collapsed decoder, one that outputs the same image whatever the
  pair, has a spread near 0 (exactly 0 for one run of style-offline); its other runs measured
  0.055-0.123 at 32 px.
* ``affine_shift`` (SaAdaIN only): its shared affine's distance from the identity (a fraction,
  :func:`affine_shift`); in each validation row of the training curves as well, so a run's
  record shows how the affine moved along training.

Losses are means over the pairs (each batch's loss weighted by its size).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from robust_sabn.artifacts.result import Metric
from robust_sabn.errors import UserInputError
from robust_sabn.nn import AdaIN
from robust_sabn.style.config import StyleConfig
from robust_sabn.style.data import StyleData
from robust_sabn.style.encoder import (
    FEATURE_CHANNELS,
    RANDOM_ENCODER_LABEL,
    VGGEncoder,
    random_encoder,
)
from robust_sabn.style.network import StyleTransferNet, content_loss, style_loss
from robust_sabn.vocabulary import STYLE_SECOND_FEATURES, STYLE_TRAINING_FEATURES


@dataclass(frozen=True)
class ValidationSet:
    """Fixed held-out pairs and the optional second encoder.

    Attributes:
        content, style: (P, 3, crop, crop) images in [0, 1].
        second_encoder: a frozen encoder not used in training, or None.
        second_label: how reports name it.
    """

    content: Tensor
    style: Tensor
    second_encoder: VGGEncoder | None
    second_label: str | None

    @classmethod
    def build(cls, data: StyleData, config: StyleConfig, training_encoder: VGGEncoder
              ) -> ValidationSet:
        """The pairs of ``config.data_seed`` and the second encoder of its seed.

        Raises:
            UserInputError: the second encoder would be the training encoder.
        """
        content, style = data.validation_pairs(config.data_seed, config.val_pairs)
        seed = config.second_encoder_seed
        if seed is None:
            return cls(content, style, None, None)
        if training_encoder.convention == "random" and seed == config.encoder_seed:
            raise UserInputError(
                f"--second-encoder-seed {seed} equals --encoder-seed: the second encoder must "
                "differ from the training one; choose another seed"
            )
        label = f"second {RANDOM_ENCODER_LABEL}, seed {seed}, not used in training"
        return cls(content, style, random_encoder(seed).to(config.device), label)


@torch.no_grad()
def validation_losses(net: StyleTransferNet, val: ValidationSet, config: StyleConfig
                      ) -> dict[str, float]:
    """Mean validation losses over the pairs (see the module docstring for each key)."""
    was_training = net.training
    net.eval()
    plain = AdaIN(FEATURE_CHANNELS)
    totals: dict[str, float] = {}
    outputs = []
    n = val.content.shape[0]
    for start in range(0, n, config.batch_size):
        content = val.content[start:start + config.batch_size].to(config.device)
        style = val.style[start:start + config.batch_size].to(config.device)
        output, t, style_features = net(content, style)
        outputs.append(output.clamp(0.0, 1.0))
        output_features = net.encoder(output)
        parts = {"content_loss": content_loss(output_features[-1], t),
                 "style_loss": style_loss(output_features, style_features)}
        if val.second_encoder is not None:
            second = val.second_encoder
            second_style = second(style)
            second_target = plain(second(content)[-1], style=second_style[-1])
            second_output = second(output)
            parts["second_content_loss"] = content_loss(second_output[-1], second_target)
            parts["second_style_loss"] = style_loss(second_output, second_style)
        for key, value in parts.items():
            totals[key] = totals.get(key, 0.0) + float(value) * content.shape[0]
    net.train(was_training)
    means = {key: value / n for key, value in totals.items()}
    means["loss"] = (config.content_weight * means["content_loss"]
                     + config.style_weight * means["style_loss"])
    if n > 1:
        means["output_spread"] = float(torch.cat(outputs).std(dim=0).mean())
    shift = affine_shift(net)
    if shift is not None:
        means["affine_shift"] = shift
    return means


def validation_metrics(values: dict[str, float], config: StyleConfig, val: ValidationSet, *,
                       step: int) -> list[Metric]:
    """Record metrics of :func:`validation_losses` output, one per loss and encoder."""
    n = int(val.content.shape[0])
    metrics = []
    for key, name, features in (
        ("content_loss", "content_loss", STYLE_TRAINING_FEATURES),
        ("style_loss", "style_loss", STYLE_TRAINING_FEATURES),
        ("second_content_loss", "content_loss", STYLE_SECOND_FEATURES),
        ("second_style_loss", "style_loss", STYLE_SECOND_FEATURES),
    ):
        if key in values:
            metrics.append(Metric(name=name, value=values[key], n=n, condition={
                "split": "val", "features": features, "step": step}))
    if "output_spread" in values:
        metrics.append(Metric(name="output_spread", value=values["output_spread"], n=n,
                              condition={"split": "val", "step": step}))
    return metrics


def affine_shift(net: StyleTransferNet) -> float | None:
    """SaAdaIN's shared affine's distance from the identity, ``sqrt(mean_c((g_c - 1)^2 +
    b_c^2))`` over the relu4_1 channels (a fraction: 0.01 is 1 %); None for AdaIN."""
    weight = getattr(net.transfer, "shared_weight", None)
    bias = getattr(net.transfer, "shared_bias", None)
    if weight is None or bias is None:
        return None
    return float(((weight.detach().float() - 1) ** 2 + bias.detach().float() ** 2).mean().sqrt())


def affine_shift_metrics(net: StyleTransferNet, *, step: int) -> list[Metric]:
    """:func:`affine_shift` as metric ``affine_shift`` (none for AdaIN)."""
    shift = affine_shift(net)
    if shift is None:
        return []
    return [Metric(name="affine_shift", value=shift, n=int(net.transfer.shared_weight.numel()),
                   condition={"step": step})]
