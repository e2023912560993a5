"""Feature extractors for FID/IS: the standard Inception (torch-fidelity weights) or a reference
classifier trained on the dataset (the offline default).

Both map generator images (N, C, H, W) in [-1, 1] to ``(features (N, D), logits (N, K))``:
Inception gives the 2048-d pool features and the 1008 unbiased logits (torch-fidelity's
``logits_unbiased``, the Inception Score convention); the classifier gives the input of its last
linear layer and its class logits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from robust_sabn.errors import UserInputError

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
"""torch-fidelity's InceptionV3 weights (converted from TF ``inception-2015-12-05``): a
``torch.save``-d state dict of ``FeatureExtractorInceptionV3``; the torch hub cache keeps it
under ``<hub dir>/checkpoints/`` with this name."""


class FeatureExtractor(Protocol):
    """What FID/IS need from a network."""

    kind: str
    """``"inception"`` or ``"classifier"``."""

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Images (N, C, H, W) in [-1, 1] -> (features (N, D), logits (N, K)), float32."""
        ...


def hub_inception_path() -> Path:
    """Where the torch hub cache keeps torch-fidelity's Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def _to_uint8_rgb(images: Tensor) -> Tensor:
    """[-1, 1] images (N, 1 or 3, H, W) -> uint8 RGB (N, 3, H, W), grey repeated."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class InceptionFeatures:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` (TF-exact resize to 299) on our images.

    Args:
        weights: the weights file (see :data:`INCEPTION_FILE`).
        device: where the network runs.
        batch_size: images per forward.

    Raises:
        UserInputError: the file is missing, not loadable as plain tensors, or not InceptionV3
            weights in torch-fidelity's layout.
    """

    kind = "inception"

    def __init__(self, weights: str | Path, device: str = "cpu", batch_size: int = 64) -> None:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        path = Path(weights)
        check_inception_weights(path)
        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"],
                feature_extractor_weights_path=str(path),
            ).to(device)
        except RuntimeError as exc:
            raise UserInputError(
                f"{path} is not torch-fidelity InceptionV3 weights "
                f"({str(exc).splitlines()[0][:160]}); give the file {INCEPTION_FILE}"
            ) from exc
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        feats, logits = [], []
        for chunk in images.split(self.batch_size):
            f, lg = self.net(_to_uint8_rgb(chunk.to(self.device)))
            feats.append(f.float().cpu())
            logits.append(lg.float().cpu())
        return torch.cat(feats), torch.cat(logits)


def check_inception_weights(path: Path) -> None:
    """Raise UserInputError unless ``path`` loads with ``weights_only=True`` as a dict of tensors
    holding torch-fidelity's InceptionV3 ``fc`` layer (1008 x 2048).

    torch-fidelity itself loads the file with ``weights_only=False``; this check runs first so a
    file holding code is refused before that.
    """
    if not path.is_file():
        raise UserInputError(f"Inception weights not found: {path}; give --inception-weights "
                             f"PATH of {INCEPTION_FILE} (torch-fidelity's release file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise UserInputError(f"cannot read Inception weights {path} as plain tensors "
                             f"({type(exc).__name__}); give {INCEPTION_FILE}") from exc
    fc = state.get("fc.weight") if isinstance(state, dict) else None
    if not isinstance(fc, Tensor) or tuple(fc.shape) != (1008, 2048):
        raise UserInputError(f"{path} is not torch-fidelity InceptionV3 weights (no fc.weight "
                             f"of shape 1008 x 2048); give {INCEPTION_FILE}")


class ClassifierFeatures:
    """A trained classifier's penultimate features and logits (the offline FID/IS network).

    Args:
        model: a classifier with a final ``linear`` layer taking images in [0, 1]
            (``small_cnn``); put in eval mode.
        batch_size: images per forward.
    """

    kind = "classifier"

    def __init__(self, model: nn.Module, batch_size: int = 500) -> None:
        self.model = model.eval()
        self.batch_size = batch_size
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        captured: list[Tensor] = []
        hook = self.model.linear.register_forward_hook(
            lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            logits = [self.model((chunk.to(self.device) + 1) / 2).float().cpu()
                      for chunk in images.split(self.batch_size)]
        finally:
            hook.remove()
        return torch.cat([c.float().cpu() for c in captured]), torch.cat(logits)
