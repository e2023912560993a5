"""Content and style images: folders or the offline bundled set, crops, fixed validation pairs.

Images are read with Pillow from any file Pillow recognises (searched recursively), converted to
RGB (grey is replicated to three channels, alpha is dropped, palettes are expanded), resized so
the shorter side is ``resize`` pixels, and cropped to ``crop`` x ``crop``. Batches are tensors
(N, 3, crop, crop) in [0, 1].

Each folder is split by ``data_seed`` into training and held-out validation images. The
validation pairs (content image, style image, crop positions) are drawn once from ``data_seed``,
so every run of a suite is validated on the same pairs. A training batch is a function of
``(seed, iteration)`` only, which makes resumed runs exact.

Offline sets (``offline_set``, used when no folders are given; nothing is downloaded and nothing
is copied into this repository):

* ``scikit-image``: images that scikit-image ships inside its wheel, 6 photographs as content and
  6 textures and pictures as style (:data:`BUNDLED_CONTENT`, :data:`BUNDLED_STYLE`, with their
  licences).
* ``fashion-mnist``: Fashion-MNIST as content (its 60,000 training images for training,
  ``val_images`` of its 10,000 test images held out) and all 12 scikit-image pictures as style.
  The 28 px grey images are resized like any file (bicubic, shorter side ``resize``) and
  replicated to three channels.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from robust_sabn.errors import UserInputError
from robust_sabn.style.config import OFFLINE_SETS

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
FASHION_MNIST_LABEL = ("Fashion-MNIST (content) and scikit-image bundled images (style, public "
                       "domain / CC0)")


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
    return resized_rgb(rgb, resize)


def resized_rgb(image: Image.Image, resize: int | None) -> Tensor:
    """A Pillow image as uint8 RGB (3, H, W), shorter side resized to ``resize`` (bicubic;
    None: kept)."""
    rgb = image.convert("RGB")
    if resize is not None:
        scale = resize / min(rgb.size)
        size = (max(round(rgb.size[0] * scale), resize), max(round(rgb.size[1] * scale), resize))
        rgb = rgb.resize(size, Image.Resampling.BICUBIC)
    return torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(
        rgb.size[1], rgb.size[0], 3).permute(2, 0, 1).contiguous()


def centre_square(image: Tensor, size: int) -> Tensor:
    """The centred ``size`` x ``size`` square of a uint8 image (3, H, W) whose shorter side is
    ``size``, as float (1, 3, size, size) in [0, 1]."""
    top = (image.shape[1] - size) // 2
    left = (image.shape[2] - size) // 2
    return image[None, :, top:top + size, left:left + size].float() / 255.0


class ImageSource(ABC):
    """Images of one split, resized so the shorter side is ``resize`` and cropped to ``crop``.

    Subclasses say how many images there are, what they are called and how image ``index``
    is read; the crops are common.
    """

    resize: int
    crop: int

    def __post_init__(self) -> None:
        """Dataclass subclasses check their sizes on creation."""
        if self.resize < self.crop:
            raise UserInputError(
                f"resize {self.resize} is smaller than the crop {self.crop}; "
                "give --resize >= --crop"
            )

    @abstractmethod
    def __len__(self) -> int:
        """Number of images."""

    @abstractmethod
    def name(self, index: int) -> str:
        """Image ``index``'s name (its file name, or its dataset and index there)."""

    @abstractmethod
    def read(self, index: int, resize: int) -> Tensor:
        """Image ``index`` as uint8 RGB (3, H, W), shorter side ``resize``."""

    def names(self) -> list[str]:
        """Every image's name, in index order."""
        return [self.name(index) for index in range(len(self))]

    def summary(self) -> list[str]:
        """What the pool holds, for a record: its names, or a count when there are many."""
        return self.names()

    def image(self, index: int) -> Tensor:
        """Image ``index`` as uint8 RGB (3, H, W) at the pool's ``resize``."""
        return self.read(index, self.resize)

    def square(self, index: int, size: int) -> Tensor:
        """Image ``index`` as float (1, 3, size, size): shorter side ``size``, centre square."""
        return centre_square(self.read(index, size), size)

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
        """Read every image of a small pool once, so bad files fail before training starts;
        large pools are checked as they are read."""
        if len(self) <= _CACHED_POOL_SIZE:
            for index in range(len(self)):
                self.image(index)


@dataclass(frozen=True)
class ImagePool(ImageSource):
    """A list of image files read lazily (and cached when there are few) at one resize."""

    paths: tuple[Path, ...]
    resize: int
    crop: int

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return self.paths[index].name

    def read(self, index: int, resize: int) -> Tensor:
        if len(self.paths) <= _CACHED_POOL_SIZE:
            return _cached_read(self.paths[index], resize, min(self.crop, resize))
        return read_rgb(self.paths[index], resize, min(self.crop, resize))


