"""``convert_norm`` on a third-party model (torchvision ResNet-18, built without weights)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from robust_sabn.nn import (
    CCBN,
    AuxBN,
    SaAuxBN,
    SaBN,
    SandwichNorm2d,
    branch_layers,
    branch_names,
    convert_norm,
    fixed_branch,
    use_branch,
)

KINDS = {"ccbn": CCBN, "sabn": SaBN, "auxbn": AuxBN, "saauxbn": SaAuxBN}


@pytest.fixture(scope="module")
def bn_model() -> nn.Module:
    """A ResNet-18 (10 classes) with trained-looking BN statistics and random BN affines."""
    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=10)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, 3, 32, 32) * 2.0 - 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0.0, 0.3)
    return model.eval()


def batch_norms(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_converted_model_equals_bn_model_in_eval_on_every_branch(
    bn_model: nn.Module, kind: str
) -> None:
    bns = batch_norms(bn_model)
    assert len(bns) == 20
    assert all(int(bn.num_batches_tracked) == 3 for bn in bns)
    assert not torch.equal(bns[0].running_mean, torch.zeros_like(bns[0].running_mean))

    converted = convert_norm(copy.deepcopy(bn_model), kind).eval()
    assert batch_norms(converted) == []
    layers = branch_layers(converted)
    assert len(layers) == 20
    assert all(type(layer) is KINDS[kind] for layer in layers)
    assert branch_names(converted) == ("clean", "adv")
    for bn, layer in zip(bns, layers, strict=True):
        assert layer.num_batches_tracked.tolist() == [3] * layer.running_mean.shape[0]
        assert torch.equal(layer.running_var[-1], bn.running_var)

    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = bn_model(x)
        for branch in ("clean", "adv"):
            torch.testing.assert_close(fixed_branch(converted, branch)(x), expected)
            with use_branch(converted, branch):
                torch.testing.assert_close(converted(x), expected)


@pytest.mark.parametrize("kind", ["sabn", "saauxbn"])
def test_converted_model_trains_on_a_branch(bn_model: nn.Module, kind: str) -> None:
    converted = convert_norm(copy.deepcopy(bn_model), kind).train()
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 3, 5, 9])
    with use_branch(converted, "adv"):
        loss = nn.functional.cross_entropy(converted(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    for layer in branch_layers(converted):
        grad = layer.branch_affine.grad
        assert grad[1].abs().sum() > 0
        assert torch.equal(grad[0], torch.zeros_like(grad[0]))
        assert layer.shared_weight.grad.abs().sum() > 0
    stats_sets = branch_layers(converted)[0].num_batches_tracked.tolist()
    assert stats_sets == ([3, 4] if kind == "saauxbn" else [4])
    torch.optim.SGD(converted.parameters(), lr=0.1).step()
    with use_branch(converted, "adv"):
        assert torch.isfinite(converted(x)).all()


def test_convert_keeps_dtype_and_eps() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, eps=1e-3, momentum=0.2)).double()
    converted = convert_norm(model, "saauxbn")
    layer = converted[1]
    assert isinstance(layer, SandwichNorm2d)
    assert layer.eps == 1e-3 and layer.momentum == 0.2
    assert layer.shared_weight.dtype == torch.float64
    assert layer.running_mean.dtype == torch.float64
    assert layer.num_batches_tracked.dtype == torch.long
    with use_branch(converted, "clean"):
        assert converted(torch.rand(2, 3, 4, 4, dtype=torch.float64)).dtype == torch.float64


def test_convert_bn_kind_is_identity_and_unknown_kind_raises() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    assert convert_norm(model, "bn") is model
    assert isinstance(model[1], nn.BatchNorm2d)
    with pytest.raises(ValueError, match="unknown norm kind 'layer'; choose one of bn, ccbn"):
        convert_norm(model, "layer")
    with pytest.raises(ValueError, match="unknown norm kind 'layer'"):
        convert_norm(nn.Linear(2, 2), "layer")
