"""The Sandwich Batch Normalization family as one configurable core.

Every layer here computes ``independent(shared(normalize(x)))``:

* ``normalize``: ``xh = (x - mu) / sqrt(var + eps)`` with statistics that are either shared by
  the whole batch (``stats="batch"``), kept once per branch (``stats="branch"``), or per sample
  and channel (``stats="instance"``, the AdaIN family);
* ``shared``: an optional sandwich affine ``g_s * xh + b_s`` (one ``(C,)`` pair);
* ``independent``: a per-branch affine ``g_k * . + b_k`` read from an embedding table of shape
  ``(K, 2C)``, or, for the AdaIN family, the style features' channel std and mean.

The public layers (:class:`CCBN`, :class:`SaBN`, :class:`AuxBN`, :class:`SaAuxBN`,
:class:`AdaIN`, :class:`SaAdaIN`) are this core with fixed options; plain
:class:`torch.nn.BatchNorm2d` is the BN baseline. Inputs are feature maps of shape (N, C, H, W).

A branch is given per call as an ``int`` (whole batch), a branch name (``"clean"``/``"adv"``),
a ``LongTensor`` of shape (N,) (one branch per sample), or :class:`BranchSegments`
(consecutive blocks of the batch, each on its own branch with its own batch statistics: one
forward computes what separate forwards of the blocks compute). When no branch is passed, the
branch set by :func:`robust_sabn.nn.use_branch` on the enclosing model is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.vocabulary import ADV_BRANCH_NAMES


@dataclass(frozen=True)
class BranchSegments:
    """A batch made of consecutive blocks: the first ``sizes[0]`` samples on ``branches[0]``,
    the next ``sizes[1]`` on ``branches[1]``, and so on.

    Every block is normalised with its own batch statistics (updating its branch's running
    statistics in training), exactly as if the blocks went through the model one after the
    other; the layers between norms see one batch. Used by the fused clean + adversarial forward
    of the hybrid loss (``TrainConfig.fused_branches``).
    """

    branches: tuple[int | str, ...]
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.branches) != len(self.sizes) or not self.sizes:
            raise ValueError(f"branch segments need one size per branch, got {self.branches} "
                             f"and {self.sizes}")
        if min(self.sizes) < 1:
            raise ValueError(f"branch segment sizes must be positive, got {self.sizes}")


Branch = int | str | Tensor | BranchSegments
Stats = Literal["batch", "branch", "instance"]



class SandwichNorm2d(nn.Module):
    """Configurable normalization core of the SaBN family.

    Args:
        num_features: channel count C of the (N, C, H, W) input.
        num_branches: number K of independent affines (and of statistics sets when
            ``stats="branch"``). Ignored for ``stats="instance"``, whose independent affine
            comes from a style input.
        stats: ``"batch"`` (one set of batch statistics), ``"branch"`` (one set per branch) or
            ``"instance"`` (per sample and channel, AdaIN).
        shared_affine: whether the sandwich affine ``(g_s, b_s)`` is present.
        branch_affine: whether per-branch affines ``(g_k, b_k)`` are present (batch statistics).
        branch_names: optional names for the branches, in index order.
        shared_init_std: ``g_s`` is drawn from N(1, shared_init_std); 0 gives exactly 1.
        branch_init_std: ``g_k`` is drawn from N(1, branch_init_std); ``b_k`` starts at 0.
        eps: added to the variance before the square root.
        momentum: running-statistics momentum, as in :class:`torch.nn.BatchNorm2d`.
    """

    def __init__(
        self,
        num_features: int,
        num_branches: int = 1,
        *,
        stats: Stats = "batch",
        shared_affine: bool = True,
        branch_affine: bool = True,
        branch_names: tuple[str, ...] | None = None,
        shared_init_std: float = 0.02,
        branch_init_std: float = 0.02,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if stats not in ("batch", "branch", "instance"):
            raise ValueError(f"stats must be 'batch', 'branch' or 'instance', got {stats!r}")
        if num_branches < 1:
            raise ValueError(f"num_branches must be >= 1, got {num_branches}")
        if branch_names is not None and len(branch_names) != num_branches:
            raise ValueError(
                f"{len(branch_names)} branch names given for {num_branches} branches"
            )
        self.num_features = num_features
        self.num_branches = 1 if stats == "instance" else num_branches
        self.stats = stats
        self.eps = eps
        self.momentum = momentum
        self.branch_names = branch_names
        self.shared_init_std = shared_init_std
        self.branch_init_std = branch_init_std
        self.routed_branch: Branch | None = None
        if shared_affine:
            self.shared_weight = nn.Parameter(torch.ones(num_features))
            self.shared_bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("shared_weight", None)
            self.register_parameter("shared_bias", None)
        if branch_affine and stats != "instance":
            self.branch_affine = nn.Parameter(torch.zeros(self.num_branches, 2 * num_features))
        else:
            self.register_parameter("branch_affine", None)
        if stats != "instance":
            n_sets = self.num_branches if stats == "branch" else 1
            self.register_buffer("running_mean", torch.zeros(n_sets, num_features))
            self.register_buffer("running_var", torch.ones(n_sets, num_features))
            self.register_buffer("num_batches_tracked", torch.zeros(n_sets, dtype=torch.long))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as the authors do: ``g ~ N(1, std)``, ``b = 0``; statistics reset."""
        if self.shared_weight is not None:
            nn.init.normal_(self.shared_weight, 1.0, self.shared_init_std)
            nn.init.zeros_(self.shared_bias)
        if self.branch_affine is not None:
            with torch.no_grad():
                c = self.num_features
                nn.init.normal_(self.branch_affine[:, :c], 1.0, self.branch_init_std)
                self.branch_affine[:, c:].zero_()
        if self.stats != "instance":
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, num_branches={self.num_branches}, stats={self.stats!r}, "
            f"shared_affine={self.shared_weight is not None}, "
            f"branch_affine={self.branch_affine is not None}"
        )

    def resolve_branch(self, branch: Branch | None, batch_size: int) -> int | Tensor:
        """Turn a branch argument into an int index or a LongTensor of shape (N,).

        Raises:
            ValueError: no branch given where several exist, an unknown name, an index out of
                range, or a tensor whose length is not the batch size, that does not hold
                integers, or that holds an index out of range.
        """
        if branch is None:
            branch = self.routed_branch
        if branch is None:
            if self.num_branches == 1:
                return 0
            raise ValueError(
                f"{type(self).__name__} has {self.num_branches} branches and none was given: "
                "pass branch=... or wrap the call in robust_sabn.nn.use_branch(model, ...)"
            )
        if isinstance(branch, str):
            if self.branch_names is None or branch not in self.branch_names:
                raise ValueError(
                    f"unknown branch name {branch!r}; this layer's branches are "
                    f"{self.branch_names or tuple(range(self.num_branches))}"
                )
            return self.branch_names.index(branch)
        if isinstance(branch, Tensor):
            if branch.dim() == 0:
                branch = int(branch.item())
            else:
                if branch.shape != (batch_size,):
                    raise ValueError(
                        f"per-sample branch tensor must have shape ({batch_size},), "
                        f"got {tuple(branch.shape)}"
                    )
                if branch.is_floating_point() or branch.is_complex():
                    raise ValueError(
                        f"per-sample branch tensor must hold integers, got {branch.dtype}"
                    )
                if bool(((branch < 0) | (branch >= self.num_branches)).any()):
                    raise ValueError(
                        f"per-sample branch tensor has indices {sorted(set(branch.tolist()))}, "
                        f"out of range for {self.num_branches} branches"
                    )
                return branch.long()
        if not 0 <= int(branch) < self.num_branches:
            raise ValueError(f"branch {branch} out of range for {self.num_branches} branches")
        return int(branch)

    def combined_affine(self, branch: int | Tensor) -> tuple[Tensor | None, Tensor | None]:
        """Fuse sandwich and branch affines: ``g = g_k*g_s``, ``b = g_k*b_s + b_k``.

        Returns tensors of shape (C,) for an int branch, (N, C) for a per-sample tensor.
        """
        weight, bias = self.shared_weight, self.shared_bias
        if self.branch_affine is None:
            return weight, bias
        row = self.branch_affine[branch]
        g_k, b_k = row[..., : self.num_features], row[..., self.num_features :]
        if weight is None:
            return g_k, b_k
        return g_k * weight, g_k * bias + b_k

    def _batch_stats_norm(self, x: Tensor, stats_set: int, weight: Tensor | None,
                          bias: Tensor | None) -> Tensor:
        track = self.training
        if track:
            self.num_batches_tracked[stats_set] += 1
        return F.batch_norm(
            x, self.running_mean[stats_set], self.running_var[stats_set], weight, bias,
            self.training, self.momentum, self.eps,
        )

    def forward(self, x: Tensor, branch: Branch | None = None, style: Tensor | None = None
                ) -> Tensor:
        """Normalize ``x`` (N, C, H, W) on ``branch``; ``style`` (N, C, H', W') for AdaIN kinds."""
        if self.stats == "instance":
            return self._forward_instance(x, style)
        segments = self.routed_branch if branch is None else branch
        if isinstance(segments, BranchSegments):
            return self._forward_segments(x, segments)
        k = self.resolve_branch(branch, x.shape[0])
        weight, bias = self.combined_affine(k)
        if isinstance(k, int):
            return self._batch_stats_norm(x, k if self.stats == "branch" else 0, weight, bias)
        if self.stats == "batch":
            xh = self._batch_stats_norm(x, 0, None, None)
        elif self.training:
            xh = torch.empty_like(x)
            for b in torch.unique(k).tolist():
                idx = (k == b).nonzero(as_tuple=True)[0]
                xh[idx] = self._batch_stats_norm(x[idx], b, None, None)
        else:
            mean = self.running_mean[k][:, :, None, None]
            var = self.running_var[k][:, :, None, None]
            xh = (x - mean) * torch.rsqrt(var + self.eps)
        if weight is None:
            return xh
        if weight.dim() == 2:
            return xh * weight[:, :, None, None] + bias[:, :, None, None]
        return xh * weight[None, :, None, None] + bias[None, :, None, None]

    def _forward_segments(self, x: Tensor, segments: BranchSegments) -> Tensor:
        """Each block of ``x`` (N, C, H, W) normalised on its branch, as separate calls would."""
        if sum(segments.sizes) != x.shape[0]:
            raise ValueError(f"branch segments of sizes {segments.sizes} do not add up to the "
                             f"batch of {x.shape[0]}")
        parts = []
        for part, branch in zip(x.split(segments.sizes), segments.branches, strict=True):
            k = self.resolve_branch(branch, part.shape[0])
            assert isinstance(k, int)
            weight, bias = self.combined_affine(k)
            parts.append(self._batch_stats_norm(part, k if self.stats == "branch" else 0,
                                                weight, bias))
        return torch.cat(parts)

    def _forward_instance(self, x: Tensor, style: Tensor | None) -> Tensor:
        if style is None:
            raise ValueError(
                f"{type(self).__name__} needs a style feature map: call layer(x, style=s)"
            )
        if style.shape[:2] != x.shape[:2]:
            raise ValueError(
                f"style shape {tuple(style.shape)} does not match content {tuple(x.shape)} "
                "in batch size and channels"
            )
        s_mean, s_std = channel_mean_std(style, self.eps)
        xh = F.instance_norm(x, eps=self.eps)
        if self.shared_weight is not None:
            g_s, b_s = self.shared_weight, self.shared_bias
            xh = xh * g_s[None, :, None, None] + b_s[None, :, None, None]
        return xh * s_std + s_mean


