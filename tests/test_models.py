"""Every registered model with every norm kind: forward, backward, branches, and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robust_sabn.models import create_model, is_model, list_models, register_model
from robust_sabn.nn import NORM_KINDS, branch_layers, branch_names, fixed_branch

# Small sizes for every registered model; a new model must add its entry here.
SMALL_SIZES: dict[str, dict[str, int]] = {
    "preact_resnet18": {"width": 4},
    "small_cnn": {"width": 4},
    "wrn34_10": {"depth": 10, "widen_factor": 1},
}
# in_channels -> (image side, mean, std), as for Fashion-MNIST (28x28) and CIFAR (32x32).
INPUTS: dict[int, tuple[int, tuple[float, ...], tuple[float, ...]]] = {
    1: (28, (0.286,), (0.353,)),
    3: (32, (0.491, 0.482, 0.447), (0.247, 0.243, 0.262)),
}


def test_registry_lists_the_models_with_small_test_sizes() -> None:
    assert list_models("classifier") == sorted(SMALL_SIZES)
    assert all(is_model(name) for name in SMALL_SIZES)
    assert not is_model("resnet50")


@pytest.mark.parametrize("in_channels", list(INPUTS))
@pytest.mark.parametrize("norm", NORM_KINDS)
@pytest.mark.parametrize("name", list_models("classifier"))
def test_model_forward_backward_and_branches(name: str, norm: str, in_channels: int) -> None:
    side, mean, std = INPUTS[in_channels]
    model = create_model(name, norm=norm, num_classes=7, in_channels=in_channels, mean=mean,
                         std=std, **SMALL_SIZES[name]).train()
    x = torch.rand(4, in_channels, side, side)
    y = torch.tensor([0, 2, 4, 6])
    branches = branch_names(model)
    if norm == "bn":
        assert branches == ()
        assert branch_layers(model) == []
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    else:
        assert branches == ("clean", "adv")
        logits = model(x, branch="clean")
        loss = 0.5 * F.cross_entropy(logits, y) + 0.5 * F.cross_entropy(
            model(x.flip(-1), branch="adv"), y)
    assert logits.shape == (4, 7)
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
        assert param.grad.abs().sum() > 0, param_name

    model.eval()
    with torch.no_grad():
        if norm == "bn":
            torch.testing.assert_close(fixed_branch(model, "adv")(x), model(x), rtol=0, atol=0)
            return
        with pytest.raises(ValueError, match="has 2 branches and none was given"):
            model(x)
        for branch in branches:
            torch.testing.assert_close(fixed_branch(model, branch)(x), model(x, branch=branch),
                                       rtol=0, atol=0)


@pytest.mark.parametrize("name", list_models("classifier"))
def test_no_submodule_named_model_or_module(name: str) -> None:
    model = create_model(name, norm="saauxbn", **SMALL_SIZES[name])
    parts = {part for module_name, _ in model.named_modules() for part in module_name.split(".")}
    assert parts.isdisjoint({"model", "module"})
    assert {"normalize", "linear"} <= parts


def test_architecture_widths() -> None:
    preact = create_model("preact_resnet18", width=4)
    assert preact.linear.in_features == 32
    assert sum(p.numel() for p in create_model("preact_resnet18").parameters()) == 11_171_146
    wrn = create_model("wrn34_10", depth=10, widen_factor=2)
    assert len(wrn.layers) == 3
    assert wrn.bn_final.num_features == 128
    cnn = create_model("small_cnn", width=4, num_classes=5)
    assert (cnn.linear.in_features, cnn.linear.out_features) == (8, 5)


def test_input_normalization_lives_in_the_model() -> None:
    mean, std = (0.5, 0.25, 0.0), (0.5, 2.0, 0.1)
    model = create_model("small_cnn", in_channels=3, mean=mean, std=std, width=4)
    x = torch.rand(2, 3, 8, 8)
    expected = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(model.normalize(x), expected)
    identity = create_model("small_cnn", in_channels=3, width=4)
    torch.testing.assert_close(identity.normalize(x), x, rtol=0, atol=0)
    assert {"normalize.mean", "normalize.std"} <= set(model.state_dict())


def test_create_model_errors_name_the_problem() -> None:
    unknown = r"unknown model 'resnet50'; choose one of .*preact_resnet18, .*small_cnn"
    with pytest.raises(ValueError, match=unknown):
        create_model("resnet50")
    with pytest.raises(ValueError, match="unknown norm kind 'gn'; choose one of bn, ccbn, sabn"):
        create_model("small_cnn", norm="gn")
    with pytest.raises(ValueError, match="mean has 3 values for 1 input channels"):
        create_model("small_cnn", in_channels=1, mean=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="std has 1 values for 3 input channels"):
        create_model("small_cnn", in_channels=3, std=(0.5,))
    with pytest.raises(ValueError, match=r"std must be positive, got \[0.5, 0.0\]"):
        create_model("small_cnn", in_channels=2, std=(0.5, 0.0), width=4)
    with pytest.raises(ValueError, match=r"WideResNet depth must be 6n \+ 4, got 12"):
        create_model("wrn34_10", depth=12, widen_factor=1)


def test_register_model_rejects_a_duplicate_name() -> None:
    with pytest.raises(ValueError, match="model 'small_cnn' is registered twice"):
        register_model("small_cnn")(lambda **kwargs: nn.Identity())
    assert list_models("classifier") == sorted(SMALL_SIZES)
