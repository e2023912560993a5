"""GAN metrics through torchmetrics: FID of a set against itself and a shifted set, Inception
Score at its known extremes, the standard-Inception path from a weights file in torch-fidelity's
format, conditional accuracy and intra-class FID."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from torch import nn

from robust_sabn.errors import UserInputError
from robust_sabn.gan.features import INCEPTION_FILE, InceptionFeatures
from robust_sabn.gan.metrics import (
    check_sample_count,
    evaluate_samples,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift() -> None:
    features = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance(features, features)) < 1e-6
    shifted = frechet_distance(features, features + 0.5)
    torch.testing.assert_close(torch.tensor(shifted), torch.tensor(8 * 0.25), rtol=1e-6,
                               atol=1e-6)  # only the mean moved: FID = |0.5 * 1|^2 over 8 dims
    assert frechet_distance(features, features + 1.0) > shifted


def _poly_mmd(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with the cubic kernel (x.y / D + 1)^3, written out."""
    m, d = len(x), x.shape[1]

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a.double() @ b.double().T / d + 1) ** 3

    within = sum(float(kernel(a, a).sum() - kernel(a, a).diagonal().sum()) for a in (x, y))
    return within / (m * (m - 1)) - 2 * float(kernel(x, y).sum()) / m**2


def test_kid_is_the_unbiased_cubic_kernel_mmd_and_separates_shifted_sets() -> None:
    rng = torch.Generator().manual_seed(0)
    real, fake = torch.randn(30, 6, generator=rng), torch.randn(30, 6, generator=rng) + 0.7
    mean, std = kernel_inception_distance(real, fake, subsets=3, subset_size=30)
    assert mean == pytest.approx(_poly_mmd(real, fake), rel=1e-9)  # every subset is all points
    assert std == pytest.approx(0.0, abs=1e-12)
    same, _ = kernel_inception_distance(real, torch.randn(30, 6, generator=rng))
    assert abs(same) < mean / 5
    again = kernel_inception_distance(real, fake, subsets=5, subset_size=10, seed=3)
    assert again == kernel_inception_distance(real, fake, subsets=5, subset_size=10, seed=3)


@pytest.mark.filterwarnings("ignore:std():UserWarning")
def test_inception_score_extremes() -> None:
    uniform = torch.zeros(100, 10)
    assert inception_score(uniform) == pytest.approx((1.0, 0.0), abs=1e-6)
    confident = 50.0 * torch.eye(10).repeat(10, 1)  # 100 samples, each class 10 times
    mean, _ = inception_score(confident, splits=1)
    assert mean == pytest.approx(10.0, rel=1e-4)


def test_conditional_accuracy_and_intra_fid() -> None:
    rng = torch.Generator().manual_seed(1)
    labels = torch.arange(40) % 2
    real = torch.randn(40, 4, generator=rng) + labels[:, None] * 3.0
    logits = torch.nn.functional.one_hot(labels, 2).float()
    logits[:10] = logits[:10].flip(1)  # 10 of 40 fakes classified as the other class
    result = evaluate_samples(real, logits, labels, real, labels, n_real=40,
                              class_logits=logits, conditional=True)
    assert result["cond_acc"] == pytest.approx(0.75)
    assert abs(result["fid"]) < 1e-6 and abs(result["intra_fid"]) < 1e-6
    assert result["kid"] == pytest.approx(_poly_mmd(real, real), rel=1e-9)
    swapped = evaluate_samples(real, logits, 1 - labels, real, labels, n_real=40,
                               class_logits=logits, conditional=True)
    assert swapped["intra_fid"] > 5.0  # fakes of class k look like class 1 - k
    assert "cond_acc" not in evaluate_samples(real, logits, labels, real, labels, n_real=40,
                                              class_logits=None, conditional=False)


def test_sample_count_above_the_real_set_is_refused() -> None:
    with pytest.raises(UserInputError, match="--n-samples 20000 is above what FID uses"):
        check_sample_count(20000, 10000, 10, "--n-samples")
    with pytest.raises(UserInputError, match="at least 20"):
        check_sample_count(10, 10000, 10, "--n-samples")


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file in torch-fidelity's format (``torch.save`` of the state dict of
    ``FeatureExtractorInceptionV3``), from randomly initialised weights."""
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict",
                      lambda self, state, *a, **k: None)
        net = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / INCEPTION_FILE
    torch.save(net.state_dict(), path)
    return path


def test_standard_inception_path_loads_the_file_and_gives_its_feature_shapes(
        random_inception_weights: Path) -> None:
    extractor = InceptionFeatures(random_inception_weights)
    grey = torch.rand(2, 1, 28, 28) * 2 - 1
    features, logits = extractor.features_and_logits(grey)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(features).all()
    colour_features, _ = extractor.features_and_logits(grey.expand(-1, 3, -1, -1))
    torch.testing.assert_close(colour_features, features)  # grey is repeated to RGB


def test_missing_or_wrong_inception_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="Inception weights not found"):
        InceptionFeatures(tmp_path / "absent.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save(nn.Linear(3, 2).state_dict(), wrong)
    with pytest.raises(UserInputError, match="not torch-fidelity InceptionV3 weights"):
        InceptionFeatures(wrong)
    code = tmp_path / "code.pth"
    torch.save({"fc.weight": Path("x")}, code)  # a pickled object: refused before torch-fidelity
    with pytest.raises(UserInputError, match="cannot read Inception weights"):
        InceptionFeatures(code)
