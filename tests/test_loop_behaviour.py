"""How the GAN, style and NAS training loops use their losses and optimizers, watched from
outside (spies on the networks they build, torch's global optimizer-step hooks), so the checks
hold whatever shape the loops take inside.

- GAN: the discriminator's loss gets the real and fake scores in their places (D learns to score
  real above fake), the generator's step raises D's score of its samples, and ``--resume`` takes
  only the iterations that were left.
- Style: the trainer's step follows both weighted losses (the style term is not dropped).
- NAS: the weight step trains the weights on the first batch, the architecture step alpha on the
  second.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from test_gan_train import Killed, tiny_config
from test_nas_search import make_optimizers, search_step
from test_nas_search import tiny_config as tiny_search_config
from test_style import _tiny_config as tiny_style_config
from torch import Tensor, nn
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from robust_sabn.gan.models import GANSpec
from robust_sabn.gan.train import train_gan
from robust_sabn.nas.network import Supernet
from robust_sabn.style.network import style_loss
from robust_sabn.style.trainer import train_style


@pytest.fixture
def optimizer_steps() -> Iterator[list[torch.optim.Optimizer]]:
    """The optimizer of every step taken while the test runs, in order."""
    steps: list[torch.optim.Optimizer] = []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: steps.append(opt))
    yield steps
    handle.remove()


# ---------------------------------------------------------------------- GAN


@pytest.fixture
def discriminator_scores(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, float]]:
    """(input is real, mean score) of every gradient-enabled discriminator forward; an input is
    fake when it is a tensor the generator returned."""
    scores: list[tuple[bool, float]] = []
    samples: list[Tensor] = []
    build_generator, build_discriminator = GANSpec.build_generator, GANSpec.build_discriminator

    def spy_generator(spec: GANSpec) -> nn.Module:
        generator = build_generator(spec)
        generator.register_forward_hook(lambda module, args, output: samples.append(output))
        return generator

    def spy_discriminator(spec: GANSpec) -> nn.Module:
        discriminator = build_discriminator(spec)

        def record(module: nn.Module, args: tuple, output: Tensor) -> None:
            if torch.is_grad_enabled():
                fake = any(args[0] is sample for sample in samples[-2:])
                scores.append((not fake, float(output.detach().mean())))

        discriminator.register_forward_hook(record)
        return discriminator

    monkeypatch.setattr(GANSpec, "build_generator", spy_generator)
    monkeypatch.setattr(GANSpec, "build_discriminator", spy_discriminator)
    return scores


def test_the_discriminator_learns_to_score_real_above_fake(
        discriminator_scores: list[tuple[bool, float]], tmp_path: Path) -> None:
    """With the generator all but frozen, 24 hinge steps leave D scoring real images above
    fakes; real and fake swapped at the loss's call site turn the order round."""
    train_gan(tiny_config(iterations=12, lr_g=1e-12, lr_d=2e-3, ema_start=0),
              tmp_path / "run", quiet=True)
    real = [s for is_real, s in discriminator_scores if is_real]
    fake = [s for is_real, s in discriminator_scores if not is_real]
    assert len(real) == 24 and len(fake) == 24 + 12  # D steps' fakes, then each G step's
    d_fake = [s for i, s in enumerate(fake) if i % 3 != 2]  # n_critic 2: 2 D fakes, 1 G fake
    margins = [r - f for r, f in zip(real, d_fake, strict=True)]
    assert min(margins[-4:]) > 1.0, margins


def test_the_generator_step_raises_the_discriminators_score_of_its_samples(
        discriminator_scores: list[tuple[bool, float]], tmp_path: Path) -> None:
    """With the discriminator all but frozen, the G steps push D(G(z)) up."""
    train_gan(tiny_config(iterations=12, lr_g=5e-3, lr_d=1e-12, ema_start=0),
              tmp_path / "run", quiet=True)
    g_step_scores = [s for i, (is_real, s) in enumerate(
        [x for x in discriminator_scores if not x[0]]) if i % 3 == 2]
    assert len(g_step_scores) == 12
    assert g_step_scores[-1] > g_step_scores[0] + 0.1, g_step_scores