def channel_mean_std(x: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-sample channel mean and std of (N, C, H, W) features, each shaped (N, C, 1, 1).

    The std is ``sqrt(biased var + eps)``, the convention of AdaIN.
    """
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, unbiased=False)
    return mean, torch.sqrt(var + eps)


class CCBN(SandwichNorm2d):
    """Categorical conditional BN: shared statistics, per-branch affine ``g_k*xh + b_k``."""

    def __init__(self, num_features: int, num_branches: int, **kwargs: object) -> None:
        super().__init__(num_features, num_branches, stats="batch", shared_affine=False, **kwargs)


class SaBN(SandwichNorm2d):
    """Sandwich BN: shared statistics, ``g_k*(g_s*xh + b_s) + b_k``."""

    def __init__(self, num_features: int, num_branches: int, **kwargs: object) -> None:
        super().__init__(num_features, num_branches, stats="batch", shared_affine=True, **kwargs)


class AuxBN(SandwichNorm2d):
    """Auxiliary BN (AdvProp): statistics and affine per branch, ``g_k*xh_k + b_k``.

    Defaults to two branches named ``("clean", "adv")``.
    """

    def __init__(self, num_features: int, num_branches: int = 2, **kwargs: object) -> None:
        kwargs.setdefault("branch_names", ADV_BRANCH_NAMES if num_branches == 2 else None)
        super().__init__(num_features, num_branches, stats="branch", shared_affine=False, **kwargs)


class SaAuxBN(SandwichNorm2d):
    """Sandwich auxiliary BN: statistics per branch, ``g_k*(g_s*xh_k + b_s) + b_k``.

    Defaults to two branches named ``("clean", "adv")``.
    """

    def __init__(self, num_features: int, num_branches: int = 2, **kwargs: object) -> None:
        kwargs.setdefault("branch_names", ADV_BRANCH_NAMES if num_branches == 2 else None)
        super().__init__(num_features, num_branches, stats="branch", shared_affine=True, **kwargs)


class AdaIN(SandwichNorm2d):
    """Adaptive instance normalization: ``std(s)*xh + mean(s)``, no learned parameters."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__(num_features, stats="instance", shared_affine=False, eps=eps)


class SaAdaIN(SandwichNorm2d):
    """Sandwich AdaIN: ``std(s)*(g_s*xh + b_s) + mean(s)``; ``g_s`` starts at exactly 1."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__(
            num_features, stats="instance", shared_affine=True, shared_init_std=0.0, eps=eps
        )
