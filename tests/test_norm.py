"""Each layer of the SaBN family against its formula, computed here with plain tensor math."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from robust_sabn.nn import (
    ADV_BRANCH_NAMES,
    CCBN,
    NORM_KINDS,
    AdaIN,
    AuxBN,
    SaAdaIN,
    SaAuxBN,
    SaBN,
    SandwichNorm2d,
    make_norm,
)

C = 3
EPS = 1e-5
TOL = {"rtol": 1e-5, "atol": 1e-5}

# Hand-set parameters: row k of G/B is branch k's (g_k, b_k); GS/BS is the sandwich (g_s, b_s).
G = torch.tensor([[1.5, 0.5, 2.0], [0.8, -1.2, 3.0]])
B = torch.tensor([[0.1, -0.3, 0.7], [1.0, 0.0, -2.0]])
GS = torch.tensor([2.0, -0.5, 1.25])
BS = torch.tensor([0.3, 0.2, -0.4])
# Hand-set running statistics, one row per statistics set.
RUNNING_MEAN = torch.tensor([[0.5, -1.0, 2.0], [-0.2, 0.3, 0.0]])
RUNNING_VAR = torch.tensor([[2.0, 0.5, 1.5], [0.25, 4.0, 1.0]])

# kind -> (class, has sandwich affine, has one statistics set per branch)
BATCH_KINDS: dict[str, tuple[type[SandwichNorm2d], bool, bool]] = {
    "ccbn": (CCBN, False, False),
    "sabn": (SaBN, True, False),
    "auxbn": (AuxBN, False, True),
    "saauxbn": (SaAuxBN, True, True),
}


def ch(v: Tensor) -> Tensor:
    """A (C,) vector as (1, C, 1, 1) for broadcasting over (N, C, H, W)."""
    return v.view(1, -1, 1, 1)


def batch_xhat(x: Tensor) -> Tensor:
    """Normalize with the batch's per-channel mean and biased variance."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS)


def running_xhat(x: Tensor, stats_set: int) -> Tensor:
    """Normalize with hand-set running statistics set ``stats_set``."""
    mean, var = RUNNING_MEAN[stats_set], RUNNING_VAR[stats_set]
    return (x - ch(mean)) / torch.sqrt(ch(var) + EPS)


def formula(xh: Tensor, k: int, sandwich: bool) -> Tensor:
    """``g_k*xh + b_k`` or ``g_k*(g_s*xh + b_s) + b_k`` with the hand-set parameters."""
    inner = ch(GS) * xh + ch(BS) if sandwich else xh
    return ch(G[k]) * inner + ch(B[k])


def make_layer(kind: str, **kwargs: object) -> SandwichNorm2d:
    cls = BATCH_KINDS[kind][0]
    layer = cls(C, 2, branch_names=ADV_BRANCH_NAMES, **kwargs)
    with torch.no_grad():
        layer.branch_affine.copy_(torch.cat([G, B], dim=1))
        if layer.shared_weight is not None:
            layer.shared_weight.copy_(GS)
            layer.shared_bias.copy_(BS)
    return layer


def sample_input(n: int = 4) -> Tensor:
    return torch.randn(n, C, 3, 3) * 2.0 + 1.0


BRANCHES = [(0, 0), (1, 1), ("clean", 0), ("adv", 1)]


@pytest.mark.parametrize("kind", list(BATCH_KINDS))
@pytest.mark.parametrize(("branch", "k"), BRANCHES)
def test_train_mode_matches_formula_with_batch_statistics(kind: str, branch: int | str, k: int
                                                          ) -> None:
    layer = make_layer(kind).train()
    x = sample_input()
    expected = formula(batch_xhat(x), k, sandwich=BATCH_KINDS[kind][1])
    torch.testing.assert_close(layer(x, branch=branch), expected, **TOL)