def test_a_resumed_gan_run_takes_only_the_iterations_that_were_left(
        tmp_path: Path, optimizer_steps: list[torch.optim.Optimizer]) -> None:
    config = tiny_config(norm="sabn")  # 4 iterations, n_critic 2, a checkpoint every 2

    def killing_probe(generator: nn.Module) -> dict[str, float]:
        probes.append(1)
        if len(probes) == 3:  # during iteration 3, after iteration 2's checkpoint
            raise Killed
        return {}

    probes: list[int] = []
    with pytest.raises(Killed):
        train_gan(config, tmp_path / "run", quiet=True, probe=killing_probe)
    assert len(optimizer_steps) == 3 * 3
    optimizer_steps.clear()
    train_gan(config, tmp_path / "run", resume=True, quiet=True)
    assert len(optimizer_steps) == 2 * 3, "iterations 3 and 4: two D steps and one G step each"
    optimizer_steps.clear()
    train_gan(config, tmp_path / "fresh", resume=True, quiet=True)  # nothing to resume
    assert len(optimizer_steps) == 4 * 3


# ---------------------------------------------------------------------- style


def _first_step_gradients(tmp_path: Path, **weights: float) -> Tensor:
    """Every parameter gradient (flattened) at the first optimizer step of a style run."""
    grads: list[Tensor] = []

    def record(optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if not grads:
            grads.append(torch.cat([
                (p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                for group in optimizer.param_groups for p in group["params"]]))

    handle = register_optimizer_step_pre_hook(record)
    try:
        train_style(tiny_style_config(iterations=1, val_every=1, checkpoint_every=1, **weights),
                    tmp_path / "_".join(f"{k}{v}" for k, v in weights.items()), quiet=True)
    finally:
        handle.remove()
    return grads[0]


def test_the_style_step_follows_both_weighted_losses(tmp_path: Path) -> None:
    content = _first_step_gradients(tmp_path, content_weight=1.0, style_weight=0.0)
    style = _first_step_gradients(tmp_path, content_weight=0.0, style_weight=1.0)
    both = _first_step_gradients(tmp_path, content_weight=1.0, style_weight=3.0)
    assert style.abs().max() > 0, "the style loss moves nothing"
    assert content.abs().max() > 0, "the content loss moves nothing"
    torch.testing.assert_close(both, content + 3.0 * style, rtol=1e-3, atol=1e-6)


# ---------------------------------------------------------------------- NAS


def test_the_weight_step_uses_the_first_batch_and_the_alpha_step_the_second() -> None:
    config = tiny_search_config(algorithm="darts", norm="saauxbn")
    torch.manual_seed(0)
    net = Supernet(norm="saauxbn", channels=4, cells_per_stage=1, in_channels=1)
    w_opt, a_opt = make_optimizers(net, config)
    seen: list[tuple[Tensor, Tensor, Tensor]] = []  # (input, alpha, stem weight) per forward
    net.register_forward_pre_hook(lambda module, args: seen.append(
        (args[0].clone(), net.alpha.detach().clone(), net.stem[0].weight.detach().clone())))
    alpha0, stem0 = net.alpha.detach().clone(), net.stem[0].weight.detach().clone()
    weight_batch = (torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    arch_batch = (torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    search_step(net, w_opt, a_opt, weight_batch, arch_batch, algorithm="darts", grad_clip=5.0,
                generator=torch.Generator().manual_seed(0))
    (x1, alpha1, stem1), (x2, alpha2, stem2) = seen
    assert torch.equal(x1, weight_batch[0]) and torch.equal(x2, arch_batch[0])
    assert torch.equal(alpha1, alpha0) and torch.equal(alpha2, alpha0), "weight step moved alpha"
    assert torch.equal(stem1, stem0) and not torch.equal(stem2, stem0), "no weight step first"
    assert not torch.equal(net.alpha.detach(), alpha0), "no alpha step"
    assert torch.equal(net.stem[0].weight.detach(), stem2), "the alpha step moved the weights"


def test_the_style_loss_sees_the_channel_spread_as_well_as_the_mean() -> None:
    features = torch.rand(2, 4, 8, 8)
    mean = features.mean(dim=(2, 3), keepdim=True)
    wider = (features - mean) * 2 + mean  # the same channel means, twice the spread
    shifted = features + 0.5  # the same spread, other means
    assert float(style_loss([features], [features])) == 0.0
    # the spreads differ by about 0.29 (uniform features), the means by 0.5: squared, well
    # above float rounding
    assert float(style_loss([features], [wider])) > 0.01
    assert float(style_loss([features], [shifted])) > 0.1
