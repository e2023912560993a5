"""Per-sample branches, ``use_branch``, ``fixed_branch`` and ``branch_names``."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from robust_sabn.models import create_model
from robust_sabn.nn import (
    CCBN,
    AuxBN,
    BranchView,
    SaAuxBN,
    SaBN,
    SandwichNorm2d,
    branch_layers,
    branch_names,
    fixed_branch,
    use_branch,
)

C = 3
TOL = {"rtol": 1e-5, "atol": 1e-5}
ROUTE = torch.tensor([1, 0, 0, 1, 1, 0])


def random_layer(cls: type[SandwichNorm2d]) -> SandwichNorm2d:
    """A two-branch layer with distinct random affines and running statistics per row."""
    layer = cls(C, 2, branch_names=("clean", "adv"))
    with torch.no_grad():
        layer.branch_affine.normal_(1.0, 0.5)
        if layer.shared_weight is not None:
            layer.shared_weight.normal_(1.0, 0.5)
            layer.shared_bias.normal_(0.0, 0.5)
        layer.running_mean.normal_(0.0, 1.0)
        layer.running_var.uniform_(0.5, 2.0)
    return layer


def split_call(layer: SandwichNorm2d, x: Tensor, route: Tensor) -> Tensor:
    """Call ``layer`` once per branch on that branch's rows, and put the rows back in place."""
    out = torch.empty_like(x)
    for k in (0, 1):
        idx = (route == k).nonzero(as_tuple=True)[0]
        out[idx] = layer(x[idx], branch=k)
    return out


@pytest.mark.parametrize("cls", [AuxBN, SaAuxBN])
@pytest.mark.parametrize("training", [True, False])
def test_per_sample_routing_equals_split_batches_for_branch_statistics(
    cls: type[SandwichNorm2d], training: bool
) -> None:
    layer = random_layer(cls).train(training)
    twin = copy.deepcopy(layer)
    x = torch.randn(6, C, 3, 3) * 2.0 + 1.0
    torch.testing.assert_close(layer(x, branch=ROUTE), split_call(twin, x, ROUTE), **TOL)
    torch.testing.assert_close(layer.running_mean, twin.running_mean, **TOL)
    torch.testing.assert_close(layer.running_var, twin.running_var, **TOL)
    assert layer.num_batches_tracked.tolist() == ([1, 1] if training else [0, 0])


@pytest.mark.parametrize("cls", [AuxBN, SaAuxBN])
def test_per_sample_routing_updates_only_the_sets_present(cls: type[SandwichNorm2d]) -> None:
    layer = random_layer(cls).train()
    before_mean, before_var = layer.running_mean.clone(), layer.running_var.clone()
    x = torch.randn(6, C, 3, 3)
    layer(x, branch=torch.ones(6, dtype=torch.long))
    assert torch.equal(layer.running_mean[0], before_mean[0])
    assert torch.equal(layer.running_var[0], before_var[0])
    assert not torch.equal(layer.running_mean[1], before_mean[1])
    assert layer.num_batches_tracked.tolist() == [0, 1]


@pytest.mark.parametrize("cls", [CCBN, SaBN])
def test_per_sample_routing_with_shared_statistics(cls: type[SandwichNorm2d]) -> None:
    x = torch.randn(6, C, 3, 3) * 2.0 + 1.0
    # Eval: running statistics, so per-sample routing equals calling each part on its branch.
    layer = random_layer(cls).eval()
    torch.testing.assert_close(layer(x, branch=ROUTE), split_call(layer, x, ROUTE), **TOL)
    # Train: one statistics set over the WHOLE batch; each row takes its branch's affine, so row
    # i equals row i of the whole batch run on branch ROUTE[i].
    layer.train()
    twin = copy.deepcopy(layer)
    mixed = layer(x, branch=ROUTE)
    whole = [twin(x, branch=k) for k in (0, 1)]
    expected = torch.where(ROUTE.bool()[:, None, None, None], whole[1], whole[0])
    torch.testing.assert_close(mixed, expected, **TOL)
    assert layer.num_batches_tracked.tolist() == [1]


@pytest.mark.parametrize("cls", [CCBN, SaBN, AuxBN, SaAuxBN])
def test_per_sample_gradients_reach_only_rows_used(cls: type[SandwichNorm2d]) -> None:
    layer = random_layer(cls).train()
    x = torch.randn(6, C, 3, 3)
    (layer(x, branch=ROUTE) * torch.randn(6, C, 3, 3)).sum().backward()
    assert layer.branch_affine.grad[0].abs().min() > 0
    assert layer.branch_affine.grad[1].abs().min() > 0
    layer.zero_grad(set_to_none=True)
    (layer(x, branch=torch.zeros(6, dtype=torch.long)) * torch.randn(6, C, 3, 3)).sum().backward()
    assert layer.branch_affine.grad[0].abs().min() > 0
    assert torch.equal(layer.branch_affine.grad[1], torch.zeros(2 * C))
    if layer.shared_weight is not None:
        assert layer.shared_weight.grad.abs().min() > 0
        assert layer.shared_bias.grad.abs().min() > 0