@pytest.mark.parametrize("kind", list(BATCH_KINDS))
@pytest.mark.parametrize(("branch", "k"), BRANCHES)
def test_eval_mode_matches_formula_with_running_statistics(kind: str, branch: int | str, k: int
                                                           ) -> None:
    _, sandwich, per_branch = BATCH_KINDS[kind]
    layer = make_layer(kind)
    n_sets = 2 if per_branch else 1
    assert layer.running_mean.shape == (n_sets, C)
    with torch.no_grad():
        layer.running_mean.copy_(RUNNING_MEAN[:n_sets])
        layer.running_var.copy_(RUNNING_VAR[:n_sets])
    layer.eval()
    x = sample_input()
    stats_set = k if per_branch else 0
    expected = formula(running_xhat(x, stats_set), k, sandwich)
    torch.testing.assert_close(layer(x, branch=branch), expected, **TOL)
    # Eval mode leaves the statistics alone.
    torch.testing.assert_close(layer.running_mean, RUNNING_MEAN[:n_sets], rtol=0, atol=0)
    assert layer.num_batches_tracked.tolist() == [0] * n_sets


def expected_running(batches: list[Tensor], momentum: float) -> tuple[Tensor, Tensor]:
    """Running mean and (unbiased) variance after ``batches``, computed by hand."""
    mean, var = torch.zeros(C), torch.ones(C)
    for x in batches:
        n = x.numel() // C
        batch_mean = x.mean(dim=(0, 2, 3))
        unbiased = ((x - ch(batch_mean)) ** 2).sum(dim=(0, 2, 3)) / (n - 1)
        mean = (1 - momentum) * mean + momentum * batch_mean
        var = (1 - momentum) * var + momentum * unbiased
    return mean, var


@pytest.mark.parametrize("kind", ["ccbn", "sabn"])
def test_shared_statistics_update_like_batchnorm2d(kind: str) -> None:
    layer = make_layer(kind, momentum=0.3).train()
    bn = nn.BatchNorm2d(C, momentum=0.3).train()
    batches = [sample_input() for _ in range(3)]
    for x, branch in zip(batches, ["clean", "adv", "clean"], strict=True):
        layer(x, branch=branch)
        bn(x)
    mean, var = expected_running(batches, momentum=0.3)
    torch.testing.assert_close(layer.running_mean[0], mean, **TOL)
    torch.testing.assert_close(layer.running_var[0], var, **TOL)
    torch.testing.assert_close(layer.running_mean[0], bn.running_mean, **TOL)
    torch.testing.assert_close(layer.running_var[0], bn.running_var, **TOL)
    assert layer.num_batches_tracked.tolist() == [3] == [int(bn.num_batches_tracked)]


@pytest.mark.parametrize("kind", ["auxbn", "saauxbn"])
def test_branch_statistics_update_only_from_their_own_branch(kind: str) -> None:
    layer = make_layer(kind).train()
    adv_batches = [sample_input(), sample_input()]
    for x in adv_batches:
        layer(x, branch="adv")
    mean, var = expected_running(adv_batches, momentum=0.1)
    torch.testing.assert_close(layer.running_mean[1], mean, **TOL)
    torch.testing.assert_close(layer.running_var[1], var, **TOL)
    assert torch.equal(layer.running_mean[0], torch.zeros(C))
    assert torch.equal(layer.running_var[0], torch.ones(C))
    assert layer.num_batches_tracked.tolist() == [0, 2]

    clean = sample_input() - 3.0
    layer(clean, branch="clean")
    mean_clean, var_clean = expected_running([clean], momentum=0.1)
    torch.testing.assert_close(layer.running_mean[0], mean_clean, **TOL)
    torch.testing.assert_close(layer.running_var[0], var_clean, **TOL)
    torch.testing.assert_close(layer.running_mean[1], mean, **TOL)
    assert layer.num_batches_tracked.tolist() == [1, 2]


