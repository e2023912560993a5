"""The NAS-Bench-201 macro skeleton, the DARTS/GDAS supernet on it, and standalone cell networks.

Skeleton (NAS-Bench-201's): stem conv 3x3 + BN, then three stages of N cells of width C, 2C, 4C
separated by stride-2 residual blocks, then BN + ReLU, global average pooling and a linear head.
Inputs are images in [0, 1] of shape (N, in_channels, H, W), normalized inside the model; the
output is logits (N, num_classes).

In the supernet every edge holds all five candidate ops. For an edge leaving node j, its conv
ops' normalization branch is ``k = sum_m 5**m * s(j <- m)`` where ``s`` are op codes SAMPLED per
edge: for DARTS a multinomial draw from softmax(alpha), made in every cell and every forward
(training and evaluation alike), while the edge output stays the alpha-weighted sum of all ops;
for GDAS the Gumbel-sampled op, which is also the only op computed. A standalone network carries
one op per edge, and its branches are the genotype's own op codes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from robust_sabn.models.registry import register_model
from robust_sabn.nas.ops import ResidualReduction, make_cell_norm, make_op
from robust_sabn.nas.space import EDGES, NUM_NODES, OPS, Genotype, branch_index, num_branches


def _total(parts: Sequence[Tensor]) -> Tensor:
    """Sum of same-shaped tensors, left to right."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


class SearchCell(nn.Module):
    """A cell whose every edge holds every op of :data:`OPS` (``edges[e][o]``)."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, channels, norm, num_branches(source)) for op in OPS)
            for _, source in EDGES
        )

    def forward(self, x: Tensor, weights: Tensor, sampled: Sequence[int], hard: bool) -> Tensor:
        """Cell output (N, C, H, W).

        Args:
            x: cell input (N, C, H, W).
            weights: (6, 5) op weights per edge (softmax(alpha), or GDAS' straight-through
                one-hot weights).
            sampled: op code per edge (6,), which picks the normalization branches.
            hard: GDAS mode: compute only the sampled op of each edge; the other weights are
                added as values (zero) so that their gradient flows as in GDAS.
        """
        nodes = [x]
        for target in range(1, NUM_NODES):
            inputs = []
            for source in range(target):
                e = EDGES.index((target, source))
                branch = branch_index(sampled, source)
                h = nodes[source]
                if hard:
                    chosen = int(sampled[e])
                    out = weights[e, chosen] * self.edges[e][chosen](h, branch)
                    inputs.append(out + (weights[e].sum() - weights[e, chosen]))
                else:
                    inputs.append(_total([w * op(h, branch) for w, op in zip(
                        weights[e], self.edges[e], strict=True)]))
            nodes.append(_total(inputs))
        return nodes[-1]


class InferCell(nn.Module):
    """A cell with one op per edge, as a genotype says (``edges[e]``)."""

    def __init__(self, genotype: Genotype, channels: int, norm: str, affine: bool) -> None:
        super().__init__()
        self.codes = genotype.codes
        self.edges = nn.ModuleList(
            make_op(op, channels, norm, num_branches(source), affine=affine)
            for op, (_, source) in zip(genotype.ops, EDGES, strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Cell output (N, C, H, W) for input x (N, C, H, W)."""
        nodes = [x]
        for target in range(1, NUM_NODES):
            nodes.append(_total([
                self.edges[EDGES.index((target, source))](
                    nodes[source], branch_index(self.codes, source))
                for source in range(target)
            ]))
        return nodes[-1]


class NB201Skeleton(nn.Module, ABC):
    """Stem, three stages of cells with residual reductions, head. Subclasses make the cells.

    Args:
        channels: C, the first stage's width (paper: 16).
        cells_per_stage: N (paper: 5).
        in_channels: image channels.
        num_classes: logits per sample.
        mean, std: per-channel input statistics on the [0, 1] scale (None: 0 and 1).
    """

    def __init__(self, *, channels: int, cells_per_stage: int, in_channels: int,
                 num_classes: int, mean: Sequence[float] | None, std: Sequence[float] | None
                 ) -> None:
        super().__init__()
        if channels < 1 or cells_per_stage < 1:
            raise ValueError(f"channels and cells_per_stage must be >= 1, got {channels}, "
                             f"{cells_per_stage}")
        self.register_buffer("mean", torch.tensor(mean or [0.0] * in_channels).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std or [1.0] * in_channels).view(1, -1, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(self.make_cell(width) for _ in range(cells_per_stage))
        self.layers = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU())
        self.classifier = nn.Linear(width, num_classes)

    @abstractmethod
    def make_cell(self, channels: int) -> nn.Module:
        """A cell of width ``channels`` (the supernet's search cell or a genotype's cell)."""

    def head(self, h: Tensor) -> Tensor:
        """Logits (N, num_classes) of the last stage's features (N, 4C, H', W')."""
        return self.classifier(self.lastact(h).mean(dim=(2, 3)))

    def stem_forward(self, x: Tensor) -> Tensor:
        """Normalize images x (N, C_in, H, W) in [0, 1] and apply the stem."""
        return self.stem((x - self.mean) / self.std)


