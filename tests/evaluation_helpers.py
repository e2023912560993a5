"""A tiny trained two-branch classifier on synthetic 8x8 images, for attack and evaluation tests.

Class c (0-9) is a bright 2x2 patch at one of ten places on a grey, noisy background, so a width-4
``small_cnn`` learns it in well under a second and keeps a non-trivial robust accuracy at
eps = 0.05.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.adversarial.record import branch_results, settings_of
from robust_sabn.artifacts import ModelSpec, save_checkpoint
from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.models import create_model


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread() -> Iterator[None]:
    """Run a module's tests on one torch thread, then restore the count.

    These tensors are tiny: a second thread only adds synchronisation, and on a busy machine
    its spin-waits made AutoAttack 30x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class SyntheticSplit:
    """Shaped like ``robust_sabn.data.ImageTensors``: uint8 (N, 1, 8, 8) images, (N,) labels."""

    images: Tensor
    labels: Tensor
    name: str = "synthetic"


def synthetic_images(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """(n, 1, 8, 8) float images in [0, 1] and (n,) labels in 0..9."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = 0.35 + 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    rows, cols = (labels // 4) * 2 + 1, (labels % 4) * 2
    for i in range(n):
        images[i, 0, rows[i]:rows[i] + 2, cols[i]:cols[i] + 2] = 0.9
    return images, labels


def synthetic_split(n: int, seed: int = 1) -> SyntheticSplit:
    """A uint8 split of :func:`synthetic_images`."""
    images, labels = synthetic_images(n, seed)
    return SyntheticSplit(images.mul(255).round().to(torch.uint8), labels)


def train_tiny_model(norm: str = "saauxbn", steps: int = 60,
                     data: tuple[Tensor, Tensor] | None = None) -> nn.Module:
    """A width-4 small_cnn trained with Adam on clean images (both branches), in eval mode.

    ``data`` is (float images (N, 1, H, W) in [0, 1], labels (N,)); default 512 synthetic ones.
    """
    torch.manual_seed(0)
    model = create_model("small_cnn", width=4, in_channels=1, norm=norm)
    images, labels = synthetic_images(512, seed=0) if data is None else data
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    branches = ("clean", "adv") if norm != "bn" else (None,)
    for _ in range(steps):
        idx = torch.randint(0, len(labels), (64,))
        loss = sum(F.cross_entropy(model(images[idx], branch=b), labels[idx]) for b in branches)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def tiny_npz_checkpoint(folder: Path) -> Path:
    """``folder/tiny.pt``: :func:`train_tiny_model` as a checkpoint on dataset ``npz``, whose
    ``folder/synthetic.npz`` holds 20 :func:`synthetic_split` images as train and test set (give
    ``folder`` as the data dir)."""
    data = synthetic_split(20)
    images = data.images[:, 0].numpy()
    np.savez(folder / "synthetic.npz", x_train=images, y_train=data.labels.numpy(),
             x_test=images, y_test=data.labels.numpy(), num_classes=10)
    spec = ModelSpec("small_cnn", "saauxbn", 10, 1, kwargs={"width": 4})
    return save_checkpoint(folder / "tiny.pt", {"model": spec.to_dict(), "dataset": "npz",
                                                "state_dict": train_tiny_model().state_dict()})


def flat(record: ResultRecord) -> dict[str, Any]:
    """An evaluation record as one flat dict for assertions: ``subject`` and
    ``extras["settings"]`` merged, ``branches`` from
    :func:`robust_sabn.adversarial.record.branch_results` with each branch's ``time_s``, and
    ``kind``, ``wall_time_s`` and the provenance fields."""
    times = record.extras.get("time_s") or {}
    branches = {b: {**entry, **({"time_s": times[b]} if b in times else {})}
                for b, entry in branch_results(record).items()}
    return {**record.subject, **settings_of(record), "kind": record.kind,
            "wall_time_s": record.provenance.wall_time_s,
            **record.provenance.model_dump(exclude={"wall_time_s"}), "branches": branches}
