"""Reading whole datasets from disk into uint8 tensors, offline first.

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package or a folder of IDX files,
CIFAR-10/100 and SVHN from torchvision's file layout under a data folder (downloaded only when
absent and allowed), and ``npz`` from a user's own arrays.

The ``npz`` file holds four arrays:

- ``x_train``, ``x_test``: uint8 images, (N, H, W) or channels-last (N, H, W, C) with C <= 4;
- ``y_train``, ``y_test``: integer labels (N,), ``0 .. num_classes - 1``;

and optionally the classes, so that no stray label can change the task:

- ``classes``: the class names (K,) as strings, or ``num_classes``: their count K (a scalar).

Without either, the labels must be contiguous: every class ``0 .. max label`` occurs in
``y_train``.
"""

from __future__ import annotations

import contextlib
import functools
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from robust_sabn.data.idx import read_idx
from robust_sabn.data.registry import (
    NPZ_DATASET,
    NPZ_FORMAT,
    check_dataset_name,
    default_data_dir,
)
from robust_sabn.errors import UserInputError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_CLASS_KEYS = ("classes", "num_classes")
MAX_CLASSES = 100_000
"""The most classes a dataset may have (ImageNet-21k has 21,843); a label or ``num_classes``
beyond it is a damaged file, not a task, and would make the model's last layer huge."""


@dataclass(frozen=True)
class RawDataset:
    """A dataset's official train and test sets: uint8 images (N, C, H, W), int64 labels (N,).

    ``num_classes`` is the number of classes K of a user's npz (declared or checked to be
    contiguous); None for the built-in datasets, whose K is in the registry.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int | None = None


def load_raw(name: str, data_dir: str | Path | None, download: bool) -> RawDataset:
    """Read dataset ``name`` whole (cached for the last two datasets read).

    Args:
        name: a name from :func:`robust_sabn.data.list_datasets`.
        data_dir: the folder to read (for ``npz``: the .npz file or a folder holding one);
            None: the Debian path for Fashion-MNIST, else :func:`default_data_dir`.
        download: let torchvision download a missing dataset into the data folder.

    Raises:
        UserInputError: unknown name, or files missing / malformed; the message says what to put
            where.
    """
    check_dataset_name(name)
    location = None if data_dir is None else Path(data_dir).expanduser().resolve()
    if name == NPZ_DATASET:
        location = _npz_file(location)
    stamp = (
        (location.stat().st_mtime_ns, location.stat().st_size)
        if location is not None and location.exists()
        else (0, 0)
    )
    return _load_raw_cached(name, location, stamp, download)


@functools.lru_cache(maxsize=2)
def _load_raw_cached(
    name: str, location: Path | None, stamp: tuple[int, int], download: bool
) -> RawDataset:
    del stamp  # part of the cache key only: a rewritten file or folder is read again
    if name == "fashion-mnist":
        return _load_fashion_mnist(location, download)
    if name == NPZ_DATASET:
        return _load_npz(_npz_file(location))
    return _load_torchvision(name, location or default_data_dir(), download)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_fashion_mnist(root: Path) -> list[Path] | None:
    """The four Fashion-MNIST IDX files (gzipped or not, in :data:`FASHION_MNIST_FILES` order)
    in ``root`` itself, torchvision's ``root/FashionMNIST/raw`` or ``root/fashion-mnist``."""
    for folder in (root, root / "FashionMNIST" / "raw", root / "fashion-mnist"):
        files = [_idx_file(folder, stem) for stem in FASHION_MNIST_FILES]
        if all(files):
            return [file for file in files if file is not None]
    return None


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise UserInputError(
            f"{images_path} {images.shape} and {labels_path} {labels.shape} are not a matching "
            "pair of uint8 (N, H, W) images and (N,) labels; use the original Fashion-MNIST files"
        )
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()


def _load_fashion_mnist(location: Path | None, download: bool) -> RawDataset:
    roots = [location] if location is not None else [DEBIAN_FASHION_MNIST, default_data_dir()]
    files = next((found for root in roots if (found := find_fashion_mnist(root))), None)
    if files is None and download:
        from torchvision.datasets import FashionMNIST

        # No network, a proxy or a checksum failure leaves the files missing: reported below.
        with contextlib.suppress(Exception):
            FashionMNIST(str(roots[-1]), train=True, download=True)
        files = find_fashion_mnist(roots[-1])
    if files is None:
        places = " or ".join(str(root) for root in roots)
        tried = "could not be downloaded" if download else "downloading is off"
        raise UserInputError(
            f"Fashion-MNIST not found in {places} and {tried}: run `apt-get install "
            f"dataset-fashion-mnist`, or put {', '.join(f'{s}.gz' for s in FASHION_MNIST_FILES)} "
            "in a folder and pass --data-dir"
        )
    train_images, train_labels = _read_idx_pair(files[0], files[1])
    test_images, test_labels = _read_idx_pair(files[2], files[3])
    return RawDataset(train_images, train_labels, test_images, test_labels)


