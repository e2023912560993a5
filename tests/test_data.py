"""Data: IDX parsing, dataset loading and splits, npz arrays, batches and augmentation."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from robust_sabn.attacks.defaults import AttackDefaults, attack_defaults
from robust_sabn.data import (
    ImageTensors,
    get_dataset_info,
    iterate_batches,
    list_datasets,
    load_split,
    random_crop_flip,
    read_idx,
)
from robust_sabn.errors import UserInputError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray, *, gzipped: bool, magic: bytes | None = None) -> None:
    """Write a uint8 array as an IDX file (magic 00 00 08 ndim, big-endian sizes)."""
    header = magic or bytes([0, 0, 0x08, array.ndim])
    payload = header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(payload) if gzipped else payload)


def write_npz(path: Path, *, channels_last: bool, train: int = 40, test: int = 12) -> dict:
    rng = np.random.default_rng(0)
    shape = (6, 5, 3) if channels_last else (6, 5)
    arrays = {
        "x_train": rng.integers(0, 256, (train, *shape), dtype=np.uint8),
        "y_train": np.arange(train) % 4,
        "x_test": rng.integers(0, 256, (test, *shape), dtype=np.uint8),
        "y_test": np.arange(test) % 4,
    }
    np.savez(path, **arrays)
    return arrays


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_roundtrip(tmp_path: Path, gzipped: bool) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("images.gz" if gzipped else "images")
    write_idx(path, array, gzipped=gzipped)
    read = read_idx(path)
    assert read.shape == (2, 3, 4) and read.dtype == np.uint8
    np.testing.assert_array_equal(read, array)


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path: Path) -> None:
    array = np.zeros((2, 3), dtype=np.uint8)
    bad = tmp_path / "bad"
    write_idx(bad, array, gzipped=False, magic=b"\x00\x01\x08\x02")
    with pytest.raises(UserInputError, match="not an IDX file"):
        read_idx(bad)
    truncated = tmp_path / "truncated.gz"
    write_idx(truncated, array, gzipped=True)
    truncated.write_bytes(gzip.compress(gzip.decompress(truncated.read_bytes())[:-1]))
    with pytest.raises(UserInputError, match="needs 6"):
        read_idx(truncated)


def test_fashion_mnist_from_debian_package() -> None:
    assert DEBIAN_FASHION_MNIST.is_dir(), "install Debian's dataset-fashion-mnist (see .ci/run)"
    train = load_split("fashion-mnist", "train", download=False)
    val = load_split("fashion-mnist", "val", download=False)
    test = load_split("fashion-mnist", "test", download=False)
    assert train.images.shape == (55000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert val.images.shape == (5000, 1, 28, 28)
    assert test.images.shape == (10000, 1, 28, 28)
    for split in (train, val, test):
        assert split.labels.dtype == torch.int64
        assert set(split.labels.tolist()) == set(range(10))
    # The official test set has 1000 images per class.
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_fashion_mnist_from_torchvision_raw_layout(tmp_path: Path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(8 * 28 * 28, dtype=np.int64).reshape(8, 28, 28).astype(np.uint8)
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7], dtype=np.uint8)
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, gzipped=False)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, gzipped=False)
    test = load_split("fashion-mnist", "test", data_dir=tmp_path, download=False)
    assert torch.equal(test.images[:, 0], torch.from_numpy(images))
    assert test.labels.tolist() == list(range(8))
    train = load_split("fashion-mnist", "train", data_dir=tmp_path, val_size=2, download=False)
    assert len(train) == 6
    with pytest.raises(UserInputError, match="pass a val_size from 0 to 7"):
        load_split("fashion-mnist", "train", data_dir=tmp_path, download=False)


def test_missing_fashion_mnist_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as caught:
        load_split("fashion-mnist", "train", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert "apt-get install dataset-fashion-mnist" in message and str(tmp_path) in message


def test_missing_cifar10_gives_one_line_with_what_and_where(tmp_path: Path) -> None:
    with pytest.raises(UserInputError) as caught:
        load_split("cifar10", "test", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"CIFAR-10 not found in {tmp_path}")
    assert "cifar-10-batches-py/" in message and "--data-dir" in message


def test_a_cifar10_folder_failing_torchvisions_md5_is_found_but_altered(tmp_path: Path) -> None:
    from fake_cifar import write_fake_cifar10

    write_fake_cifar10(tmp_path, torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
                       torch.tensor([0, 1]))
    with pytest.raises(UserInputError) as caught:
        load_split("cifar10", "test", data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"CIFAR-10 found in {tmp_path} but its checksum differs; "
                              "data_batch_1, data_batch_2, data_batch_3, data_batch_4, "
                              "data_batch_5, test_batch fail(s) torchvision's MD5 check")
    assert message.endswith("extract cifar-10-batches-py/ (from "
                            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz) there again")


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(UserInputError, match="cifar10, cifar100, fashion-mnist, svhn, npz"):
        get_dataset_info("mnist")
    with pytest.raises(UserInputError, match="choose one of train, val, test"):
        load_split("fashion-mnist", "validation")
    assert list_datasets() == ["cifar10", "cifar100", "fashion-mnist", "svhn", "npz"]


def test_dataset_info_defaults() -> None:
    cifar = get_dataset_info("cifar10")
    assert attack_defaults("cifar10") == AttackDefaults(8 / 255, 2 / 255, 7)
    assert attack_defaults("npz") == attack_defaults("cifar100")
    assert attack_defaults("fashion-mnist").eps == 0.1
    assert cifar.val_size == 5000 and cifar.augment_pad == 4 and cifar.augment_flip
    assert get_dataset_info("cifar100").num_classes == 100
    svhn = get_dataset_info("svhn")
    assert attack_defaults("svhn").step_size == 1 / 255 and not svhn.augment_flip
    fmnist = get_dataset_info("fashion-mnist")
    assert (fmnist.in_channels, fmnist.image_size, fmnist.mean) == (1, (28, 28), (0.2860,))
    assert fmnist.augment_pad == 2 and not fmnist.augment_flip


@pytest.mark.parametrize("channels_last", [False, True])
def test_npz_roundtrip(tmp_path: Path, channels_last: bool) -> None:
    arrays = write_npz(tmp_path / "mine.npz", channels_last=channels_last)
    # The folder holding one .npz works as well as the file itself.
    test = load_split("npz", "test", data_dir=tmp_path)
    expected = arrays["x_test"] if channels_last else arrays["x_test"][..., None]
    assert torch.equal(test.images, torch.from_numpy(expected).permute(0, 3, 1, 2))
    assert test.labels.tolist() == arrays["y_test"].tolist()
    train = load_split("npz", "train", data_dir=tmp_path / "mine.npz")
    val = load_split("npz", "val", data_dir=tmp_path / "mine.npz")
    assert (len(train), len(val)) == (36, 4)  # 10% held out
    assert torch.equal(train.images, torch.from_numpy(expected_train(arrays))[train.indices])
    info = get_dataset_info("npz", data_dir=tmp_path)
    channels = 3 if channels_last else 1
    assert (info.num_classes, info.in_channels, info.image_size) == (4, channels, (6, 5))
    pixels = expected_train(arrays).astype(np.float64) / 255
    np.testing.assert_allclose(info.mean, pixels.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(info.std, pixels.std(axis=(0, 2, 3)), rtol=1e-9)


def expected_train(arrays: dict) -> np.ndarray:
    images = arrays["x_train"]
    return (images[..., None] if images.ndim == 3 else images).transpose(0, 3, 1, 2)


def test_npz_bad_arrays_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((4, 3, 8, 8), dtype=np.uint8), y_train=np.zeros(4))
    with pytest.raises(UserInputError, match="lacks x_test, y_test"):
        load_split("npz", "test", data_dir=path)
    np.savez(path, x_train=np.zeros((4, 3, 8, 8), dtype=np.uint8), y_train=np.zeros(4, int),
             x_test=np.zeros((2, 3, 8, 8), dtype=np.uint8), y_test=np.zeros(2, int))
    with pytest.raises(UserInputError, match=r"channels-last \(N, H, W, C\) with C <= 4"):
        load_split("npz", "test", data_dir=path)
    with pytest.raises(UserInputError, match="needs a data_dir"):
        load_split("npz", "test")


def test_val_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    write_npz(tmp_path / "d.npz", channels_last=False, train=200)

    def indices(split: str, seed: int) -> list[int]:
        data = load_split("npz", split, data_dir=tmp_path, seed=seed, val_size=50)
        assert data.indices is not None
        return data.indices.tolist()

    val0, train0 = indices("val", 0), indices("train", 0)
    assert val0 == indices("val", 0)
    assert len(val0) == 50 and len(train0) == 150
    assert not set(val0) & set(train0) and set(val0) | set(train0) == set(range(200))
    assert set(indices("val", 1)) != set(val0)


def test_max_examples_takes_the_first_of_the_split_order(tmp_path: Path) -> None:
    write_npz(tmp_path / "d.npz", channels_last=True, train=100, test=30)
    full = load_split("npz", "train", data_dir=tmp_path, seed=3)
    few = load_split("npz", "train", data_dir=tmp_path, seed=3, max_examples=7)
    assert torch.equal(few.images, full.images[:7]) and torch.equal(few.labels, full.labels[:7])
    test = load_split("npz", "test", data_dir=tmp_path, max_examples=5)
    assert test.indices is not None and test.indices.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(UserInputError, match="at least 1"):
        load_split("npz", "test", data_dir=tmp_path, max_examples=0)


def pattern_set(count: int, name: str, **augment: object) -> ImageTensors:
    """``count`` copies of an 8x8 image with distinct pixel values 1..64 (no symmetry)."""
    image = torch.arange(1, 65, dtype=torch.uint8).reshape(1, 1, 8, 8)
    return ImageTensors(
        images=image.repeat(count, 2, 1, 1), labels=torch.zeros(count, dtype=torch.int64),
        name=name, **augment,
    )


def shift_of(output: torch.Tensor, image: torch.Tensor, pad: int) -> set[tuple[int, int, bool]]:
    """Every (dy, dx, flipped) for which ``output`` is ``image`` moved by (dy, dx) with zero fill
    (then mirrored if flipped)."""
    height, width = image.shape[-2:]
    padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    found = set()
    for oy in range(2 * pad + 1):
        for ox in range(2 * pad + 1):
            crop = padded[..., oy : oy + height, ox : ox + width]
            for flipped in (False, True):
                if torch.equal(output, crop.flip(-1) if flipped else crop):
                    found.add((pad - oy, pad - ox, flipped))
    return found


def test_crop_with_padding_shifts_content_and_flip_follows_the_dataset() -> None:
    data = pattern_set(300, "cifar10", augment_pad=1)
    assert data.augment_flip  # CIFAR's standard
    x, _ = next(iterate_batches(data, 300, shuffle=False, augment=True,
                                generator=torch.Generator().manual_seed(0)))
    image = data.images[0].float() / 255
    seen = set()
    for output in x:
        matches = shift_of(output, image, pad=1)
        assert len(matches) == 1
        seen |= matches
    assert seen == {(dy, dx, f) for dy in (-1, 0, 1) for dx in (-1, 0, 1) for f in (False, True)}

    no_flip = pattern_set(100, "fashion-mnist")
    assert (no_flip.augment_pad, no_flip.augment_flip) == (2, False)
    x, _ = next(iterate_batches(no_flip, 100, shuffle=False, augment=True,
                                generator=torch.Generator().manual_seed(0)))
    flips = {match[2] for output in x for match in shift_of(output, image, pad=2)}
    assert flips == {False}


def test_augmented_batches_are_reproducible_and_in_range(tmp_path: Path) -> None:
    write_npz(tmp_path / "d.npz", channels_last=True, train=100)
    data = load_split("npz", "train", data_dir=tmp_path)

    def epoch(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(seed)
        return list(iterate_batches(data, 32, shuffle=True, augment=True, generator=generator))

    first, again, other = epoch(0), epoch(0), epoch(1)
    assert [len(y) for _, y in first] == [32, 32, 26]
    for (x, y), (x2, y2) in zip(first, again, strict=True):
        assert x.dtype == torch.float32 and x.shape == (len(y), 3, 6, 5)
        assert 0 <= x.min() and x.max() <= 1
        assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(first[0][0], other[0][0])


def test_plain_batches_are_the_images_in_order() -> None:
    data = pattern_set(10, "svhn")
    batches = list(iterate_batches(data, 4, shuffle=False, augment=False, drop_last=True))
    assert [len(y) for _, y in batches] == [4, 4]
    x = torch.cat([x for x, _ in batches])
    assert torch.equal(x, data.images[:8].float() / 255)


def test_random_crop_flip_without_padding_only_mirrors() -> None:
    images = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 1, 3, 4)
    out = random_crop_flip(images.repeat(50, 1, 1, 1), pad=0, flip=True,
                           generator=torch.Generator().manual_seed(0))
    for got, source in zip(out, images.repeat(50, 1, 1, 1), strict=True):
        assert torch.equal(got, source) or torch.equal(got, source.flip(-1))
    assert any(not torch.equal(g, s) for g, s in zip(out, images.repeat(50, 1, 1, 1), strict=True))


def test_rewritten_npz_is_read_again(tmp_path: Path) -> None:
    write_npz(tmp_path / "d.npz", channels_last=False, train=20, test=3)
    assert len(load_split("npz", "test", data_dir=tmp_path)) == 3
    write_npz(tmp_path / "d.npz", channels_last=False, train=20, test=5)
    assert len(load_split("npz", "test", data_dir=tmp_path)) == 5
