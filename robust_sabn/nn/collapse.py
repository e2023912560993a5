"""``collapse_branch``: a plain-BN copy of a multi-branch model that computes one branch.

In eval mode a SaBN-family layer with batch or branch statistics on a fixed branch ``k`` is a
BatchNorm with fixed numbers: the running statistics of ``k`` (``stats="branch"``) or the shared
ones (``stats="batch"``), and the fused affine ``g = g_k*g_s``, ``b = g_k*b_s + b_k`` (or whichever
parts the layer has). Writing those into an ``nn.BatchNorm2d`` gives a model any BN code can load
(RobustBench's zoo, ``torch.load`` of a state dict into ``ModelSpec(..., norm="bn").build()``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from robust_sabn.nn.norm import SandwichNorm2d
from robust_sabn.nn.routing import branch_names


@torch.no_grad()
def _as_batchnorm(layer: SandwichNorm2d, branch: int | str) -> nn.BatchNorm2d:
    """The ``nn.BatchNorm2d`` equal in eval mode to ``layer`` on ``branch``."""
    k = 0 if layer.num_branches == 1 else int(layer.resolve_branch(branch, 1))
    stats_set = k if layer.stats == "branch" else 0
    weight, bias = layer.combined_affine(k)
    ref = layer.running_mean
    bn = nn.BatchNorm2d(
        layer.num_features, eps=layer.eps, momentum=layer.momentum, affine=weight is not None,
        device=ref.device, dtype=ref.dtype,
    )
    bn.running_mean.copy_(layer.running_mean[stats_set])
    bn.running_var.copy_(layer.running_var[stats_set])
    bn.num_batches_tracked.copy_(layer.num_batches_tracked[stats_set])
    if weight is not None:
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
    bn.train(layer.training)
    return bn


def collapse_branch(model: nn.Module, branch: int | str) -> nn.Module:
    """A deep copy of ``model`` with every SaBN-family layer replaced by an ``nn.BatchNorm2d``.

    Each new layer holds ``branch``'s running statistics and the fused affine of that branch, so
    the copy's eval-mode ``forward(x)`` equals ``fixed_branch(model, branch)(x)`` bit for bit
    (both call ``F.batch_norm`` with the same tensors). A model without multi-branch layers is
    copied unchanged (any branch maps to its only one). ``model`` itself is not modified; the
    copy keeps each module's train/eval mode.

    Args:
        model: a classifier whose norms are ``nn.BatchNorm2d`` or SaBN-family layers with batch
            or branch statistics (CCBN, SaBN, AuxBN, SaAuxBN).
        branch: a branch name (``"clean"``, ``"adv"``) or index.

    Raises:
        ValueError: an unknown branch, or an instance-statistics layer (AdaIN, SaAdaIN), which
            has no BatchNorm equivalent.
    """
    names = branch_names(model)
    if isinstance(branch, str) and names and branch not in names:
        raise ValueError(f"unknown branch {branch!r}; the model's branches are {names}")
    collapsed = copy.deepcopy(model)
    targets = [
        (name, module) for name, module in collapsed.named_modules()
        if isinstance(module, SandwichNorm2d)
    ]
    for name, layer in targets:
        if layer.stats == "instance":
            raise ValueError(
                f"layer {name!r} ({type(layer).__name__}) uses instance statistics and has no "
                "BatchNorm equivalent; collapse_branch handles CCBN, SaBN, AuxBN and SaAuxBN"
            )
    for name, layer in targets:
        replacement = _as_batchnorm(layer, branch)
        if not name:
            return replacement
        parent_name, _, attr = name.rpartition(".")
        setattr(collapsed.get_submodule(parent_name), attr, replacement)
    return collapsed
