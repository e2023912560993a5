"""The Sandwich Batch Normalization family, branch routing, and ``convert_norm``."""

from robust_sabn.nn.collapse import collapse_branch
from robust_sabn.nn.convert import NORM_KINDS, convert_norm, make_norm
from robust_sabn.nn.norm import (
    ADV_BRANCH_NAMES,
    CCBN,
    AdaIN,
    AuxBN,
    Branch,
    BranchSegments,
    SaAdaIN,
    SaAuxBN,
    SaBN,
    SandwichNorm2d,
    channel_mean_std,
)
from robust_sabn.nn.routing import BranchView, branch_layers, branch_names, fixed_branch, use_branch

__all__ = [
    "ADV_BRANCH_NAMES",
    "CCBN",
    "NORM_KINDS",
    "AdaIN",
    "AuxBN",
    "Branch",
    "BranchSegments",
    "BranchView",
    "SaAdaIN",
    "SaAuxBN",
    "SaBN",
    "SandwichNorm2d",
    "branch_layers",
    "branch_names",
    "channel_mean_std",
    "collapse_branch",
    "convert_norm",
    "fixed_branch",
    "make_norm",
    "use_branch",
]