ArrayReader = Callable[[str, bool, bool], tuple[np.ndarray, np.ndarray]]


def _read_cifar(dataset_class_name: str) -> ArrayReader:
    def read(root: str, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
        import torchvision.datasets

        dataset = getattr(torchvision.datasets, dataset_class_name)(
            root, train=train, download=download
        )
        return np.asarray(dataset.data).transpose(0, 3, 1, 2), np.asarray(dataset.targets)

    return read


def _read_svhn(root: str, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import SVHN

    dataset = SVHN(root, split="train" if train else "test", download=download)
    return np.asarray(dataset.data), np.asarray(dataset.labels)


@dataclass(frozen=True)
class _TorchvisionSource:
    display_name: str
    expected_files: str
    read: ArrayReader


_TORCHVISION_SOURCES = {
    "cifar10": _TorchvisionSource(
        "CIFAR-10",
        "cifar-10-batches-py/ (from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz)",
        _read_cifar("CIFAR10"),
    ),
    "cifar100": _TorchvisionSource(
        "CIFAR-100",
        "cifar-100-python/ (from https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz)",
        _read_cifar("CIFAR100"),
    ),
    "svhn": _TorchvisionSource(
        "SVHN",
        "train_32x32.mat and test_32x32.mat (from http://ufldl.stanford.edu/housenumbers/)",
        _read_svhn,
    ),
}


def torchvision_checksum_failures(name: str, root: Path) -> list[Path]:
    """The files of torchvision dataset ``name`` under ``root`` that exist but fail its MD5."""
    from torchvision.datasets import CIFAR10, CIFAR100, SVHN
    from torchvision.datasets.utils import check_integrity

    if name == "svhn":
        files = [(root / file, md5) for _, file, md5 in SVHN.split_list.values()]
    else:
        cifar = CIFAR10 if name == "cifar10" else CIFAR100
        files = [(root / cifar.base_folder / file, md5)
                 for file, md5 in [*cifar.train_list, *cifar.test_list]]
    return [path for path, md5 in files if path.is_file() and not check_integrity(str(path), md5)]


def _load_torchvision(name: str, root: Path, download: bool) -> RawDataset:
    source = _TORCHVISION_SOURCES[name]

    def read_both(allow_download: bool) -> RawDataset:
        train_images, train_labels = source.read(str(root), True, allow_download)
        test_images, test_labels = source.read(str(root), False, allow_download)
        return RawDataset(
            torch.from_numpy(np.ascontiguousarray(train_images, dtype=np.uint8)),
            torch.from_numpy(train_labels.astype(np.int64)),
            torch.from_numpy(np.ascontiguousarray(test_images, dtype=np.uint8)),
            torch.from_numpy(test_labels.astype(np.int64)),
        )

    def missing(reason: str) -> UserInputError:
        altered = torchvision_checksum_failures(name, root)
        if altered:
            return UserInputError(
                f"{source.display_name} found in {root} but its checksum differs; "
                f"{', '.join(p.name for p in altered)} fail(s) torchvision's MD5 check (a "
                f"truncated or altered copy): extract {source.expected_files} there again"
            )
        return UserInputError(
            f"{source.display_name} not found in {root} and {reason}: put "
            f"{source.expected_files} in {root}, or pass --data-dir"
        )

    try:
        return read_both(allow_download=False)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        if not download:
            raise missing("downloading is off") from exc
    try:
        return read_both(allow_download=True)
    except Exception as exc:  # no network, proxy or checksum failure
        raise missing("could not be downloaded") from exc


def _npz_file(location: Path | None) -> Path:
    usage = "pass the .npz file (x_train, y_train, x_test, y_test) or its folder as --data-dir"
    if location is None:
        raise UserInputError(f"the npz dataset needs a data_dir: {usage}")
    if location.is_dir():
        found = sorted(location.glob("*.npz"))
        if len(found) != 1:
            raise UserInputError(f"{location} holds {len(found)} .npz files, not one: {usage}")
        return found[0]
    if not location.is_file():
        raise UserInputError(f"{location} does not exist: {usage}")
    return location


def _npz_images(array: np.ndarray, key: str, path: Path) -> torch.Tensor:
    if array.dtype != np.uint8:
        raise UserInputError(
            f"{key} in {path} is {array.dtype}, not uint8: store pixels as 0..255 "
            "(e.g. (x * 255).round().astype(np.uint8))"
        )
    if len(array) == 0:
        raise UserInputError(f"{key} in {path} holds no images; store at least one")
    if array.ndim == 3:
        return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(1)
    if array.ndim == 4 and array.shape[-1] <= 4:
        return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))
    raise UserInputError(
        f"{key} in {path} has shape {array.shape}: expected (N, H, W) or channels-last "
        "(N, H, W, C) with C <= 4"
    )


