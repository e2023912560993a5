"""Fake CIFAR-10 files in torchvision's format, for tests that must run without the real set."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch


def write_fake_cifar10(root: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    """torchvision's CIFAR-10 files (pickled dicts), every batch holding ``images`` (N, 3, 32, 32).

    torchvision checks the training batches too before it reads the test batch.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batch = pickle.dumps({"data": images.reshape(len(images), -1).numpy().astype(np.uint8),
                          "labels": labels.tolist()})
    for name in ["test_batch", *(f"data_batch_{i}" for i in range(1, 6))]:
        (folder / name).write_bytes(batch)
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list("abcdefghij")}))