@pytest.mark.parametrize("kind", list(BATCH_KINDS))
def test_gradients_match_formula_and_skip_unused_branch_rows(kind: str) -> None:
    sandwich = BATCH_KINDS[kind][1]
    layer = make_layer(kind).train()
    x = sample_input()
    upstream = torch.randn(4, C, 3, 3)
    (layer(x, branch="adv") * upstream).sum().backward()

    g_k, b_k = G[1].clone().requires_grad_(), B[1].clone().requires_grad_()
    g_s, b_s = GS.clone().requires_grad_(), BS.clone().requires_grad_()
    xh = batch_xhat(x)
    inner = ch(g_s) * xh + ch(b_s) if sandwich else xh
    ((ch(g_k) * inner + ch(b_k)) * upstream).sum().backward()

    grad = layer.branch_affine.grad
    assert grad is not None
    torch.testing.assert_close(grad[1], torch.cat([g_k.grad, b_k.grad]), **TOL)
    assert grad[1].abs().min() > 0
    assert torch.equal(grad[0], torch.zeros(2 * C))
    if sandwich:
        torch.testing.assert_close(layer.shared_weight.grad, g_s.grad, **TOL)
        torch.testing.assert_close(layer.shared_bias.grad, b_s.grad, **TOL)
        assert layer.shared_weight.grad.abs().min() > 0
    else:
        assert layer.shared_weight is None


@pytest.mark.parametrize("kind", list(BATCH_KINDS))
def test_initialization_follows_the_authors(kind: str) -> None:
    width = 5000
    layer = BATCH_KINDS[kind][0](width, 2)
    for weight, bias in [
        (layer.branch_affine[:, :width], layer.branch_affine[:, width:]),
        (layer.shared_weight, layer.shared_bias),
    ]:
        if weight is None:
            continue
        assert abs(weight.mean().item() - 1.0) < 2e-3
        assert 0.018 < weight.std().item() < 0.022
        assert torch.equal(bias, torch.zeros_like(bias))
    assert (layer.shared_weight is not None) == BATCH_KINDS[kind][1]
    assert torch.equal(layer.running_mean, torch.zeros_like(layer.running_mean))
    assert torch.equal(layer.running_var, torch.ones_like(layer.running_var))


def test_adain_initialization_and_no_state() -> None:
    sa = SaAdaIN(64)
    assert torch.equal(sa.shared_weight, torch.ones(64))
    assert torch.equal(sa.shared_bias, torch.zeros(64))
    plain = AdaIN(64)
    assert list(plain.parameters()) == []
    assert list(plain.buffers()) == []
    assert sorted(name for name, _ in sa.named_parameters()) == ["shared_bias", "shared_weight"]


def adain_expected(x: Tensor, style: Tensor, sandwich: bool) -> Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
    xh = (x - mean) / torch.sqrt(var + EPS)
    if sandwich:
        xh = ch(GS) * xh + ch(BS)
    s_mean = style.mean(dim=(2, 3), keepdim=True)
    s_std = torch.sqrt(((style - s_mean) ** 2).mean(dim=(2, 3), keepdim=True) + EPS)
    return s_std * xh + s_mean


@pytest.mark.parametrize("sandwich", [False, True])
def test_adain_matches_formula_in_train_and_eval(sandwich: bool) -> None:
    layer = SaAdaIN(C) if sandwich else AdaIN(C)
    if sandwich:
        with torch.no_grad():
            layer.shared_weight.copy_(GS)
            layer.shared_bias.copy_(BS)
    x = torch.randn(2, C, 4, 4) * 1.5 - 0.5
    style = torch.randn(2, C, 5, 5) * 3.0 + 2.0
    expected = adain_expected(x, style, sandwich)
    torch.testing.assert_close(layer.train()(x, style=style), expected, **TOL)
    torch.testing.assert_close(layer.eval()(x, style=style), expected, **TOL)


def test_adain_errors_name_the_problem() -> None:
    layer = SaAdaIN(C)
    x = torch.randn(2, C, 4, 4)
    with pytest.raises(ValueError, match=r"SaAdaIN needs a style feature map: call layer\(x, sty"):
        layer(x)
    with pytest.raises(ValueError, match=r"style shape \(2, 4, 4, 4\) does not match content"):
        layer(x, style=torch.randn(2, C + 1, 4, 4))


