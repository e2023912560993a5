"""Style-transfer training options: one pydantic model and the two presets.

``paper`` is the recipe of Huang and Belongie (2017) as the SaBN authors run it (COCO content,
WikiArt style, resize 512, random 256 crops, batch 8, 160k iterations, GPU). ``cpu`` is a small
run for this project's 2-core CPU machine: 64-pixel crops, batch 4, a few hundred iterations,
on the offline scikit-image images. Both use Adam at 1e-4 with inverse decay
``lr / (1 + 5e-5 * iteration)``, content weight 1 and style weight 10.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from robust_sabn.errors import UserInputError

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "iterations": 160_000, "batch_size": 8, "crop": 256, "resize": 512, "log_every": 100,
        "val_every": 10_000, "checkpoint_every": 2_000, "val_pairs": 64, "val_images": 64,
        "device": "cuda",
    },
    "cpu": {
        "iterations": 200, "batch_size": 4, "crop": 64, "resize": 128, "log_every": 10,
        "val_every": 25, "checkpoint_every": 50, "val_pairs": 8, "val_images": 2,
        "device": "cpu",
    },
}

OfflineSet = Literal["scikit-image", "fashion-mnist"]
OFFLINE_SETS: tuple[str, ...] = get_args(OfflineSet)
"""The offline image sets, default first (:mod:`robust_sabn.style.data` says what they hold)."""

# Fields that do not change what a run computes (a resumed run may change them).
RUN_LOCAL_FIELDS = frozenset({"device"})


class StyleConfig(BaseModel):
    """Everything that defines a style-transfer training run.

    Attributes:
        norm: ``adain`` or ``saadain`` at relu4_1.
        seed: decoder initialisation and the training images/crops of every iteration.
        data_seed: the train/validation split and the validation pairs (keep it equal across
            the runs you compare).
        iterations, batch_size: training length and (content, style) pairs per iteration.
        crop, resize: square crop in pixels, after resizing the shorter side to ``resize``.
        lr, lr_decay: Adam learning rate ``lr / (1 + lr_decay * iteration)``.
        lr_warmup: iterations over which the learning rate rises linearly from ``lr /
            lr_warmup`` to the schedule above (0: none, as the paper). At lr 5e-4 a decoder
            can collapse in its first few dozen steps to one image for every pair.
        content_weight, style_weight: the loss weights (1 and 10 in the paper).
        log_every: iterations per training-loss row in ``metrics.jsonl``.
        val_every: iterations between validation passes (and at the end).
        checkpoint_every: iterations between writes of ``last.pt``.
        val_pairs: fixed held-out (content, style) pairs per validation.
        val_images: images held out of each folder for validation.
        content_dir, style_dir: image folders; both None: the offline set ``offline_set``.
        offline_set: the images used without folders: ``scikit-image`` (its 6 bundled
            photographs as content, 6 textures and pictures as style) or ``fashion-mnist``
            (Fashion-MNIST as content, all 12 scikit-image pictures as style); see
            :mod:`robust_sabn.style.data`.
        encoder_weights: ``random`` (offline, seeded), ``hub`` (torchvision's VGG-19 in the
            torch hub cache) or the path of a VGG-19 file (torchvision or vgg_normalised.pth).
        encoder_seed: the random encoder's seed.
        second_encoder_seed: seed of a random encoder never used in training, on which the
            validation losses are measured as well (None: skip).
        device: ``cpu`` or ``cuda``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    norm: Literal["adain", "saadain"] = "saadain"
    seed: int = Field(0, ge=0)
    data_seed: int = Field(0, ge=0)
    iterations: int = Field(200, ge=1)
    batch_size: int = Field(4, ge=1)
    crop: int = Field(64, ge=16)
    resize: int = Field(128, ge=16)
    lr: float = Field(1e-4, gt=0)
    lr_decay: float = Field(5e-5, ge=0)
    lr_warmup: int = Field(0, ge=0)
    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(10.0, ge=0)
    log_every: int = Field(10, ge=1)
    val_every: int = Field(25, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    val_pairs: int = Field(8, ge=1)
    val_images: int = Field(2, ge=1)
    content_dir: str | None = None
    style_dir: str | None = None
    offline_set: OfflineSet = "scikit-image"
    encoder_weights: str = "random"
    encoder_seed: int = Field(0, ge=0)
    second_encoder_seed: int | None = 1
    device: str = "cpu"

    def lr_at(self, iteration: int) -> float:
        """The learning rate of (0-based) ``iteration``."""
        warmup = min(1.0, (iteration + 1) / self.lr_warmup) if self.lr_warmup else 1.0
        return warmup * self.lr / (1.0 + self.lr_decay * iteration)

    def differences(self, other: StyleConfig) -> list[str]:
        """Fields (other than run-local ones) whose values differ from ``other``."""
        mine, theirs = self.model_dump(), other.model_dump()
        return sorted(k for k in mine if k not in RUN_LOCAL_FIELDS and mine[k] != theirs[k])


def make_config(preset: str | None = None, **options: Any) -> StyleConfig:
    """A config from ``preset`` (``paper``, ``cpu`` or None) with ``options`` (None: unset).

    Raises:
        UserInputError: unknown preset or an option out of range (named with its CLI flag).
    """
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise UserInputError(
                f"unknown style preset {preset!r}; choose one of {', '.join(PRESETS)}"
            )
        values.update(PRESETS[preset])
    values.update({k: v for k, v in options.items() if v is not None})
    try:
        config = StyleConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "options"
        raise UserInputError(f"{flag}: {first['msg']} (got {first.get('input')!r})") from exc
    if config.resize < config.crop:
        raise UserInputError(
            f"--resize {config.resize} is smaller than --crop {config.crop}; give "
            "--resize >= --crop"
        )
    return config
