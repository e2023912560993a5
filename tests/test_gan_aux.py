"""The AC-GAN option (``aux_weight``): the discriminator's classifier head, the losses as hinge
plus the weighted cross-entropy (recomputed by hand on copies of the networks), its checks;
the conditional-accuracy probe; the reference classifier's schedule and augmentation options."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from test_gan_train import FASHION_MNIST, tiny_config

from robust_sabn.data import load_split
from robust_sabn.errors import UserInputError
from robust_sabn.gan.evaluate import classifier_probe
from robust_sabn.gan.models import GANSpec
from robust_sabn.gan.reference import ReferenceClassifier, train_reference_classifier
from robust_sabn.gan.train import (
    RealBatches,
    gan_iteration,
    iteration_generator,
    sample_latents,
    spec_for,
)

WEIGHT = 0.7


def _adam(module: torch.nn.Module, config) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=config.lr_d,
                            betas=(config.beta1, config.beta2))


def test_losses_are_hinge_plus_the_weighted_cross_entropy() -> None:
    config = tiny_config(norm="ccbn", aux_weight=WEIGHT, n_critic=1, d_batch=8, g_batch=8,
                         device="cpu")
    spec = spec_for(config)
    assert spec.aux_classifier
    torch.manual_seed(0)
    g, d = spec.build_generator(), spec.build_discriminator()
    g_copy, d_copy, d_before = copy.deepcopy(g), copy.deepcopy(d), copy.deepcopy(d)
    data = load_split("fashion-mnist", "train", data_dir=FASHION_MNIST, seed=0, val_size=0,
                      max_examples=32)
    real_batch = RealBatches(data, config.d_batch, config.seed, "cpu")
    loss_d, loss_g = gan_iteration(g, d, _adam(g, config), _adam(d, config), real_batch, config,
                                   spec.num_classes, iteration=3)
    # the same iteration by hand: D step on hinge + w * CE(reals), G step on hinge + w * CE(fakes)
    x_real, y_real = real_batch(3)
    rng = iteration_generator(config.seed, 3)
    z, y_fake = sample_latents(config.d_batch, config.latent_dim, 10, rng, "cpu")
    with torch.no_grad():
        x_fake = g_copy(z, y_fake)
    real_scores, real_logits = d_copy.scores_and_logits(x_real, y_real)
    expected_d = (F.relu(1 - real_scores).mean() + F.relu(1 + d_copy(x_fake, y_fake)).mean()
                  + WEIGHT * F.cross_entropy(real_logits, y_real))
    assert loss_d == pytest.approx(float(expected_d.detach()), rel=1e-5)
    opt = _adam(d_copy, config)
    expected_d.backward()
    opt.step()
    z, y_fake = sample_latents(config.g_batch, config.latent_dim, 10, rng, "cpu")
    fake_scores, fake_logits = d_copy.scores_and_logits(g_copy(z, y_fake), y_fake)
    expected_g = -fake_scores.mean() + WEIGHT * F.cross_entropy(fake_logits, y_fake)
    assert loss_g == pytest.approx(float(expected_g.detach()), rel=1e-5)
    # and the D step by hand reached the same discriminator, its classifier head included
    head = "classifier.parametrizations.weight.original"
    assert not torch.equal(d.state_dict()[head], d_before.state_dict()[head])
    torch.testing.assert_close(d.state_dict(), d_copy.state_dict())


def test_without_the_option_there_is_no_head_and_old_specs_load() -> None:
    spec = spec_for(tiny_config(norm="ccbn"))
    assert not spec.aux_classifier
    d = spec.build_discriminator()
    assert d.classifier is None and d.scores_and_logits(
        torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]))[1] is None
    assert not any(k.startswith("classifier") for k in d.state_dict())
    old = {k: v for k, v in spec.to_dict().items() if k != "aux_classifier"}
    assert GANSpec.from_dict(old) == spec
    with_head = GANSpec.from_dict({**old, "aux_classifier": True}).build_discriminator()
    logits = with_head.scores_and_logits(torch.zeros(3, 1, 28, 28), torch.tensor([0, 1, 2]))[1]
    assert logits is not None and logits.shape == (3, 10)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"norm": "bn", "aux_weight": 1.0}, "aux_weight needs a class-conditional generator norm"),
    ({"norm": "ccbn", "aux_weight": -0.5}, "aux_weight must be 0 or more, got -0.5"),
])
def test_bad_aux_weight_is_refused(overrides: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        tiny_config(**overrides)


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("references")
    paths = {}
    for schedule in ("constant", "cosine"):
        paths[schedule] = folder / f"{schedule}.pt"
        summary = train_reference_classifier(
            "fashion-mnist", paths[schedule], data_dir=FASHION_MNIST, epochs=1, width=4,
            max_train_examples=512, real_examples=100, real_samples=20, schedule=schedule,
            augment=schedule == "constant")
        assert (summary["schedule"], summary["augment"]) == (schedule, schedule == "constant")
    return paths


def test_the_reference_schedule_changes_training_and_is_kept(references: dict[str, Path]
                                                             ) -> None:
    constant, cosine = (torch.load(references[s], weights_only=True)
                        for s in ("constant", "cosine"))
    assert (cosine["schedule"], cosine["augment"]) == ("cosine", False)
    assert not torch.equal(constant["state_dict"]["convs.0.weight"],
                           cosine["state_dict"]["convs.0.weight"])
    with pytest.raises(UserInputError, match="unknown reference schedule 'step'"):
        train_reference_classifier("fashion-mnist", references["cosine"].parent / "x.pt",
                                   data_dir=FASHION_MNIST, schedule="step")


def test_the_probe_reports_conditional_accuracy(references: dict[str, Path]) -> None:
    reference = ReferenceClassifier(references["cosine"], "fashion-mnist")
    probe = classifier_probe(reference, 20)
    torch.manual_seed(0)
    generator = spec_for(tiny_config(norm="ccbn")).build_generator().eval()
    row = probe(generator)
    assert set(row) == {"probe_fid", "probe_is", "probe_cond_acc"}
    assert 0.0 <= row["probe_cond_acc"] <= 1.0
    unconditional = spec_for(tiny_config(norm="bn")).build_generator().eval()
    assert "probe_cond_acc" not in probe(unconditional)


def test_probe_conditional_accuracy_reaches_the_record_and_the_report() -> None:
    from robust_sabn.gan.records import training_record
    from robust_sabn.gan.report import conditioning_findings

    config = tiny_config(norm="ccbn", probe_samples=20)
    history = [{"iteration": i, "loss_d": 1.0, "loss_g": 1.0, "elapsed_s": float(i)}
               for i in range(1, 5)]
    history[1].update(probe_fid=9.0, probe_is=2.0, probe_cond_acc=0.25)
    history[3].update(probe_fid=8.0, probe_is=2.5, probe_cond_acc=0.75)
    record = training_record(config, history, model={}, run_id="r", runtime={},
                             train_examples=32, wall_time_s=1.0)
    probes = [(m.condition["step"], m.value, m.n) for m in record.find("probe_cond_acc")]
    assert probes == [(2, 0.25, 20), (4, 0.75, 20)]
    curves = {"SNGAN CCBN": {0: [(2.0, 0.25), (4.0, 0.75)], 1: [(2.0, 0.35), (4.0, 0.85)]}}
    assert conditioning_findings(curves) == [
        "SNGAN CCBN: probe conditional accuracy 30 % at 2, 80 % at 4 (iterations; mean of "
        "2 seeds)."]
