"""The GAN task's words, torch-free: generator names and labels, the classifier-metric label."""

from __future__ import annotations

GENERATOR_LABELS: dict[str, str] = {"sngan32": "SNGAN", "autogan32": "AutoGAN",
                                    "biggan32": "BigGAN"}
"""Registry name -> label of every generator, in comparison order."""

CONDITIONAL_NORMS: tuple[str, ...] = ("ccbn", "sabn")
"""The generator norms that take the class label."""

REFERENCE_SCHEDULES: tuple[str, ...] = ("constant", "cosine")
"""Learning-rate schedules of the reference classifier: Adam at 1e-3 throughout, or decayed to
0 over the run on a cosine."""

CLASSIFIER_LABEL = "classifier FID / classifier IS (not comparable to Inception numbers)"
"""How every number made with the reference classifier's features is labelled."""

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
    "svhn": tuple(str(digit) for digit in range(10)),
}
"""The class names of the datasets that have them (torchvision's), by label."""


def class_name(dataset: str | None, label: int) -> str:
    """``"3 Dress"`` for a dataset with names, else ``"class 3"``."""
    names = CLASS_NAMES.get(dataset or "", ())
    return f"{label} {names[label]}" if label < len(names) else f"class {label}"
