"""The GAN, style and NAS trainers, each called on a run folder with one bad option: the
folder's lock is the first thing each meets, then it names the bad option (a UserInputError).
Tests of the run-folder lock and of what the trainers do under it call them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def train_gan_zero_iterations(out: Path) -> None:
    from robust_sabn.gan.config import GANConfig
    from robust_sabn.gan.train import train_gan

    train_gan(GANConfig(iterations=0), out)


def train_style_without_images(out: Path) -> None:
    from robust_sabn.style.config import make_config
    from robust_sabn.style.trainer import train_style

    train_style(make_config("cpu", content_dir=str(out / "absent"),
                            style_dir=str(out / "absent")), out)


def search_nas_without_data(out: Path) -> None:
    from robust_sabn.nas.config import SearchConfig
    from robust_sabn.nas.search import run_search

    run_search(SearchConfig(dataset="cifar10", data_dir=str(out / "absent")), out)


TASK_TRAINERS: dict[str, Callable[[Path], None]] = {
    "gan": train_gan_zero_iterations, "style": train_style_without_images,
    "nas": search_nas_without_data}
"""Task name -> its trainer called with a bad option on the given run folder."""
