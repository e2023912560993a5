"""FID, KID, Inception Score, class-conditional accuracy and intra-class FID of a generator.

The FID, KID and IS math is torchmetrics' (``FrechetInceptionDistance``,
``KernelInceptionDistance``, ``InceptionScore``), fed with features computed once per image set
by a :class:`~robust_sabn.gan.features.FeatureExtractor`; KID takes the same features as FID.
The metrics never synchronise over a process group (``sync_on_compute=False``): in a
data-parallel run rank 0 alone probes, and its features are the whole sample.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from robust_sabn.errors import UserInputError
from robust_sabn.gan.features import FeatureExtractor
from robust_sabn.runs.progress import PhaseProgress, phase

IS_SPLITS = 10
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
"""torch-fidelity's and torchmetrics' defaults: the mean of 100 subset MMDs of 1000 points."""


class _Precomputed(nn.Module):
    """Identity "network" so torchmetrics consumes features we already computed."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between feature sets real (N, D) and fake (M, D), N, M >= 2 (torchmetrics, float64)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]), normalize=True,
                                      sync_on_compute=False)
    metric.set_dtype(torch.float64)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kernel_inception_distance(real: Tensor, fake: Tensor, *, subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE, seed: int = 0
                              ) -> tuple[float, float]:
    """(mean, std) of KID between feature sets real (N, D) and fake (M, D) (torchmetrics):
    the unbiased MMD^2 with the kernel ``(x.y / D + 1)^3`` over ``subsets`` random subsets of
    ``min(subset_size, N, M)`` points of each set, drawn with ``seed``; float64."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=_Precomputed(real.shape[1]), subsets=subsets,
                                         subset_size=size, sync_on_compute=False)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def inception_score(logits: Tensor, splits: int = IS_SPLITS, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the Inception Score of logits (N, K) over ``splits`` (torchmetrics); the
    split shuffle is seeded."""
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = InceptionScore(feature=_Precomputed(logits.shape[1]), splits=splits,
                                sync_on_compute=False)
    metric.update(logits.double())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


@torch.no_grad()
def generate(generator: nn.Module, n: int, *, seed: int, batch_size: int = 250,
             classes: list[int] | None = None) -> tuple[Tensor, Tensor]:
    """``n`` images (n, C, H, W) in [-1, 1] from ``generator`` in eval mode, and their labels.

    Labels cycle through ``classes`` (default all), so every class gets ``n / K`` samples;
    latents come from a CPU generator seeded with ``seed``.
    """
    device = next(generator.parameters()).device
    classes = classes if classes is not None else list(range(generator.num_classes))
    rng = torch.Generator().manual_seed(seed)
    labels = torch.tensor(classes)[torch.arange(n) % len(classes)]
    z = torch.randn(n, generator.latent_dim, generator=rng)
    was_training = generator.training
    generator.eval()
    try:
        images = [generator(zc.to(device), yc.to(device)).cpu()
                  for zc, yc in zip(z.split(batch_size), labels.split(batch_size), strict=True)]
    finally:
        generator.train(was_training)
    return torch.cat(images), labels


def check_sample_count(n_samples: int, n_real: int, num_classes: int, option: str) -> None:
    """Raise UserInputError unless ``2 * num_classes <= n_samples <= n_real``: FID compares
    equal-size sets against ``n_real`` real images, intra-class FID needs 2 per class."""
    if n_samples > n_real:
        raise UserInputError(f"{option} {n_samples} is above what FID uses: it compares against "
                             f"{n_real} real test images; pass {option} {n_real} or less")
    if n_samples < 2 * num_classes:
        raise UserInputError(f"{option} {n_samples} is too small; pass at least "
                             f"{2 * num_classes} (2 per class)")


def evaluate_samples(fake_features: Tensor, fake_logits: Tensor, fake_labels: Tensor,
                     real_features: Tensor, real_labels: Tensor, *, n_real: int,
                     class_logits: Tensor | None, conditional: bool) -> dict[str, float]:
    """FID, KID (mean/std), IS (mean/std) and, for a conditional generator, conditional
    accuracy and intra-FID.

    Args:
        fake_features, fake_logits: extractor outputs on the fakes, (M, D) and (M, K').
        fake_labels: the labels the fakes were generated for, (M,).
        real_features, real_labels: extractor features (N, D) of real test images and their
            labels; FID and KID use the first ``n_real``, intra-FID every real image of each class
            (the mean over classes with at least 2 real and 2 fake images).
        class_logits: the reference classifier's logits on the fakes (M, K) for conditional
            accuracy (share of class-k fakes it calls k); None skips it.
        conditional: whether labels mean anything (CCBN/SaBN); intra-FID only then.
    """
    is_mean, is_std = inception_score(fake_logits)
    kid_mean, kid_std = kernel_inception_distance(real_features[:n_real], fake_features)
    result = {"fid": frechet_distance(real_features[:n_real], fake_features),
              "kid": kid_mean, "kid_std": kid_std, "is_mean": is_mean, "is_std": is_std}
    if not conditional:
        return result
    if class_logits is not None:
        result["cond_acc"] = float((class_logits.argmax(1) == fake_labels).float().mean())
    per_class = [
        frechet_distance(real_features[real_labels == k], fake_features[fake_labels == k])
        for k in torch.unique(fake_labels).tolist()
        if int((real_labels == k).sum()) >= 2 and int((fake_labels == k).sum()) >= 2
    ]
    if per_class:
        result["intra_fid"] = sum(per_class) / len(per_class)
    return result


def evaluate_generator(generator: nn.Module, extractor: FeatureExtractor,
                       real_features: Tensor, real_labels: Tensor, *, n_samples: int,
                       seed: int, classifier: FeatureExtractor | None = None,
                       progress: PhaseProgress | None = None) -> dict[str, float]:
    """Generate ``n_samples`` (classes balanced) and score them with :func:`evaluate_samples`:
    FID and KID against the first ``n_samples`` real test features (equal-size sets),
    intra-FID against all real features of each class. ``progress`` shows the three phases."""
    with phase(progress, f"generate {n_samples} fakes"):
        images, labels = generate(generator, n_samples, seed=seed)
    with phase(progress, f"{extractor.kind} features of the fakes"):
        feats, logits = extractor.features_and_logits(images)
        if classifier is None or classifier is extractor:
            class_logits = logits if extractor.kind == "classifier" else None
        else:
            class_logits = classifier.features_and_logits(images)[1]
    with phase(progress, "FID, KID, IS, intra-FID"):
        return evaluate_samples(feats, logits, labels, real_features, real_labels,
                                n_real=n_samples, class_logits=class_logits,
                                conditional=bool(getattr(generator, "conditional", False)))
