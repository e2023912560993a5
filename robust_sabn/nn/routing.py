"""Branch routing: run a whole model on one branch without threading it through every call.

Third-party callers (torchattacks, AutoAttack, RobustBench) call ``model(x)`` and know nothing of
branches. :func:`use_branch` sets the branch of every multi-branch layer in a model for a block
of code; :func:`fixed_branch` returns a plain module whose ``forward(x)`` always uses one branch
and shares its parameters with the original model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor, nn

from robust_sabn.nn.norm import Branch, SandwichNorm2d


def branch_layers(model: nn.Module) -> list[SandwichNorm2d]:
    """Every layer of the SaBN family inside ``model`` (including ``model`` itself)."""
    return [m for m in model.modules() if isinstance(m, SandwichNorm2d)]


def branch_names(model: nn.Module) -> tuple[str, ...]:
    """The branch names a model's layers share, ``()`` when it has no multi-branch layer.

    Unnamed branches are reported as their indices ("0", "1", ...). A model holding a
    :func:`fixed_branch` view has only the branch the view pins: routing it to any other branch
    would still run the pinned one, so that branch is all it offers.

    Raises:
        ValueError: the model's layers disagree on their branches, or its views pin different
            branches.
    """
    pinned = {m.branch_name for m in model.modules()
              if isinstance(m, BranchView) and _layer_branch_names(m.net)}
    if len(pinned) > 1:
        raise ValueError(f"the model holds views fixed to different branches: {sorted(pinned)}")
    if pinned:
        return (pinned.pop(),)
    return _layer_branch_names(model)


def _layer_branch_names(model: nn.Module) -> tuple[str, ...]:
    """:func:`branch_names` from the layers alone (views not considered)."""
    found = {
        layer.branch_names or tuple(str(i) for i in range(layer.num_branches))
        for layer in branch_layers(model)
        if layer.num_branches > 1
    }
    if len(found) > 1:
        raise ValueError(f"the model's layers have different branches: {sorted(found)}")
    return found.pop() if found else ()


@contextmanager
def use_branch(model: nn.Module, branch: Branch) -> Iterator[nn.Module]:
    """Route every SaBN-family layer of ``model`` to ``branch`` inside the ``with`` block.

    ``branch`` is an int, a branch name, or a LongTensor of shape (N,) for per-sample routing.
    The previous routing is restored on exit, so blocks nest.
    """
    layers = branch_layers(model)
    previous = [layer.routed_branch for layer in layers]
    for layer in layers:
        layer.routed_branch = branch
    try:
        yield model
    finally:
        for layer, old in zip(layers, previous, strict=True):
            layer.routed_branch = old


class BranchView(nn.Module):
    """A module whose ``forward(x)`` runs ``net`` on one fixed branch; parameters are shared.

    A model without multi-branch layers (plain BN) has one branch, so any branch maps to it.

    Its ``train()``/``eval()`` act on the wrapped network, so attacks that switch modes work; a
    new view starts in the network's current mode (torchattacks restores the mode it finds).
    """

    def __init__(self, net: nn.Module, branch: int | str) -> None:
        super().__init__()
        names = branch_names(net)
        if isinstance(branch, str) and names and branch not in names:
            raise ValueError(f"unknown branch {branch!r}; the model's branches are {names}")
        self.net = net
        self.branch = branch
        self.training = net.training

    @property
    def branch_name(self) -> str:
        """The pinned branch's name (an index given for a named branch maps to its name)."""
        if isinstance(self.branch, str):
            return self.branch
        names = _layer_branch_names(self.net)
        return names[self.branch] if 0 <= self.branch < len(names) else str(self.branch)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of ``net`` on the fixed branch for inputs x (N, C, H, W) in [0, 1]."""
        with use_branch(self.net, self.branch):
            return self.net(x)

    def extra_repr(self) -> str:
        return f"branch={self.branch!r}"


def fixed_branch(model: nn.Module, branch: int | str) -> BranchView:
    """A plain ``forward(x)`` view of ``model`` that always uses ``branch``."""
    return BranchView(model, branch)
