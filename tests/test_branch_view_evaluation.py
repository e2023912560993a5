"""Evaluating a ``fixed_branch`` view: its rows are the branch it pins, never another branch
relabelled (the README hands these views out for torchattacks / AutoAttack)."""

from __future__ import annotations

import pytest
import torch
from evaluation_helpers import SyntheticSplit
from torch import Tensor, nn

from robust_sabn.adversarial.record import branch_results
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate import evaluate_model
from robust_sabn.nn import SaAuxBN, branch_names, fixed_branch


class DisagreeingBranches(nn.Module):
    """Two classes; the "clean" branch always answers class 0, the "adv" branch class 1.

    The logits are an SaAuxBN layer's output on a constant feature map (2, 1, 1): with zero
    branch weights the layer returns its branch bias, which is (1, 0) or (0, 1).
    """

    def __init__(self) -> None:
        super().__init__()
        self.norm = SaAuxBN(2, 2, branch_names=("clean", "adv"))
        with torch.no_grad():
            self.norm.branch_affine.copy_(torch.tensor([[0.0, 0.0, 1.0, 0.0],
                                                        [0.0, 0.0, 0.0, 1.0]]))
        self.scale = nn.Parameter(torch.ones(()))  # gives attacks a gradient path

    def forward(self, x: Tensor, branch: str | None = None) -> Tensor:
        features = (self.scale * x.mean(dim=(1, 2, 3))).view(-1, 1, 1, 1).expand(-1, 2, 1, 1)
        return self.norm(features.contiguous(), branch=branch).flatten(1)


def _ones(n: int) -> SyntheticSplit:
    """n grey images all labelled 1: the adv branch is right on all, the clean one on none."""
    return SyntheticSplit(torch.full((n, 1, 4, 4), 128, dtype=torch.uint8),
                          torch.ones(n, dtype=torch.long))


def _clean_accuracy(model: nn.Module, **options: object) -> dict[str, float]:
    record = evaluate_model(model.eval(), _ones(6), attacks=(), n_examples=6, eps=0.0,
                            **options)
    return {branch: entry["clean_accuracy"]
            for branch, entry in branch_results(record).items()}


def test_the_network_itself_gives_each_branch_its_own_row() -> None:
    assert _clean_accuracy(DisagreeingBranches()) == {"clean": 0.0, "adv": 1.0}


@pytest.mark.parametrize(("branch", "expected"), [("adv", {"adv": 1.0}),
                                                  ("clean", {"clean": 0.0}),
                                                  (1, {"adv": 1.0})])
def test_a_view_is_evaluated_as_the_one_branch_it_pins(branch: str | int,
                                                       expected: dict[str, float]) -> None:
    view = fixed_branch(DisagreeingBranches(), branch)
    assert branch_names(view) == tuple(expected)
    assert _clean_accuracy(view) == expected


def test_asking_a_view_for_another_branch_is_refused_with_the_fix() -> None:
    view = fixed_branch(DisagreeingBranches(), "adv")
    with pytest.raises(UserInputError, match=r"unknown branch 'clean'; this model's branches "
                                             r"are adv \(it is a fixed_branch view.*pass the "
                                             r"network itself"):
        _clean_accuracy(view, branches=["clean"])


def test_a_view_of_a_view_on_another_branch_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown branch 'clean'"):
        fixed_branch(fixed_branch(DisagreeingBranches(), "adv"), "clean")


def test_a_model_wrapping_a_view_keeps_the_views_branch() -> None:
    wrapped = nn.Sequential(nn.Identity(), fixed_branch(DisagreeingBranches(), "clean"))
    assert _clean_accuracy(wrapped) == {"clean": 0.0}
