"""Supernet and standalone network: sampled-path branches, disjoint statistics, equivalence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from robust_sabn.nas.network import (
    SearchCell,
    StandaloneNetwork,
    Supernet,
    standalone_from_supernet,
)
from robust_sabn.nas.ops import ReLUConvNorm, make_cell_norm
from robust_sabn.nas.space import EDGES, OPS, Genotype

NORMS = ("bn", "ccbn", "saauxbn")
GENOTYPE = Genotype.parse(
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_1x1~2|"
)


def tiny_supernet(norm: str) -> Supernet:
    torch.manual_seed(0)
    return Supernet(norm=norm, channels=4, cells_per_stage=1, in_channels=1, num_classes=3)


def record_branches(cell: SearchCell) -> dict[tuple[int, int], list[int]]:
    """Branch each conv op of ``cell`` is called with, per (edge, op code)."""
    calls: dict[tuple[int, int], list[int]] = {}
    for e, edge in enumerate(cell.edges):
        for o, op in enumerate(edge):
            if isinstance(op, ReLUConvNorm):
                op.register_forward_pre_hook(
                    lambda _m, args, key=(e, o): calls.setdefault(key, []).append(int(args[1]))
                )
    return calls


def expected_branch_by_hand(codes: tuple[int, ...], edge: int) -> int:
    """Hand-written table of the rule: the ops on the edges entering the edge's source."""
    c10, c20, c21 = codes[0], codes[1], codes[2]
    return {0: 0, 1: 0, 3: 0,  # edges 1<-0, 2<-0, 3<-0 leave node 0: one branch
            2: c10, 4: c10,  # 2<-1, 3<-1 leave node 1: op(1<-0)
            5: c20 + 5 * c21}[edge]  # 3<-2 leaves node 2: op(2<-0) + 5 op(2<-1)


@pytest.mark.parametrize("norm", ["ccbn", "saauxbn"])
def test_branch_of_every_edge_with_one_hot_weights(norm: str) -> None:
    net = tiny_supernet(norm)
    cells = [m for m in net.layers if isinstance(m, SearchCell)]
    calls = [record_branches(c) for c in cells]
    codes = (3, 4, 2, 1, 3, 2)
    weights = F.one_hot(torch.tensor(codes), len(OPS)).float()
    net(torch.rand(2, 1, 8, 8), weights=weights)
    for cell_calls in calls:
        assert len(cell_calls) == len(EDGES) * 2  # DARTS computes both convs on every edge
        for (edge, _op), branches in cell_calls.items():
            assert branches == [expected_branch_by_hand(codes, edge)]


def test_branch_follows_the_multinomial_samples_per_cell() -> None:
    net = tiny_supernet("saauxbn")
    with torch.no_grad():
        net.alpha.copy_(torch.randn(6, 5) * 2)
    cells = [m for m in net.layers if isinstance(m, SearchCell)]
    calls = [record_branches(c) for c in cells]
    net(torch.rand(2, 1, 8, 8), generator=torch.Generator().manual_seed(5))
    replay = torch.Generator().manual_seed(5)
    probs = torch.softmax(net.alpha.detach(), dim=-1)
    for cell_calls in calls:  # every cell draws its own sample, in order
        codes = tuple(torch.multinomial(probs, 1, generator=replay).view(-1).tolist())
        for (edge, _op), branches in cell_calls.items():
            assert branches == [expected_branch_by_hand(codes, edge)]


def test_gdas_branches_are_the_sampled_ops_and_only_they_run() -> None:
    net = tiny_supernet("saauxbn")
    cell = next(m for m in net.layers if isinstance(m, SearchCell))
    calls = record_branches(cell)
    codes = (2, 3, 3, 0, 2, 2)
    weights = F.one_hot(torch.tensor(codes), len(OPS)).float()
    net(torch.rand(2, 1, 8, 8), weights=weights, hard_ops=codes)
    ran = {key for key in calls}
    assert ran == {(e, c) for e, c in enumerate(codes) if OPS[c].startswith("nor_conv")}
    for (edge, _op), branches in calls.items():
        assert branches == [expected_branch_by_hand(codes, edge)]


def test_per_branch_statistics_stay_disjoint() -> None:
    layer = make_cell_norm("saauxbn", 3, 25)
    layer.train()
    x = torch.randn(8, 3, 4, 4) * 3 + 2
    layer(x, 7)
    layer(x * 2, 19)
    changed = (layer.running_mean != 0).any(dim=1) | (layer.running_var != 1).any(dim=1)
    assert changed.nonzero().view(-1).tolist() == [7, 19]
    torch.testing.assert_close(layer.running_mean[7], 0.1 * x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(layer.running_mean[19], 0.1 * 2 * x.mean(dim=(0, 2, 3)))
    ccbn = make_cell_norm("ccbn", 3, 25)
    assert ccbn.running_mean.shape == (1, 3)  # CCBN shares statistics, only affines split
    bn = make_cell_norm("bn", 3, 1)
    assert bn.shared_weight is None and bn.branch_affine is None  # NB201 search: affine off


def test_supernet_saauxbn_updates_only_sampled_branches() -> None:
    net = tiny_supernet("saauxbn")
    codes = (3, 4, 2, 1, 3, 2)
    weights = F.one_hot(torch.tensor(codes), len(OPS)).float()
    net.train()
    net(torch.rand(4, 1, 8, 8), weights=weights)
    cell = next(m for m in net.layers if isinstance(m, SearchCell))
    for e, (_, _source) in enumerate(EDGES):
        norm = cell.edges[e][3].norm  # nor_conv_3x3
        moved = ((norm.running_mean != 0).any(dim=1)).nonzero().view(-1).tolist()
        assert moved == [expected_branch_by_hand(codes, e)]


@pytest.mark.parametrize("norm", NORMS)
def test_one_hot_supernet_equals_standalone_network(norm: str) -> None:
    net = tiny_supernet(norm)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(3):  # move weights and running statistics off their initial values
        loss = net(torch.rand(6, 1, 8, 8), generator=torch.Generator().manual_seed(step)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    one_hot = F.one_hot(torch.tensor(GENOTYPE.codes), len(OPS)).float()
    with torch.no_grad():  # steer the sampled branches through the same ops
        for _ in range(2):
            net(torch.rand(6, 1, 8, 8), weights=one_hot)
    net.eval()
    standalone = standalone_from_supernet(net, GENOTYPE).eval()
    assert isinstance(standalone, StandaloneNetwork)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(standalone(x), net(x, weights=one_hot), rtol=0, atol=1e-6)
        assert not torch.allclose(standalone(x), net(x), atol=1e-4)  # soft alpha differs


def test_standalone_odd_sizes_and_parameter_counts() -> None:
    net = StandaloneNetwork(GENOTYPE, channels=4, cells_per_stage=1, in_channels=1,
                            num_classes=10)
    assert net(torch.rand(2, 1, 14, 14)).shape == (2, 10)
    pool_only = StandaloneNetwork(
        Genotype.parse("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|"
                       "avg_pool_3x3~2|"), channels=4, cells_per_stage=1, in_channels=1)
    conv_free = sum(p.numel() for n, p in pool_only.named_parameters() if ".edges." in n)
    assert conv_free == 0
