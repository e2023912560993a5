"""Checking and reading evaluation options: eps, threat model, attacks, branches, sizes.

Every check raises :class:`robust_sabn.errors.UserInputError` with one line naming the problem and
the fix, before any model or data is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from robust_sabn.attacks.autoattack_adapter import (
    check_autoattack_options,
    check_autoattack_version,
)
from robust_sabn.attacks.registry import check_attack_threat_model
from robust_sabn.errors import UserInputError
from robust_sabn.nn import BranchView, branch_names
from robust_sabn.units import check_threat_model

SHARED_BRANCH = "shared"


def check_eps(eps: float, threat_model: str = "Linf") -> float:
    """``eps`` as a float, checked: in [0, 1] for L-inf (the [0, 1] pixel scale), >= 0 for L2.

    Raises:
        UserInputError: eps out of range (most often 8 meant as 8/255).
    """
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise UserInputError(
            f"eps {eps} is negative or not finite: give a radius >= 0 such as 8/255"
        )
    if threat_model == "Linf" and eps > 1:
        raise UserInputError(
            f"eps {eps} is outside [0, 1]: eps is on the [0, 1] pixel scale; "
            f"for {eps:g}/255 write {eps / 255:.4f} or {eps:g}/255"
        )
    return eps


def check_attacks(attacks: Sequence[str], threat_model: str, version: str,
                  autoattack_attacks: Sequence[str] | None) -> list[str]:
    """The attack list, checked against the registry, the threat model and AutoAttack's options.

    An empty list is valid (clean accuracy only).

    Raises:
        UserInputError: a repeat, an unknown attack, one outside the threat model, or an unknown
            AutoAttack version or attack.
    """
    check_threat_model(threat_model)
    attacks = [attacks] if isinstance(attacks, str) else list(attacks)
    if len(set(attacks)) != len(attacks):
        raise UserInputError(f"attack list {attacks} repeats an attack; name each once")
    for name in attacks:
        check_attack_threat_model(name, threat_model)
    check_autoattack_version(version)
    if "autoattack" in attacks:
        check_autoattack_options(version, autoattack_attacks, threat_model)
    return attacks


def check_positive(name: str, value: int | None, *, allow_none: bool = False) -> int | None:
    """``value`` if it is a positive int (or None where allowed); else UserInputError.

    The message names both the Python argument and its CLI option (``n_examples``,
    ``--n-examples``).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        option = "--" + name.replace("_", "-")
        raise UserInputError(f"{name} ({option}) must be a positive whole number, got {value!r}")
    return value


def resolve_branches(model: nn.Module, branches: Sequence[str] | None) -> list[str]:
    """The branches to evaluate: all of the model's, or the ``branches`` given, checked.

    A model without multi-branch layers has the single branch "shared".

    Raises:
        UserInputError: a branch the model does not have.
    """
    available = list(branch_names(model)) or [SHARED_BRANCH]
    if branches is None:
        return available
    if isinstance(branches, str):
        branches = [branches]
    for branch in branches:
        if branch not in available:
            view = any(isinstance(m, BranchView) for m in model.modules())
            raise UserInputError(
                f"unknown branch {branch!r}; this model's branches are {', '.join(available)}"
                + (" (it is a fixed_branch view of one branch: pass the network itself to "
                   "evaluate the others)" if view else "")
            )
    return list(dict.fromkeys(branches))
