"""Content and style images: folders or the offline bundled set, crops, fixed validation pairs.

Images are read with Pillow from any file Pillow recognises (searched recursively), converted to
RGB (grey is replicated to three channels, alpha is dropped, palettes are expanded), resized so
the shorter side is ``resize`` pixels, and cropped to ``crop`` x ``crop``. Batches are tensors
(N, 3, crop, crop) in [0, 1].

Each folder is split by ``data_seed`` into training and held-out validation images. The
validation pairs (content image, style image, crop positions) are drawn once from ``data_seed``,
so every run of a suite is validated on the same pairs. A training batch is a function of
``(seed, iteration)`` only, which makes resumed runs exact.

Offline default: images that scikit-image ships inside its wheel (listed in
:data:`BUNDLED_CONTENT` and :data:`BUNDLED_STYLE` with their licences); nothing is downloaded and
nothing is copied into this repository.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from robust_sabn.errors import UserInputError

# scikit-image data files (skimage/data/): name -> licence, from skimage.data's docstrings.
BUNDLED_CONTENT: dict[str, str] = {
    "astronaut.png": "public domain (NASA)",
    "camera.png": "CC0 (Lav Varshney)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "clock_motion.png": "public domain (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "rocket.jpg": "public domain (SpaceX)",
}
BUNDLED_STYLE: dict[str, str] = {
    "brick.png": "CC0 (CC0Textures)",
    "grass.png": "CC0 (DeviantArt, linolafett)",
    "gravel.png": "CC0 (CC0Textures)",
    "hubble_deep_field.jpg": "public domain (NASA)",
    "ihc.png": "no known copyright restrictions (immunohistochemistry, skimage)",
    "retina.jpg": "CC0 1.0 (Wikimedia Commons, Häggström)",
}
BUNDLED_LABEL = "scikit-image bundled images (public domain / CC0)"


def image_suffixes() -> frozenset[str]:
    """File suffixes Pillow can open (lower case, with the dot)."""
    return frozenset(Image.registered_extensions())


def list_images(folder: Path, option: str) -> list[Path]:
    """Every image file under ``folder`` (recursive), sorted.

    Raises:
        UserInputError: the folder is missing or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{option} {folder} is not a folder; give a folder of images")
    suffixes = image_suffixes()
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not paths:
        raise UserInputError(
            f"{option} {folder} holds no image files (searched recursively for "
            ".jpg, .png, ...); give a folder with images"
        )
    return paths


def bundled_images() -> tuple[list[Path], list[Path]]:
    """(content paths, style paths) of the offline set shipped with scikit-image.

    Raises:
        UserInputError: scikit-image or one of its bundled files is missing.
    """
    try:
        import skimage.data
    except ImportError as exc:
        raise UserInputError(
            "the offline style-transfer images come from scikit-image, which is not installed; "
            "pip install scikit-image or pass --content-dir and --style-dir"
        ) from exc
    root = Path(skimage.data.__file__).parent
    found = []
    for names in (BUNDLED_CONTENT, BUNDLED_STYLE):
        paths = [root / name for name in names]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise UserInputError(
                f"scikit-image lacks its bundled images {missing} in {root}; reinstall "
                "scikit-image or pass --content-dir and --style-dir"
            )
        found.append(paths)
    return found[0], found[1]


def read_rgb(path: Path, resize: int | None, crop: int) -> Tensor:
    """An image as uint8 RGB (3, H, W), shorter side resized to ``resize`` (None: kept).

    Raises:
        UserInputError: the file cannot be decoded, or its shorter side is below ``crop``.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "F"):  # 16-bit or float grey: scale to 8 bits
                image = image.point(lambda v: v / 256).convert("L")
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UserInputError(
            f"cannot read image {path} ({type(exc).__name__}); remove or replace the file"
        ) from exc
    if min(rgb.size) < crop:
        raise UserInputError(
            f"image {path} is {rgb.size[0]}x{rgb.size[1]} px, smaller than the {crop} px crop; "
            "remove it or lower --crop"
        )
    if resize is not None:
        scale = resize / min(rgb.size)
        size = (max(round(rgb.size[0] * scale), resize), max(round(rgb.size[1] * scale), resize))
        rgb = rgb.resize(size, Image.Resampling.BICUBIC)
    return torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(
        rgb.size[1], rgb.size[0], 3).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class ImagePool:
    """A list of image files read lazily (and cached) at one resize, cropped to ``crop``."""

    paths: tuple[Path, ...]
    resize: int
    crop: int

    def __post_init__(self) -> None:
        if self.resize < self.crop:
            raise UserInputError(
                f"resize {self.resize} is smaller than the crop {self.crop}; "
                "give --resize >= --crop"
            )

    def image(self, index: int) -> Tensor:
        """The resized uint8 image (3, H, W) of file ``index`` (cached for small pools)."""
        if len(self.paths) <= _CACHED_POOL_SIZE:
            return _cached_read(self.paths[index], self.resize, self.crop)
        return read_rgb(self.paths[index], self.resize, self.crop)

    def crops(self, indices: list[int], generator: torch.Generator) -> Tensor:
        """Random ``crop`` x ``crop`` crops of the given images, float (N, 3, crop, crop)."""
        out = []
        for index in indices:
            image = self.image(index)
            top = int(torch.randint(image.shape[1] - self.crop + 1, (1,), generator=generator))
            left = int(torch.randint(image.shape[2] - self.crop + 1, (1,), generator=generator))
            out.append(image[:, top:top + self.crop, left:left + self.crop])
        return torch.stack(out).float().div_(255.0)

    def check_readable(self) -> None:
        """Read every image of a small (cached) pool once, so bad files fail before training
        starts; large pools are checked as they are read."""
        if len(self.paths) <= _CACHED_POOL_SIZE:
            for index in range(len(self.paths)):
                self.image(index)


_CACHED_POOL_SIZE = 256


@functools.lru_cache(maxsize=4 * _CACHED_POOL_SIZE)
def _cached_read(path: Path, resize: int, crop: int) -> Tensor:
    return read_rgb(path, resize, crop)


def split_paths(paths: list[Path], val_count: int, data_seed: int, option: str
                ) -> tuple[list[Path], list[Path]]:
    """Hold out ``val_count`` images chosen by ``data_seed``; returns (train, val).

    Raises:
        UserInputError: fewer than ``val_count + 1`` images.
    """
    if len(paths) < val_count + 1:
        raise UserInputError(
            f"{option} has {len(paths)} images; at least {val_count + 1} are needed "
            f"({val_count} held out for validation); add images or lower --val-images"
        )
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(data_seed))
    held = set(order[:val_count].tolist())
    train = [p for i, p in enumerate(paths) if i not in held]
    val = [p for i, p in enumerate(paths) if i in held]
    return train, val


def iteration_generator(seed: int, iteration: int) -> torch.Generator:
    """The generator that draws iteration ``iteration``'s images and crops."""
    return torch.Generator().manual_seed(seed * 1_000_003 + iteration)


