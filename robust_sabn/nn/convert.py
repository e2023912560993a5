"""``convert_norm``: swap every ``nn.BatchNorm2d`` of any model for a layer of the SaBN family."""

from __future__ import annotations

import torch
from torch import nn

from robust_sabn.nn.norm import ADV_BRANCH_NAMES, CCBN, AuxBN, SaAuxBN, SaBN, SandwichNorm2d
from robust_sabn.vocabulary import NORM_KINDS

_LAYERS: dict[str, type[SandwichNorm2d]] = {
    "ccbn": CCBN, "sabn": SaBN, "auxbn": AuxBN, "saauxbn": SaAuxBN,
}


def make_norm(kind: str, num_features: int, num_branches: int = 2) -> nn.Module:
    """A fresh norm layer of ``kind`` for ``num_features`` channels.

    Two-branch layers are named ``("clean", "adv")``. ``"bn"`` gives ``nn.BatchNorm2d``.

    Raises:
        ValueError: unknown kind.
    """
    if kind == "bn":
        return nn.BatchNorm2d(num_features)
    if kind not in _LAYERS:
        raise ValueError(f"unknown norm kind {kind!r}; choose one of {', '.join(NORM_KINDS)}")
    names = ADV_BRANCH_NAMES if num_branches == 2 else None
    return _LAYERS[kind](num_features, num_branches, branch_names=names)


@torch.no_grad()
def _carry_over(bn: nn.BatchNorm2d, new: SandwichNorm2d) -> None:
    """Copy running statistics into every statistics set and the affine where it fits.

    With a sandwich affine, the BN affine becomes the shared one and every branch affine is
    set neutral (1, 0); without one, each branch affine takes the BN affine. The eval-mode output
    on any branch then equals the BN layer's output.
    """
    if bn.track_running_stats and bn.running_mean is not None:
        new.running_mean.copy_(bn.running_mean.expand_as(new.running_mean))
        new.running_var.copy_(bn.running_var.expand_as(new.running_var))
        new.num_batches_tracked.fill_(int(bn.num_batches_tracked))
    if not bn.affine:
        return
    c = new.num_features
    if new.shared_weight is not None:
        new.shared_weight.copy_(bn.weight)
        new.shared_bias.copy_(bn.bias)
        new.branch_affine[:, :c].fill_(1.0)
        new.branch_affine[:, c:].zero_()
    else:
        new.branch_affine[:, :c].copy_(bn.weight.expand(new.num_branches, c))
        new.branch_affine[:, c:].copy_(bn.bias.expand(new.num_branches, c))


def convert_norm(model: nn.Module, kind: str, num_branches: int = 2) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` in ``model`` (in place) by a ``kind`` layer; return it.

    Running statistics and affine values carry over (see :func:`_carry_over`), and the new
    layers take the device and dtype of the old ones. Run the result on one branch with
    :func:`robust_sabn.nn.use_branch` or :func:`robust_sabn.nn.fixed_branch`.
    """
    if kind == "bn":
        return model
    if kind not in _LAYERS:
        raise ValueError(f"unknown norm kind {kind!r}; choose one of {', '.join(NORM_KINDS)}")
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm2d):
            new = make_norm(kind, child.num_features, num_branches)
            new.eps, new.momentum = child.eps, child.momentum if child.momentum is not None else 0.1
            ref = child.weight if child.affine else child.running_mean
            if ref is not None:
                new.to(device=ref.device, dtype=ref.dtype)
            _carry_over(child, new)
            setattr(model, name, new)
        else:
            convert_norm(child, kind, num_branches)
    return model
