"""Candidate operations of the NAS-Bench-201 cell with a configurable normalization.

Every operation is called as ``op(x, branch)`` with x of shape (N, C, H, W) and ``branch`` the
normalization branch of its edge (see :func:`robust_sabn.nas.space.branch_index`); only the conv
operations use it. Normalization layers come from the one core in :mod:`robust_sabn.nn`:

* ``bn``: batch statistics, no affine (NAS-Bench-201's search setting ``affine=False``), or with
  one affine (``affine=True``, the setting NAS-Bench-201 trains its cells with);
* ``bn_affine``: ``bn`` with its one affine in the supernet too, the control arm that separates
  "SaBN helps" from "having an affine helps";
* ``ccbn``: batch statistics, K branch affines;
* ``saauxbn``: statistics per branch, a shared sandwich affine and K branch affines, with
  K = 5**source (the authors' NAS "SaBN"; SaAuxBN in this project's words, where ``sabn``
  shares its statistics; ``sabn`` was this kind's old name, see
  :data:`robust_sabn.nas.plugin.RENAMED_NAS_NORMS`).
"""

from __future__ import annotations

from torch import Tensor, nn

from robust_sabn.nas.plugin import NAS_NORMS
from robust_sabn.nn import SandwichNorm2d


def make_cell_norm(kind: str, channels: int, branches: int, *, affine: bool = False
                   ) -> SandwichNorm2d:
    """The norm layer of a conv op: ``kind`` in :data:`NAS_NORMS` with ``branches`` branches.

    ``affine`` applies to ``bn`` only (``ccbn``/``saauxbn`` always have branch affines).

    Raises:
        ValueError: unknown kind.
    """
    if kind in ("bn", "bn_affine"):
        return SandwichNorm2d(channels, 1, stats="batch",
                              shared_affine=affine or kind == "bn_affine",
                              branch_affine=False, shared_init_std=0.0)
    if kind == "ccbn":
        return SandwichNorm2d(channels, branches, stats="batch", shared_affine=False)
    if kind == "saauxbn":
        return SandwichNorm2d(channels, branches, stats="branch", shared_affine=True)
    raise ValueError(f"unknown NAS norm kind {kind!r}; choose one of {', '.join(NAS_NORMS)}")


class ReLUConvNorm(nn.Module):
    """ReLU, conv (no bias), norm on the edge's branch: (N, C_in, H, W) -> (N, C_out, H', W')."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 norm: SandwichNorm2d) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.norm = norm

    def forward(self, x: Tensor, branch: int = 0) -> Tensor:
        """A single-branch norm (``bn``) is the same for every branch."""
        return self.norm(self.conv(self.relu(x)), branch if self.norm.num_branches > 1 else 0)


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like x."""

    def forward(self, x: Tensor, branch: int = 0) -> Tensor:
        return x.mul(0.0)


class Identity(nn.Module):
    """The ``skip_connect`` op inside a cell (stride 1, same width)."""

    def forward(self, x: Tensor, branch: int = 0) -> Tensor:
        return x


class AvgPool3x3(nn.Module):
    """The ``avg_pool_3x3`` op: 3x3 average, stride 1, padding 1, padding not counted."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: Tensor, branch: int = 0) -> Tensor:
        return self.pool(x)


def make_op(name: str, channels: int, norm: str, branches: int, *, affine: bool = False
            ) -> nn.Module:
    """Candidate op ``name`` of a cell of width ``channels`` (stride 1).

    Raises:
        ValueError: unknown op or norm kind.
    """
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    if name in ("nor_conv_1x1", "nor_conv_3x3"):
        kernel = 1 if name == "nor_conv_1x1" else 3
        layer = make_cell_norm(norm, channels, branches, affine=affine)
        return ReLUConvNorm(channels, channels, kernel, 1, kernel // 2, layer)
    raise ValueError(f"unknown op {name!r}")


class ResidualReduction(nn.Module):
    """NAS-Bench-201's reduction block between stages: a stride-2 ResNet basic block.

    (N, C_in, H, W) -> (N, C_out, ceil(H/2), ceil(W/2)); its norms are BN with affine.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvNorm(c_in, c_out, 3, 2, 1, make_cell_norm("bn", c_out, 1,
                                                                         affine=True))
        self.conv_b = ReLUConvNorm(c_out, c_out, 3, 1, 1, make_cell_norm("bn", c_out, 1,
                                                                          affine=True))
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, padding=0, ceil_mode=True),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))