@dataclass(frozen=True, eq=False)
class ArrayPool(ImageSource):
    """Images of a dataset held in memory, uint8 (N, C, H, W) with C = 1 (grey) or 3, named
    ``<label> #<index>`` by their index in the dataset."""

    images: Tensor
    indices: tuple[int, ...]
    label: str
    resize: int
    crop: int

    def __len__(self) -> int:
        return len(self.indices)

    def name(self, index: int) -> str:
        return f"{self.label} #{self.indices[index]}"

    def summary(self) -> list[str]:
        if len(self) <= _CACHED_POOL_SIZE:
            return self.names()
        return [f"{self.label}: {len(self)} images"]

    def read(self, index: int, resize: int) -> Tensor:
        array = self.images[self.indices[index]].permute(1, 2, 0).squeeze(-1).numpy()
        return resized_rgb(Image.fromarray(array), resize)


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

    train_content: ImageSource
    train_style: ImageSource
    val_content: ImageSource
    val_style: ImageSource
    source: str

    def describe(self) -> dict[str, Any]:
        """The images of each pool (names, or a count for a whole dataset) and, for the
        scikit-image pictures, their licences."""
        pools = {"train_content": self.train_content, "val_content": self.val_content,
                 "train_style": self.train_style, "val_style": self.val_style}
        names: dict[str, Any] = {key: pool.summary() for key, pool in pools.items()}
        if self.source in (BUNDLED_LABEL, FASHION_MNIST_LABEL):
            names["licences"] = {**BUNDLED_CONTENT, **BUNDLED_STYLE}
        return names

    def training_batch(self, seed: int, iteration: int, batch_size: int
                       ) -> tuple[Tensor, Tensor]:
        """(content, style) crops (B, 3, crop, crop) of one iteration, from (seed, iteration)."""
        generator = iteration_generator(seed, iteration)
        c_idx = torch.randint(len(self.train_content), (batch_size,), generator=generator)
        s_idx = torch.randint(len(self.train_style), (batch_size,), generator=generator)
        return (self.train_content.crops(c_idx.tolist(), generator),
                self.train_style.crops(s_idx.tolist(), generator))

    def validation_pairs(self, data_seed: int, count: int) -> tuple[Tensor, Tensor]:
        """``count`` fixed (content, style) pairs (count, 3, crop, crop): pair i takes held-out
        content image ``i % n_c`` and style image ``(i // n_c) % n_s``, so the pairs run through
        every combination; crops are drawn from ``data_seed``."""
        generator = torch.Generator().manual_seed(data_seed * 7919 + 1)
        n_c, n_s = len(self.val_content), len(self.val_style)
        c_idx = [i % n_c for i in range(count)]
        s_idx = [(i // n_c) % n_s for i in range(count)]
        return (self.val_content.crops(c_idx, generator),
                self.val_style.crops(s_idx, generator))


def load_style_data(content_dir: Path | None, style_dir: Path | None, *, resize: int, crop: int,
                    val_images: int, data_seed: int, offline_set: str = OFFLINE_SETS[0]
                    ) -> StyleData:
    """Content/style pools from folders, or the offline set ``offline_set`` when both are None.

    Raises:
        UserInputError: only one folder given, folders with an offline set other than the
            default, an unknown offline set, empty folders, unreadable or too small images,
            too few images to hold some out, Fashion-MNIST's files missing.
    """
    if (content_dir is None) != (style_dir is None):
        raise UserInputError(
            "give both --content-dir and --style-dir, or neither for the offline images"
        )
    if offline_set not in OFFLINE_SETS:
        raise UserInputError(
            f"unknown offline set {offline_set!r}; choose one of {', '.join(OFFLINE_SETS)}"
        )
    if content_dir is not None and offline_set != OFFLINE_SETS[0]:
        raise UserInputError(
            f"--offline-set {offline_set} and image folders exclude each other; drop the "
            "folders or the offline set"
        )
    if offline_set == "fashion-mnist":
        content_train, content_val = _fashion_mnist_content(
            resize=resize, crop=crop, val_images=val_images, data_seed=data_seed)
        pictures, textures = bundled_images()
        style = [*pictures, *textures]
        source = FASHION_MNIST_LABEL
    else:
        if content_dir is None or style_dir is None:
            content, style = bundled_images()
            source = BUNDLED_LABEL
        else:
            content = list_images(content_dir, "--content-dir")
            style = list_images(style_dir, "--style-dir")
            source = f"content {content_dir}, style {style_dir}"
        c_train, c_val = split_paths(content, val_images, data_seed, "--content-dir")
        content_train = ImagePool(tuple(c_train), resize, crop)
        content_val = ImagePool(tuple(c_val), resize, crop)
    s_train, s_val = split_paths(style, val_images, data_seed + 1, "--style-dir")
    data = StyleData(content_train, ImagePool(tuple(s_train), resize, crop), content_val,
                     ImagePool(tuple(s_val), resize, crop), source)
    for pool in (data.train_content, data.train_style, data.val_content, data.val_style):
        pool.check_readable()
    return data


def _fashion_mnist_content(*, resize: int, crop: int, val_images: int, data_seed: int
                           ) -> tuple[ArrayPool, ArrayPool]:
    """(training, validation) content pools: every Fashion-MNIST training image, and
    ``val_images`` test images drawn by ``data_seed``.

    Raises:
        UserInputError: Fashion-MNIST's files are missing (the message says where to put them).
    """
    from robust_sabn.data.sources import load_raw

    raw = load_raw("fashion-mnist", None, download=False)
    test_count = len(raw.test_images)
    order = torch.randperm(test_count, generator=torch.Generator().manual_seed(data_seed))
    held = sorted(order[:val_images].tolist())
    return (ArrayPool(raw.train_images, tuple(range(len(raw.train_images))),
                      "Fashion-MNIST train", resize, crop),
            ArrayPool(raw.test_images, tuple(held), "Fashion-MNIST test", resize, crop))