@dataclass(frozen=True)
class StyleData:
    """Training pools and the fixed validation pairs of one run."""

    train_content: ImagePool
    train_style: ImagePool
    val_content: ImagePool
    val_style: ImagePool
    source: str

    def describe(self) -> dict[str, Any]:
        """File names of each pool and, for the bundled images, their licences."""
        pools = {"train_content": self.train_content, "val_content": self.val_content,
                 "train_style": self.train_style, "val_style": self.val_style}
        names = {key: [p.name for p in pool.paths] for key, pool in pools.items()}
        if self.source == BUNDLED_LABEL:
            names["licences"] = {**BUNDLED_CONTENT, **BUNDLED_STYLE}
        return names

    def training_batch(self, seed: int, iteration: int, batch_size: int
                       ) -> tuple[Tensor, Tensor]:
        """(content, style) crops (B, 3, crop, crop) of one iteration, from (seed, iteration)."""
        generator = iteration_generator(seed, iteration)
        c_idx = torch.randint(len(self.train_content.paths), (batch_size,), generator=generator)
        s_idx = torch.randint(len(self.train_style.paths), (batch_size,), generator=generator)
        return (self.train_content.crops(c_idx.tolist(), generator),
                self.train_style.crops(s_idx.tolist(), generator))

    def validation_pairs(self, data_seed: int, count: int) -> tuple[Tensor, Tensor]:
        """``count`` fixed (content, style) pairs (count, 3, crop, crop): pair i takes held-out
        content image ``i % n_c`` and style image ``(i // n_c) % n_s``, so the pairs run through
        every combination; crops are drawn from ``data_seed``."""
        generator = torch.Generator().manual_seed(data_seed * 7919 + 1)
        n_c, n_s = len(self.val_content.paths), len(self.val_style.paths)
        c_idx = [i % n_c for i in range(count)]
        s_idx = [(i // n_c) % n_s for i in range(count)]
        return (self.val_content.crops(c_idx, generator),
                self.val_style.crops(s_idx, generator))


def load_style_data(content_dir: Path | None, style_dir: Path | None, *, resize: int, crop: int,
                    val_images: int, data_seed: int) -> StyleData:
    """Content/style pools from folders, or the bundled offline set when both are None.

    Raises:
        UserInputError: only one folder given, empty folders, unreadable or too small images,
            too few images to hold some out.
    """
    if (content_dir is None) != (style_dir is None):
        raise UserInputError(
            "give both --content-dir and --style-dir, or neither for the offline images"
        )
    if content_dir is None or style_dir is None:
        content, style = bundled_images()
        source = BUNDLED_LABEL
    else:
        content = list_images(content_dir, "--content-dir")
        style = list_images(style_dir, "--style-dir")
        source = f"content {content_dir}, style {style_dir}"
    c_train, c_val = split_paths(content, val_images, data_seed, "--content-dir")
    s_train, s_val = split_paths(style, val_images, data_seed + 1, "--style-dir")
    data = StyleData(
        ImagePool(tuple(c_train), resize, crop), ImagePool(tuple(s_train), resize, crop),
        ImagePool(tuple(c_val), resize, crop), ImagePool(tuple(s_val), resize, crop), source,
    )
    for pool in (data.train_content, data.train_style, data.val_content, data.val_style):
        pool.check_readable()
    return data