def small_model(norm: str = "saauxbn") -> nn.Module:
    return create_model("small_cnn", norm=norm, width=4)


def test_use_branch_routes_restores_and_nests() -> None:
    model = small_model().eval()
    layers = branch_layers(model)
    assert len(layers) == 4
    x = torch.rand(2, 3, 8, 8)
    with use_branch(model, "adv") as routed:
        assert routed is model
        torch.testing.assert_close(model(x), model(x, branch="adv"), rtol=0, atol=0)
        with use_branch(model, "clean"):
            assert all(layer.routed_branch == "clean" for layer in layers)
            torch.testing.assert_close(model(x), model(x, branch="clean"), rtol=0, atol=0)
        assert all(layer.routed_branch == "adv" for layer in layers)
    assert all(layer.routed_branch is None for layer in layers)
    with pytest.raises(ValueError, match="has 2 branches and none was given"):
        model(x)


def test_use_branch_restores_routing_after_an_error() -> None:
    model = small_model()
    with pytest.raises(RuntimeError, match="boom"), use_branch(model, 1):
        raise RuntimeError("boom")
    assert all(layer.routed_branch is None for layer in branch_layers(model))


def test_use_branch_with_per_sample_tensor_matches_explicit_branches() -> None:
    model = small_model().eval()
    x = torch.rand(4, 3, 8, 8)
    route = torch.tensor([1, 0, 1, 0])
    with use_branch(model, route):
        mixed = model(x)
    for i, k in enumerate(route.tolist()):
        torch.testing.assert_close(mixed[i : i + 1], model(x[i : i + 1], branch=k), **TOL)


def test_explicit_branch_overrides_routing_then_restores() -> None:
    model = small_model().eval()
    x = torch.rand(2, 3, 8, 8)
    with use_branch(model, "clean"):
        torch.testing.assert_close(model(x, branch="adv"), fixed_branch(model, "adv")(x),
                                   rtol=0, atol=0)
        assert all(layer.routed_branch == "clean" for layer in branch_layers(model))


@pytest.mark.parametrize("branch", ["clean", "adv", 0, 1])
def test_fixed_branch_equals_explicit_branch_and_shares_parameters(branch: int | str) -> None:
    model = small_model().eval()
    view = fixed_branch(model, branch)
    assert isinstance(view, BranchView)
    assert view.net is model and view.branch == branch
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(view(x), model(x, branch=branch), rtol=0, atol=0)
    assert {id(p) for p in view.parameters()} == {id(p) for p in model.parameters()}
    before = view(x)
    with torch.no_grad():
        model.linear.bias.add_(1.0)
        model.norms[0].branch_affine.mul_(-1.0)
    after = view(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, model(x, branch=branch), rtol=0, atol=0)


def test_branch_view_train_and_eval_reach_the_wrapped_network() -> None:
    model = small_model().train()
    view = fixed_branch(model, "adv")
    view.eval()
    assert not view.training
    assert not any(m.training for m in model.modules())
    view.train()
    assert all(m.training for m in model.modules())
    x = torch.rand(4, 3, 8, 8)
    view(x)
    assert [layer.num_batches_tracked.tolist() for layer in branch_layers(model)] == [[0, 1]] * 4


def test_fixed_branch_rejects_unknown_branch_name() -> None:
    with pytest.raises(ValueError, match=r"unknown branch 'robust'.*\('clean', 'adv'\)"):
        fixed_branch(small_model(), "robust")


def test_branch_names_of_models() -> None:
    assert branch_names(small_model("saauxbn")) == ("clean", "adv")
    assert branch_names(small_model("sabn")) == ("clean", "adv")
    assert branch_names(create_model("small_cnn", norm="ccbn", width=4, num_branches=3)) == (
        "0", "1", "2")
    bn_model = small_model("bn").eval()
    assert branch_names(bn_model) == ()
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(fixed_branch(bn_model, "adv")(x), bn_model(x), rtol=0, atol=0)


def test_branch_names_rejects_disagreeing_layers() -> None:
    mixed = nn.Sequential(SaAuxBN(C), SaBN(C, 3))
    with pytest.raises(ValueError, match="the model's layers have different branches"):
        branch_names(mixed)