class Supernet(NB201Skeleton):
    """The weight-sharing supernet with architecture parameters ``alpha`` (6, 5).

    ``alpha`` starts at ``1e-3 * randn`` (DARTS, NAS-Bench-201). The norm kind is one of
    ``bn`` (affine off), ``bn_affine``, ``ccbn``, ``saauxbn`` (:mod:`robust_sabn.nas.ops`).
    """

    def __init__(self, *, norm: str, channels: int = 16, cells_per_stage: int = 5,
                 in_channels: int = 3, num_classes: int = 10,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None
                 ) -> None:
        make_cell_norm(norm, 1, 1)  # rejects an unknown kind before building anything
        self.norm = norm
        super().__init__(channels=channels, cells_per_stage=cells_per_stage,
                         in_channels=in_channels, num_classes=num_classes, mean=mean, std=std)
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))

    def make_cell(self, channels: int) -> nn.Module:
        return SearchCell(channels, self.norm)

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but ``alpha``."""
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def genotype(self) -> Genotype:
        """The argmax cell of ``alpha`` (``none`` included, as NAS-Bench-201's DARTS does)."""
        return Genotype.from_codes(self.alpha.argmax(dim=1).tolist())

    def forward(self, x: Tensor, weights: Tensor | None = None,
                hard_ops: Sequence[int] | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        """Logits (N, num_classes) for images x (N, C_in, H, W) in [0, 1].

        Args:
            weights: op weights (6, 5); default softmax(alpha).
            hard_ops: GDAS: the sampled op code per edge, the only op each edge computes (the
                same in every cell). None: DARTS (weighted sum; branches sampled per cell).
            generator: source of the DARTS branch samples (None: torch's global one).
        """
        if weights is None:
            weights = torch.softmax(self.alpha, dim=-1)
        probs = weights.detach().float().cpu()
        h = self.stem_forward(x)
        for layer in self.layers:
            if not isinstance(layer, SearchCell):
                h = layer(h)
            elif hard_ops is not None:
                h = layer(h, weights, hard_ops, True)
            else:
                sampled = torch.multinomial(probs, 1, generator=generator).view(-1).tolist()
                h = layer(h, weights, sampled, False)
        return self.head(h)


class StandaloneNetwork(NB201Skeleton):
    """The network of one genotype (NAS-Bench-201's 'infer' network).

    ``norm`` is the conv ops' norm kind; retraining uses ``bn`` with ``affine=True``, as
    NAS-Bench-201 trains its cells. Other kinds (with their fixed genotype branches) exist so
    that a supernet's weights can be carried over (:func:`standalone_from_supernet`).
    """

    def __init__(self, genotype: Genotype, *, norm: str = "bn", affine: bool = True,
                 channels: int = 16, cells_per_stage: int = 5, in_channels: int = 3,
                 num_classes: int = 10, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        make_cell_norm(norm, 1, 1)
        self.genotype, self.norm, self.affine = genotype, norm, affine
        super().__init__(channels=channels, cells_per_stage=cells_per_stage,
                         in_channels=in_channels, num_classes=num_classes, mean=mean, std=std)

    def make_cell(self, channels: int) -> nn.Module:
        return InferCell(self.genotype, channels, self.norm, self.affine)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, num_classes) for images x (N, C_in, H, W) in [0, 1]."""
        h = self.stem_forward(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h)


def standalone_from_supernet(supernet: Supernet, genotype: Genotype) -> StandaloneNetwork:
    """The standalone network of ``genotype`` holding the supernet's weights for its ops.

    Stem, reductions and head are copied; edge ``e`` of every cell takes the supernet op
    ``edges[e][op code]`` (weights, branch affines and running statistics).
    """
    net = StandaloneNetwork(
        genotype, norm=supernet.norm, affine=False, channels=supernet.stem[0].out_channels,
        cells_per_stage=sum(isinstance(m, SearchCell) for m in supernet.layers) // 3,
        in_channels=supernet.stem[0].in_channels, num_classes=supernet.classifier.out_features,
    )
    codes = genotype.codes
    source = supernet.state_dict()
    state = {}
    for key in net.state_dict():
        parts = key.split(".")
        if len(parts) > 3 and parts[0] == "layers" and parts[2] == "edges" and isinstance(
                supernet.layers[int(parts[1])], SearchCell):
            parts.insert(4, str(codes[int(parts[3])]))
        state[key] = source[".".join(parts)]
    net.load_state_dict(state)
    return net


register_model("nb201_supernet", family="supernet")(Supernet)
register_model("nb201_network", family="supernet")(StandaloneNetwork)