def test_branch_argument_errors_name_the_problem() -> None:
    layer = SaAuxBN(C)
    x = sample_input()
    with pytest.raises(ValueError, match=r"unknown branch name 'robust'.*\('clean', 'adv'\)"):
        layer(x, branch="robust")
    with pytest.raises(ValueError, match="branch 2 out of range for 2 branches"):
        layer(x, branch=2)
    with pytest.raises(ValueError, match="branch -1 out of range for 2 branches"):
        layer(x, branch=-1)
    with pytest.raises(ValueError, match="SaAuxBN has 2 branches and none was given"):
        layer(x)
    with pytest.raises(ValueError, match=r"must have shape \(4,\), got \(3,\)"):
        layer(x, branch=torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match=r"indices \[-1, 0, 1\], out of range for 2 branches"):
        layer(x, branch=torch.tensor([0, 1, -1, 0]))
    with pytest.raises(ValueError, match=r"indices \[0, 1, 2\], out of range for 2 branches"):
        layer(x, branch=torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"must hold integers, got torch\.float32"):
        layer(x, branch=torch.tensor([0.0, 1.0, 1.0, 0.0]))
    unnamed = SaBN(C, 3)
    with pytest.raises(ValueError, match=r"unknown branch name 'clean'.*\(0, 1, 2\)"):
        unnamed(x, branch="clean")


def test_constructor_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="stats must be 'batch', 'branch' or 'instance'"):
        SandwichNorm2d(C, 2, stats="group")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_branches must be >= 1, got 0"):
        SaBN(C, 0)
    with pytest.raises(ValueError, match="1 branch names given for 2 branches"):
        SaBN(C, 2, branch_names=("clean",))


def test_zero_dim_tensor_branch_and_single_branch_default() -> None:
    layer = make_layer("saauxbn").train()
    x = sample_input()
    torch.testing.assert_close(layer(x, branch=torch.tensor(1)), formula(batch_xhat(x), 1, True),
                               **TOL)
    single = SaBN(C, 1)
    with torch.no_grad():
        single.branch_affine.copy_(torch.cat([G[:1], B[:1]], dim=1))
        single.shared_weight.copy_(GS)
        single.shared_bias.copy_(BS)
    torch.testing.assert_close(single(x), formula(batch_xhat(x), 0, True), **TOL)


def trained_layer(kind: str) -> SandwichNorm2d:
    """A layer with non-trivial parameters and statistics."""
    if kind in ("adain", "saadain"):
        layer = SaAdaIN(C) if kind == "saadain" else AdaIN(C)
        if layer.shared_weight is not None:
            with torch.no_grad():
                layer.shared_weight.copy_(GS)
                layer.shared_bias.copy_(BS)
        return layer
    layer = make_layer(kind).train()
    layer(sample_input(), branch="clean")
    layer(sample_input() + 1.0, branch="adv")
    return layer.eval()


@pytest.mark.parametrize("kind", [*BATCH_KINDS, "adain", "saadain"])
def test_state_dict_round_trips_through_a_file(kind: str, tmp_path: Path) -> None:
    layer = trained_layer(kind)
    path = tmp_path / "layer.pt"
    torch.save(layer.state_dict(), path)
    torch.manual_seed(1)
    fresh = type(layer)(C) if kind in ("adain", "saadain") else BATCH_KINDS[kind][0](
        C, 2, branch_names=ADV_BRANCH_NAMES)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    fresh.eval()
    for name, value in layer.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
    x = sample_input()
    if kind in ("adain", "saadain"):
        style = torch.randn(4, C, 2, 2)
        assert torch.equal(fresh(x, style=style), layer(x, style=style))
        return
    assert layer.num_batches_tracked.sum() == 2
    for branch in ADV_BRANCH_NAMES:
        assert torch.equal(fresh(x, branch=branch), layer(x, branch=branch))


@pytest.mark.parametrize("kind", NORM_KINDS)
def test_make_norm_builds_named_layers(kind: str) -> None:
    layer = make_norm(kind, C)
    if kind == "bn":
        assert type(layer) is nn.BatchNorm2d
        return
    assert type(layer) is BATCH_KINDS[kind][0]
    assert layer.num_features == C
    assert layer.branch_names == ("clean", "adv")
    assert make_norm(kind, C, num_branches=3).branch_names is None


def test_make_norm_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown norm kind 'gn'; choose one of bn, ccbn, sabn"):
        make_norm("gn", C)
