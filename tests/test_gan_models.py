"""GAN generators and discriminator: every generator x norm at both resolutions, the SaBN and
CCBN affines against the method's formulas, the registry, the EMA update."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from torch import nn

from robust_sabn.errors import UserInputError
from robust_sabn.gan.biggan import EmbeddingConditionalNorm
from robust_sabn.gan.models import GENERATORS, GANSpec
from robust_sabn.gan.train import update_ema
from robust_sabn.models import list_models
from robust_sabn.nn import CCBN, SaBN

SHAPES = [(1, 28), (3, 32)]


def tiny_spec(generator: str, norm: str, channels: int, size: int) -> GANSpec:
    return GANSpec(generator=generator, norm=norm, num_classes=10, channels=channels,
                   image_size=size, g_width=8, d_width=8, latent_dim=16)


@pytest.mark.parametrize("channels,size", SHAPES)
@pytest.mark.parametrize("norm", ["bn", "ccbn", "sabn"])
@pytest.mark.parametrize("generator", list(GENERATORS))
def test_generator_and_discriminator_forward_backward(generator: str, norm: str, channels: int,
                                                      size: int) -> None:
    spec = tiny_spec(generator, norm, channels, size)
    g, d = spec.build_generator(), spec.build_discriminator()
    z, y = torch.randn(4, 16), torch.tensor([0, 3, 3, 9])
    images = g(z, y)
    assert images.shape == (4, channels, size, size)
    assert images.abs().max() <= 1.0
    scores = d(images, y)
    assert scores.shape == (4,)
    scores.sum().backward()
    assert all(p.grad is not None for p in g.parameters())
    assert all(p.grad is not None for p in d.parameters())
    assert (d.embed is not None) == (norm != "bn")


@pytest.mark.parametrize("generator", list(GENERATORS))
def test_every_generator_moves_with_to_like_any_module(generator: str) -> None:
    """``.to()`` goes through ``nn.Module._apply``: a block method of that name broke it."""
    g = tiny_spec(generator, "sabn", 1, 28).build_generator().to("cpu").to(torch.float64)
    assert all(p.dtype == torch.float64 for p in g.parameters())
    assert g(torch.randn(2, 16, dtype=torch.float64), torch.tensor([1, 2])).dtype == torch.float64


@pytest.mark.parametrize("generator", list(GENERATORS))
def test_label_changes_output_only_for_conditional_norms(generator: str) -> None:
    z = torch.randn(6, 16)
    for norm in ("bn", "sabn"):
        g = tiny_spec(generator, norm, 1, 28).build_generator().eval()
        same = torch.allclose(g(z, torch.zeros(6, dtype=torch.long)),
                              g(z, torch.full((6,), 7)))
        assert same == (norm == "bn")


def test_sngan_sabn_layer_is_the_sandwich_formula() -> None:
    """Each class-conditional norm computes ``g_y * (g_s * xh + b_s) + b_y`` (method notes 1)."""
    g = tiny_spec("sngan32", "sabn", 1, 28).build_generator().train()
    layer = g.blocks[0].n1
    assert isinstance(layer, SaBN)
    x, y = torch.randn(5, 8, 4, 4), torch.tensor([1, 2, 1, 0, 9])
    xh = F.batch_norm(x, None, None, training=True, eps=layer.eps)
    c = layer.num_features
    g_y, b_y = layer.branch_affine[y, :c], layer.branch_affine[y, c:]
    shared = layer.shared_weight[None, :, None, None] * xh + layer.shared_bias[None, :, None, None]
    expected = g_y[:, :, None, None] * shared + b_y[:, :, None, None]
    torch.testing.assert_close(layer(x, branch=y), expected, rtol=1e-5, atol=1e-5)


def test_ccbn_generator_has_no_shared_affine() -> None:
    g = tiny_spec("autogan32", "ccbn", 3, 32).build_generator()
    layers = [m for m in g.modules() if isinstance(m, CCBN)]
    assert len(layers) == 6
    assert all(m.shared_weight is None and m.branch_affine.shape == (10, 16) for m in layers)


def test_biggan_sabn_norm_is_the_sandwich_formula_with_embedding_affines() -> None:
    """BigGAN: ``(1 + W_g c) * (g_s * xh + b_s) + W_b c`` with c = [shared(y), z chunk]."""
    norm = EmbeddingConditionalNorm(6, cond_dim=5, norm="sabn").train()
    with torch.no_grad():
        norm.core.shared_bias.normal_()
    x, cond = torch.randn(4, 6, 3, 3), torch.randn(4, 5)
    out = norm(x, cond)
    norm.eval()  # spectral-norm weights as used in the forward above, without a new iteration
    gain, bias = 1 + norm.gain(cond), norm.bias(cond)
    xh = F.batch_norm(x, None, None, training=True, eps=norm.core.eps)
    shared = (norm.core.shared_weight[None, :, None, None] * xh
              + norm.core.shared_bias[None, :, None, None])
    torch.testing.assert_close(out, gain[:, :, None, None] * shared + bias[:, :, None, None],
                               rtol=1e-5, atol=1e-5)
    assert EmbeddingConditionalNorm(6, 5, "ccbn").core.shared_weight is None


def test_models_are_registered_by_family() -> None:
    assert set(GENERATORS) <= set(list_models(family="generator"))
    assert "projection_discriminator" in list_models(family="discriminator")


def test_adversarial_norm_is_refused_in_one_line() -> None:
    with pytest.raises(UserInputError, match="'saauxbn' makes no sense for the gan task"):
        tiny_spec("sngan32", "saauxbn", 1, 28).build_generator()


def test_ema_averages_parameters_and_copies_buffers() -> None:
    model, ema = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    with torch.no_grad():
        model.weight.fill_(2.0)
        ema.weight.fill_(1.0)
        model.running_mean.fill_(5.0)
    update_ema(ema, model, decay=0.9)
    torch.testing.assert_close(ema.weight, torch.full((3,), 1.1))
    torch.testing.assert_close(ema.running_mean, torch.full((3,), 5.0))
