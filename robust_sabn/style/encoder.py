"""The frozen VGG-19 encoder of AdaIN style transfer, truncated at relu4_1.

Images enter as RGB in [0, 1], shape (N, 3, H, W). A fixed 1x1 input convolution converts them
to the convention the weights were trained with:

* ``torchvision``: ImageNet VGG-19 of torchvision (``vgg19-dcbb9e9d.pth``): RGB normalized by
  the ImageNet mean and std; zero padding; pooling rounds down.
* ``adain``: AdaIN's ``vgg_normalised.pth`` (Caffe VGG, normalised by Gatys et al.): BGR,
  0-255, mean-subtracted. The file's own first layer is that 1x1 conversion and is used as is;
  reflection padding; pooling rounds up (``ceil_mode``), as in the reference pytorch-AdaIN.
* ``random``: the offline default, a seeded randomly initialised encoder of the same shape (He
  init, torchvision input convention). Its losses are not comparable to VGG numbers.

:meth:`VGGEncoder.forward` returns the relu1_1, relu2_1, relu3_1 and relu4_1 features with
64, 128, 256 and 512 channels at 1, 1/2, 1/4 and 1/8 of the input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.artifacts.digest import file_sha256
from robust_sabn.errors import UserInputError
from robust_sabn.models.registry import register_model

Convention = Literal["torchvision", "adain", "random"]

RANDOM_ENCODER_LABEL = "random-feature encoder (not comparable to VGG numbers)"
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
FEATURE_CHANNELS = 512
"""Channels of relu4_1, where AdaIN / SaAdaIN act."""

# VGG-19 up to conv4_1: (in, out) channels of each 3x3 conv; "pool" is a 2x2 max pool.
_LAYOUT: tuple[tuple[int, int] | str, ...] = (
    (3, 64), (64, 64), "pool", (64, 128), (128, 128), "pool",
    (128, 256), (256, 256), (256, 256), (256, 256), "pool", (256, 512),
)
# Indices of the convs above in each file layout's nn.Sequential.
_TORCHVISION_CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 16, 19)
_ADAIN_CONV_INDEX = (2, 5, 9, 12, 16, 19, 22, 25, 29)
_TAPPED_CONVS = (0, 2, 4, 8)  # conv1_1, conv2_1, conv3_1, conv4_1: their ReLUs are tapped
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"


@dataclass(frozen=True)
class EncoderSpec:
    """Where an encoder's weights come from; stored in checkpoints to rebuild it.

    Attributes:
        source: ``"random"`` (seeded), ``"file"`` (a weights file) or ``"hub"`` (torchvision's
            VGG-19 from the torch hub cache).
        seed: the random encoder's seed.
        path: the weights file (``file`` and ``hub``).
        sha256: the weights file's hash, checked when the encoder is rebuilt.
    """

    source: Literal["random", "file", "hub"] = "random"
    seed: int = 0
    path: str | None = None
    sha256: str | None = None

    @property
    def label(self) -> str:
        """How reports name this encoder."""
        if self.source == "random":
            return f"{RANDOM_ENCODER_LABEL}, seed {self.seed}"
        return f"VGG-19 weights {Path(self.path or '').name}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "seed": self.seed, "path": self.path,
                "sha256": self.sha256, "label": self.label}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderSpec:
        return cls(source=d["source"], seed=int(d["seed"]), path=d.get("path"),
                   sha256=d.get("sha256"))


class VGGEncoder(nn.Module):
    """VGG-19 convs up to relu4_1 behind a fixed input conversion; every weight frozen.

    Args:
        convention: input convention and padding/pooling rules (see the module docstring).
    """

    def __init__(self, convention: Convention = "random") -> None:
        super().__init__()
        self.convention = convention
        self.input_transform = nn.Conv2d(3, 3, 1)
        self.reflect = convention == "adain"  # else zero padding, done by the conv itself
        self.convs = nn.ModuleList(
            nn.Conv2d(*item, 3, padding=0 if self.reflect else 1)
            for item in _LAYOUT if not isinstance(item, str)
        )
        self.ceil_mode = convention == "adain"
        self._set_input_transform()
        self.requires_grad_(False)
        self.eval()

    def _set_input_transform(self) -> None:
        with torch.no_grad():
            weight = self.input_transform.weight.view(3, 3)
            if self.convention == "adain":  # RGB [0, 1] -> BGR 0-255 minus the Caffe mean
                weight.copy_(torch.eye(3).flip(0) * 255.0)
                self.input_transform.bias.copy_(-torch.tensor(CAFFE_BGR_MEAN))
            else:  # (x - mean) / std per RGB channel
                std = torch.tensor(IMAGENET_STD)
                weight.copy_(torch.diag(1.0 / std))
                self.input_transform.bias.copy_(-torch.tensor(IMAGENET_MEAN) / std)

    def train(self, mode: bool = True) -> VGGEncoder:
        """Always stays in eval mode (frozen)."""
        return super().train(False)

    def stage_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Spatial sizes at relu1_1, relu2_1, relu3_1, relu4_1 for an H x W input."""
        sizes = [(height, width)]
        for _ in range(3):
            h, w = sizes[-1]
            sizes.append(((h + 1) // 2, (w + 1) // 2) if self.ceil_mode else (h // 2, w // 2))
        return sizes

    def forward(self, images: Tensor) -> list[Tensor]:
        """Features (relu1_1, relu2_1, relu3_1, relu4_1) of RGB images in [0, 1], (N, 3, H, W)."""
        x = self.input_transform(images)
        features: list[Tensor] = []
        conv_index = 0
        for item in _LAYOUT:
            if item == "pool":
                x = F.max_pool2d(x, 2, 2, ceil_mode=self.ceil_mode)
                continue
            if self.reflect:
                x = F.pad(x, (1, 1, 1, 1), mode="reflect")
            x = F.relu(self.convs[conv_index](x))
            if conv_index in _TAPPED_CONVS:
                features.append(x)
            conv_index += 1
        return features

    def load_weights(self, state: dict[str, Tensor], conv_index: tuple[int, ...], prefix: str,
                     source: str) -> None:
        """Copy conv weights ``{prefix}{i}.weight/bias`` for the layout's indices ``conv_index``.

        Raises:
            UserInputError: a tensor is missing or has the wrong shape.
        """
        with torch.no_grad():
            for conv, index in zip(self.convs, conv_index, strict=True):
                for name in ("weight", "bias"):
                    key, target = f"{prefix}{index}.{name}", getattr(conv, name)
                    _copy_checked(state, key, target, source)
            if self.convention == "adain":
                _copy_checked(state, "0.weight", self.input_transform.weight, source)
                _copy_checked(state, "0.bias", self.input_transform.bias, source)


def _copy_checked(state: dict[str, Tensor], key: str, target: Tensor, source: str) -> None:
    if key not in state:
        raise UserInputError(
            f"weights file {source} lacks {key!r}: it is not a VGG-19 file; give torchvision's "
            f"{TORCHVISION_VGG19_FILE} or AdaIN's vgg_normalised.pth"
        )
    value = state[key]
    if not isinstance(value, Tensor) or value.shape != target.shape:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise UserInputError(
            f"weights file {source} has {key!r} of shape {shape}, expected "
            f"{tuple(target.shape)} for VGG-19; give torchvision's {TORCHVISION_VGG19_FILE} "
            "or AdaIN's vgg_normalised.pth"
        )
    target.copy_(value)


def random_encoder(seed: int) -> VGGEncoder:
    """The offline encoder: He-normal (fan-in) conv weights drawn from ``seed``, zero biases."""
    encoder = VGGEncoder("random")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in encoder.convs:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=generator)
            conv.bias.zero_()
    return encoder


def read_weights_file(path: Path) -> tuple[dict[str, Tensor], Convention]:
    """Load a VGG-19 state dict safely (``weights_only``) and tell its layout (torchvision or
    AdaIN).

    Raises:
        UserInputError: missing, unreadable or unsafe file, or not a dict of tensors.
    """
    from robust_sabn.artifacts.checkpoint import load_state_dict_file

    state = load_state_dict_file(path)
    first = state.get("0.weight")
    if isinstance(first, Tensor) and first.shape == (3, 3, 1, 1):
        return state, "adain"
    return state, "torchvision"


def torchvision_layout(state: dict[str, Tensor]) -> tuple[tuple[int, ...], str]:
    """Conv indices and key prefix of a torchvision file (full model or ``features`` only)."""
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    return _TORCHVISION_CONV_INDEX, prefix


def hub_weights_path() -> Path:
    """torchvision's VGG-19 file in the torch hub cache, downloaded there when missing.

    Raises:
        UserInputError: the file is absent and cannot be downloaded.
    """
    from torchvision.models import VGG19_Weights

    path = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG19_FILE
    if not path.is_file():
        try:
            torch.hub.load_state_dict_from_url(VGG19_Weights.IMAGENET1K_V1.url, progress=False)
        except Exception as exc:  # offline: URLError, OSError, ...
            raise UserInputError(
                f"torchvision's VGG-19 is not in the torch hub cache ({path}) and cannot be "
                f"downloaded ({type(exc).__name__}); put the file there or pass "
                "--encoder-weights PATH"
            ) from exc
    return path


def resolve_encoder_spec(weights: str, seed: int = 0) -> EncoderSpec:
    """Turn ``--encoder-weights`` (``random``, ``hub`` or a PATH) into an :class:`EncoderSpec`."""
    if weights == "random":
        return EncoderSpec("random", seed=seed)
    path = hub_weights_path() if weights == "hub" else Path(weights).expanduser()
    if not path.is_file():
        raise UserInputError(
            f"encoder weights not found: {path} (give a file, 'hub' or 'random')"
        )
    return EncoderSpec("hub" if weights == "hub" else "file", seed=seed, path=str(path),
                       sha256=file_sha256(path))


def build_encoder(spec: EncoderSpec) -> VGGEncoder:
    """The frozen encoder ``spec`` describes.

    Raises:
        UserInputError: the weights file is missing, changed since training (hash), unreadable,
            or not VGG-19.
    """
    if spec.source == "random":
        return random_encoder(spec.seed)
    path = Path(spec.path or "")
    state, convention = read_weights_file(path)
    if spec.sha256 is not None and file_sha256(path) != spec.sha256:
        raise UserInputError(
            f"encoder weights {path} differ from the file the model was trained with "
            "(SHA-256 mismatch); pass --encoder-weights with the original file"
        )
    encoder = VGGEncoder(convention)
    if convention == "adain":
        encoder.load_weights(state, _ADAIN_CONV_INDEX, "", str(path))
    else:
        encoder.load_weights(state, *torchvision_layout(state), str(path))
    return encoder


@register_model("vgg19_relu4_1", family="encoder")
def vgg19_relu4_1(weights: str = "random", seed: int = 0) -> VGGEncoder:
    """The frozen VGG-19 encoder to relu4_1; ``weights``: ``random`` (seeded by ``seed``),
    ``hub`` or the path of a torchvision or vgg_normalised.pth file."""
    return build_encoder(resolve_encoder_spec(weights, seed))
