"""Evaluate a trained generator: load it, pick the feature network, score it, probe during
training.

Feature networks: the standard Inception (``--inception-weights PATH``, else torch hub's cache
when it holds torch-fidelity's file), else the dataset's reference classifier, whose numbers are
labelled :data:`~robust_sabn.gan.features.CLASSIFIER_LABEL`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from robust_sabn.artifacts import load_checkpoint
from robust_sabn.errors import UserInputError
from robust_sabn.gan.features import FeatureExtractor, InceptionFeatures, hub_inception_path
from robust_sabn.gan.generators import Generator
from robust_sabn.gan.metrics import check_sample_count, evaluate_generator, generate
from robust_sabn.gan.models import GANSpec
from robust_sabn.gan.reference import ReferenceClassifier
from robust_sabn.gan.train import Probe, to_signed
from robust_sabn.runs.progress import PhaseProgress, phase


def load_generator(path: str | Path, device: str = "cpu") -> tuple[Generator, dict[str, Any]]:
    """The (EMA) generator of a GAN checkpoint (``generator.pt`` or ``last.pt``), in eval mode.

    Raises:
        UserInputError: unreadable file, or a checkpoint that holds no generator.
    """
    ckpt = load_checkpoint(path, map_location=device)
    model = ckpt.get("model")
    if not isinstance(model, dict) or model.get("family") != "generator":
        raise UserInputError(f"{path} holds no GAN generator; give generator.pt of a "
                             "robust-sabn gan train run")
    generator = GANSpec.from_dict(model).build_generator()
    try:
        generator.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise UserInputError(f"weights in {path} do not fit its generator spec: "
                             f"{str(exc).splitlines()[0][:160]}") from exc
    return generator.to(device).eval(), ckpt


def inception_extractor(weights: str | Path | None, device: str = "cpu"
                        ) -> InceptionFeatures | None:
    """The standard Inception from ``weights``, else from the torch hub cache, else None."""
    if weights is not None:
        return InceptionFeatures(weights, device)
    cached = hub_inception_path()
    return InceptionFeatures(cached, device) if cached.is_file() else None


def classifier_probe(reference: ReferenceClassifier, n_samples: int, seed: int = 12345
                     ) -> Probe:
    """A training probe: classifier FID and IS of ``n_samples`` EMA-generator fakes (fixed
    latents, so probes along a run and across resumes are comparable), and for a conditional
    generator the fraction the classifier assigns to their label (``probe_cond_acc``)."""
    num_classes = int(reference.real_labels.max()) + 1
    check_sample_count(n_samples, len(reference.real_labels), num_classes, "probe_samples")

    def probe(generator: nn.Module) -> dict[str, float]:
        scores = evaluate_generator(generator, reference.extractor, reference.real_features,
                                    reference.real_labels, n_samples=n_samples, seed=seed)
        row = {"probe_fid": scores["fid"], "probe_is": scores["is_mean"]}
        if "cond_acc" in scores:
            row["probe_cond_acc"] = scores["cond_acc"]
        return row

    return probe


def evaluate_checkpoint(path: str | Path, reference: ReferenceClassifier, *, n_samples: int,
                        seed: int = 0, inception: InceptionFeatures | None = None,
                        device: str = "cpu", data_dir: str | None = None,
                        progress: PhaseProgress | None = None) -> dict[str, Any]:
    """Score the generator in ``path``: FID/KID/IS with Inception when given, else the reference
    classifier; conditional accuracy and intra-FID always with the reference classifier.
    ``progress`` shows each phase (real features, generation, fake features, scores).

    Returns ``{"features": "inception"|"classifier", "n_samples", "metrics": {...}}``.
    """
    generator, _ = load_generator(path, device)
    check_sample_count(n_samples, len(reference.real_labels), generator.num_classes,
                       "--n-samples")
    extractor: FeatureExtractor = inception if inception is not None else reference.extractor
    real_labels = reference.real_labels
    if inception is not None:
        with phase(progress, f"Inception features of {n_samples} real test images"):
            test_images = _real_test_images(reference.dataset, n_samples, data_dir)
            real_features, _ = inception.features_and_logits(test_images)
        real_labels = real_labels[:n_samples]
    else:
        real_features = reference.real_features
    metrics = evaluate_generator(generator, extractor, real_features, real_labels,
                                 n_samples=n_samples, seed=seed, classifier=reference.extractor,
                                 progress=progress)
    return {"features": extractor.kind, "n_samples": n_samples, "metrics": metrics,
            "reference_test_accuracy": reference.test_accuracy}


def _real_test_images(dataset: str, n: int, data_dir: str | None) -> torch.Tensor:
    from robust_sabn.data import load_split

    return to_signed(load_split(dataset, "test", data_dir=data_dir, max_examples=n).images)


def sample_grid(generator: Generator, classes: list[int], per_class: int, output: str | Path,
                seed: int = 0, dataset: str | None = None) -> Path:
    """Write a PNG grid with one row per class in ``classes``, ``per_class`` samples each, every
    sample at least 64 pixels wide and the class names (of ``dataset``) beside the rows.

    Raises:
        UserInputError: a plain-BN (unconditional) generator, or a class out of range.
    """
    from robust_sabn.gan.names import class_name
    from robust_sabn.gan.plots import labelled_grid

    _check_classes(generator, classes)
    if per_class < 1:
        raise UserInputError(f"-n must be at least 1, got {per_class}")
    rows = [generate(generator, per_class, seed=seed + k, classes=[k])[0] for k in classes]
    return labelled_grid((torch.cat(rows) + 1) / 2, [class_name(dataset, k) for k in classes],
                         output)


def _check_classes(generator: Generator, classes: list[int]) -> None:
    if not generator.conditional:
        raise UserInputError(f"this generator uses norm {generator.norm!r}, which ignores the "
                             "class; class-conditional sampling needs a ccbn or sabn generator")
    bad = [k for k in classes if not 0 <= k < generator.num_classes]
    if bad:
        raise UserInputError(f"classes {bad} out of range; this generator has classes "
                             f"0..{generator.num_classes - 1}")


def dump_samples(generator: Generator, folder: str | Path, n: int, *, seed: int = 0,
                 batch_size: int = 250) -> list[tuple[str, int]]:
    """Write ``n`` generated images to ``folder`` as PNG files ``000000.png`` ... (RGB, 8 bit,
    the generator's resolution), classes balanced as in FID, and ``labels.csv`` (file,label):
    what ``fidelity --input1 FOLDER`` of torch-fidelity scores.

    Returns:
        (file name, label) of every image, in order.
    """
    from torchvision.utils import save_image

    if n < 1:
        raise UserInputError(f"-n must be at least 1, got {n}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, int]] = []
    width = max(6, len(str(n - 1)))
    images, labels = generate(generator, n, seed=seed, batch_size=batch_size)
    for index, (image, label) in enumerate(zip((images + 1) / 2, labels.tolist(), strict=True)):
        name = f"{index:0{width}d}.png"
        save_image(image.expand(3, -1, -1), folder / name)
        written.append((name, int(label)))
    (folder / "labels.csv").write_text(
        "file,label\n" + "".join(f"{name},{label}\n" for name, label in written))
    return written
