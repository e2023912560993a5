"""Checking and reading evaluation options: eps, threat model, attacks, branches, sizes.

Every check raises :class:`robust_sabn.errors.UserInputError` with one line naming the problem and
the fix, before any model or data is loaded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from torch import nn

from robust_sabn.attacks.autoattack_adapter import (
    check_autoattack_options,
    check_autoattack_version,
)
from robust_sabn.attacks.registry import check_attack_threat_model
from robust_sabn.errors import UserInputError
from robust_sabn.nn import branch_names

THREAT_MODELS = ("Linf", "L2")
SHARED_BRANCH = "shared"
_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


def parse_eps(text: str) -> float:
    """Read an eps written as a number ("0.0314", "3e-2") or a fraction ("8/255").

    Only parses; :func:`check_eps` checks the range.

    Raises:
        UserInputError: the text is neither.
    """
    match = _FRACTION.match(text)
    try:
        value = float(match[1]) / float(match[2]) if match else float(text)
    except (ValueError, ZeroDivisionError):
        raise UserInputError(
            f"cannot read eps {text!r}: write a number such as 0.0314 or a fraction such as 8/255"
        ) from None
    if not math.isfinite(value):
        raise UserInputError(f"eps {text!r} is not finite: write a number such as 0.0314 or 8/255")
    return value


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


def format_eps(eps: float) -> str:
    """eps for people: "0.0314 (8/255)" when it is a whole number of 255ths, else "0.05"."""
    steps = eps * 255
    if eps > 0 and abs(steps - round(steps)) < 1e-6:
        return f"{eps:.4g} ({round(steps)}/255)"
    return f"{eps:.4g}"


def check_threat_model(threat_model: str) -> str:
    """Raise UserInputError unless ``threat_model`` is "Linf" or "L2"."""
    if threat_model not in THREAT_MODELS:
        raise UserInputError(
            f"unknown threat model {threat_model!r}; choose one of {', '.join(THREAT_MODELS)}"
        )
    return threat_model


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
    """``value`` if it is a positive int (or None where allowed); else UserInputError."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserInputError(f"{name} must be a positive whole number, got {value!r}")
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
            raise UserInputError(
                f"unknown branch {branch!r}; this model's branches are {', '.join(available)}"
            )
    return list(dict.fromkeys(branches))
