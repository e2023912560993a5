"""The reference classifier: trained once per dataset, cached, and used for classifier FID/IS
and class-conditional accuracy when the standard Inception weights are not on the machine.

Cache file (a robust-sabn checkpoint): ``{"model": ModelSpec, "state_dict": ...,
"dataset": ..., "test_accuracy": float, "real_features": (N, D), "real_labels": (N,)}`` where the
real features are of the first ``N`` test images (what FID compares against).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from robust_sabn.artifacts import ModelSpec, load_model, save_checkpoint
from robust_sabn.data import get_dataset_info, iterate_batches, load_split
from robust_sabn.errors import UserInputError
from robust_sabn.gan.features import ClassifierFeatures
from robust_sabn.gan.metrics import frechet_distance, inception_score
from robust_sabn.gan.names import REFERENCE_SCHEDULES
from robust_sabn.gan.train import to_signed

REFERENCE_MODEL = "small_cnn"
REFERENCE_BATCH = 128


def train_reference_classifier(dataset: str, path: str | Path, *, data_dir: str | None = None,
                               seed: int = 0, epochs: int = 3, width: int = 32,
                               max_train_examples: int | None = None,
                               real_examples: int = 10_000, real_samples: int = 2000,
                               schedule: str = "constant", augment: bool = True,
                               device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """Train ``small_cnn`` (plain BN) with cross-entropy and Adam (lr 1e-3, ``schedule`` one of
    :data:`~robust_sabn.gan.names.REFERENCE_SCHEDULES`; ``augment``: the dataset's random
    crop/flip), cache it with its test accuracy and the features of the first ``real_examples``
    test images; returns the cache's summary.

    The summary also holds the scores of real images, the scale a generator's numbers are read
    against: ``real_is``, the classifier IS of the first ``real_samples`` test images, and
    ``real_fid``, the classifier FID between them and the next ``real_samples``. ``progress``
    shows a bar over the training steps with the loss, and a line per epoch, on stderr."""
    from robust_sabn.runs.progress import IterationProgress

    if schedule not in REFERENCE_SCHEDULES:
        raise UserInputError(f"unknown reference schedule {schedule!r}; choose one of "
                             f"{', '.join(REFERENCE_SCHEDULES)}")
    info = get_dataset_info(dataset, data_dir=data_dir)
    spec = ModelSpec(name=REFERENCE_MODEL, norm="bn", num_classes=info.num_classes,
                     in_channels=info.in_channels, mean=tuple(info.mean), std=tuple(info.std),
                     kwargs={"width": width})
    train = load_split(dataset, "train", data_dir=data_dir, seed=seed, val_size=0,
                       max_examples=max_train_examples)
    test = load_split(dataset, "test", data_dir=data_dir)
    torch.manual_seed(seed)
    model = spec.build().to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(seed)
    steps = len(train) // REFERENCE_BATCH
    decay = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps)
             if schedule == "cosine" else None)
    with IterationProgress("reference step", epochs * steps, 0, not progress) as display:
        last_loss = float("nan")
        for epoch in range(epochs):
            for x, y in iterate_batches(train, REFERENCE_BATCH, shuffle=True, augment=augment,
                                        generator=rng, device=device, drop_last=True):
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if decay is not None:
                    decay.step()
                last_loss = loss.item()
                display.advance(f"epoch {epoch + 1}/{epochs}  loss {last_loss:.3f}")
            display.note(f"epoch {epoch + 1}/{epochs}: last loss {last_loss:.4f}")
        extractor = ClassifierFeatures(model.eval())
        features, logits = extractor.features_and_logits(to_signed(test.images))
    accuracy = float((logits.argmax(1) == test.labels).float().mean())
    n_real = min(real_examples, len(test))
    save_checkpoint(path, {
        "model": spec.to_dict(), "state_dict": model.state_dict(), "dataset": dataset,
        "test_accuracy": accuracy, "train_examples": len(train), "epochs": epochs,
        "schedule": schedule, "augment": augment,
        "real_features": features[:n_real].contiguous(), "real_labels": test.labels[:n_real]})
    n = min(real_samples, len(test) // 2)
    return {"dataset": dataset, "test_accuracy": accuracy, "train_examples": len(train),
            "epochs": epochs, "schedule": schedule, "augment": augment, "real_examples": n_real,
            "path": str(path), "real_samples": n,
            "real_is": inception_score(logits[:n])[0],
            "real_fid": frechet_distance(features[:n], features[n:2 * n])}


class ReferenceClassifier:
    """A cached reference classifier: its extractor, test accuracy and real test features.

    Raises:
        UserInputError: the file is not a reference-classifier cache, or for another dataset.
    """

    def __init__(self, path: str | Path, dataset: str | None = None,
                 device: str = "cpu") -> None:
        model, ckpt = load_model(path, map_location=device)
        if "real_features" not in ckpt or "test_accuracy" not in ckpt:
            raise UserInputError(f"{path} is a checkpoint but not a reference-classifier cache; "
                                 "make one with robust-sabn gan reference")
        if dataset is not None and ckpt.get("dataset") != dataset:
            raise UserInputError(f"{path} is the reference classifier of {ckpt.get('dataset')}, "
                                 f"not {dataset}; give the one for {dataset}")
        self.path = Path(path)
        self.dataset: str = ckpt["dataset"]
        self.extractor = ClassifierFeatures(model)
        self.test_accuracy = float(ckpt["test_accuracy"])
        self.real_features: torch.Tensor = ckpt["real_features"]
        self.real_labels: torch.Tensor = ckpt["real_labels"]