def _npz_labels(array: np.ndarray, key: str, path: Path, count: int) -> torch.Tensor:
    if array.dtype.kind not in "iu" or array.shape != (count,) or (count and array.min() < 0):
        raise UserInputError(
            f"{key} in {path} has shape {array.shape} and dtype {array.dtype}: expected {count} "
            "non-negative integer labels, one per image"
        )
    if count and int(array.max()) >= MAX_CLASSES:
        raise UserInputError(f"{key} in {path} holds label {int(array.max())}; labels must be "
                             f"below {MAX_CLASSES:,} (classes 0..K-1)")
    return torch.from_numpy(array.astype(np.int64))


def _declared_classes(arrays: dict[str, np.ndarray], path: Path) -> int | None:
    """K from the npz's ``classes`` (names) or ``num_classes`` (a count), None if neither."""
    if "classes" in arrays:
        names = arrays["classes"]
        if names.ndim != 1 or len(names) < 2 or names.dtype.kind not in "US":
            raise UserInputError(
                f"classes in {path} has shape {names.shape} and dtype {names.dtype}: store the "
                "class names as a (K,) array of strings with K >= 2"
            )
        return len(names)
    if "num_classes" in arrays:
        count = arrays["num_classes"]
        if (count.shape != () or count.dtype.kind not in "iu"
                or not 2 <= int(count) <= MAX_CLASSES):
            raise UserInputError(
                f"num_classes in {path} is {count!r}: store the number of classes as one "
                f"integer from 2 to {MAX_CLASSES:,}, e.g. num_classes=np.array(10)"
            )
        return int(count)
    return None


def _npz_num_classes(arrays: dict[str, np.ndarray], train_labels: torch.Tensor,
                     test_labels: torch.Tensor, path: Path) -> int:
    """The number of classes K, checked against every label.

    Raises:
        UserInputError: a label >= the declared K, or (undeclared) classes ``0 .. max label``
            that never occur in y_train.
    """
    declared = _declared_classes(arrays, path)
    if declared is not None:
        for key, labels in (("y_train", train_labels), ("y_test", test_labels)):
            if len(labels) and int(labels.max()) >= declared:
                raise UserInputError(
                    f"{key} in {path} holds label {int(labels.max())} but the file declares "
                    f"{declared} classes (labels 0..{declared - 1}); fix the label or the "
                    "classes / num_classes entry"
                )
        return declared
    count = int(torch.cat([train_labels, test_labels]).max()) + 1
    absent = torch.ones(count, dtype=torch.bool)
    absent[train_labels] = False
    if bool(absent.any()):
        missing = absent.nonzero().flatten().tolist()
        shown = ", ".join(str(label) for label in missing[:5]) + (" ..." if len(missing) > 5
                                                                   else "")
        raise UserInputError(
            f"the labels in {path} go up to {count - 1} but {len(missing)} of the classes "
            f"0..{count - 1} never occur in y_train ({shown}): relabel to 0..K-1, or store "
            "num_classes (or classes, the names) in the .npz to declare them"
        )
    if count < 2:
        raise UserInputError(
            f"{path} has one class only (every label is 0); a classifier needs at least two"
        )
    return count


def _load_npz(path: Path) -> RawDataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in (*NPZ_KEYS, *NPZ_CLASS_KEYS)
                      if key in archive.files}
    except EOFError:  # numpy's answer to an empty file
        raise UserInputError(f"{path} is empty, not an .npz file; {NPZ_FORMAT}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserInputError(f"{path} is not a readable .npz file of plain arrays: {exc}") from exc
    absent = [key for key in NPZ_KEYS if key not in arrays]
    if absent:
        raise UserInputError(
            f"{path} lacks {', '.join(absent)}: it needs the arrays {', '.join(NPZ_KEYS)}"
        )
    train_images = _npz_images(arrays["x_train"], "x_train", path)
    test_images = _npz_images(arrays["x_test"], "x_test", path)
    if train_images.shape[1:] != test_images.shape[1:]:
        raise UserInputError(
            f"x_train {tuple(train_images.shape[1:])} and x_test {tuple(test_images.shape[1:])} "
            f"in {path} differ in (C, H, W); use one image shape for both"
        )
    train_labels = _npz_labels(arrays["y_train"], "y_train", path, len(train_images))
    test_labels = _npz_labels(arrays["y_test"], "y_test", path, len(test_images))
    num_classes = _npz_num_classes(arrays, train_labels, test_labels, path)
    return RawDataset(train_images, train_labels, test_images, test_labels, num_classes)
