"""Attack registry: evaluation attacks by name, each built as a uniform ``attack(x, y) -> x_adv``.

Every attack takes a plain ``forward(x)`` model (use :func:`robust_sabn.nn.fixed_branch` for a
branch model) on images (N, C, H, W) in [0, 1], eps on the [0, 1] pixel scale (an L2 distance in
that scale for L2 attacks), runs in eval mode and restores the model's modes.

    >>> attack = make_attack("pgd", fixed_branch(model, "adv"), eps=8 / 255, steps=20)
    >>> x_adv = attack(x, y)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from robust_sabn.attacks import torchattacks_adapter as ta
from robust_sabn.attacks.autoattack_adapter import AutoAttackAttack
from robust_sabn.errors import UserInputError

Attack = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class AttackInfo:
    """A registered attack.

    Attributes:
        name: registry name ("pgd", "autoattack", ...).
        threat_models: the norms it attacks in ("Linf", "L2").
        iterative: whether ``steps`` and ``step_size`` apply.
        description: one line for listings.
    """

    name: str
    threat_models: tuple[str, ...]
    iterative: bool
    description: str


ATTACKS: dict[str, AttackInfo] = {
    info.name: info
    for info in (
        AttackInfo("pgd", ("Linf",), True,
                   "L-inf PGD with random start (torchattacks.PGD), step 2.5*eps/steps"),
        AttackInfo("pgd-l2", ("L2",), True,
                   "L2 PGD with random start (torchattacks.PGDL2), step 2.5*eps/steps"),
        AttackInfo("fgsm", ("Linf",), False, "one signed-gradient step of size eps (torchattacks)"),
        AttackInfo("cw", ("Linf",), True, "L-inf PGD on the Carlini-Wagner margin loss (CW-inf)"),
        AttackInfo("autoattack", ("Linf", "L2"), False,
                   "AutoAttack cascade (pyautoattack): standard, plus, rand or custom"),
    )
}


def list_attacks() -> list[str]:
    """Names of every registered attack, in registry order."""
    return list(ATTACKS)


def get_attack_info(name: str) -> AttackInfo:
    """The :class:`AttackInfo` of ``name``.

    Raises:
        UserInputError: ``name`` is not registered.
    """
    if name not in ATTACKS:
        raise UserInputError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    return ATTACKS[name]


def check_attack_threat_model(name: str, threat_model: str) -> None:
    """Raise UserInputError unless attack ``name`` exists and works in ``threat_model``."""
    info = get_attack_info(name)
    if threat_model not in info.threat_models:
        fits = [a.name for a in ATTACKS.values() if threat_model in a.threat_models]
        raise UserInputError(
            f"attack {name!r} works in {'/'.join(info.threat_models)}, not {threat_model!r}; "
            f"for {threat_model} choose from {', '.join(fits) or 'none'}"
        )


def attack_key(name: str, *, steps: int = 20, version: str = "standard") -> str:
    """The record key of an attack's robust accuracy: "pgd-20", "fgsm", "autoattack-standard"."""
    info = get_attack_info(name)
    if name == "autoattack":
        return f"autoattack-{version}"
    return f"{name}-{steps}" if info.iterative else name


def make_attack(
    name: str,
    model: nn.Module,
    *,
    eps: float,
    threat_model: str = "Linf",
    steps: int = 20,
    step_size: float | None = None,
    random_start: bool = True,
    version: str = "standard",
    autoattack_attacks: Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> Attack:
    """Build attack ``name`` on ``model``: a callable ``attack(x, y) -> x_adv``.

    Args:
        name: one of :func:`list_attacks`.
        model: maps images (N, C, H, W) in [0, 1] to logits (N, K).
        eps: radius, [0, 1] pixel scale (L-inf) or L2 distance in that scale (L2).
        threat_model: "Linf" or "L2"; must be one the attack works in.
        steps, step_size, random_start: for iterative attacks; step size defaults to
            2.5 * eps / steps.
        version, autoattack_attacks, seed, batch_size: for "autoattack" (see
            :func:`robust_sabn.attacks.autoattack_adapter.run_autoattack`); torchattacks
            attacks draw their random starts from torch's global generator instead.

    Raises:
        UserInputError: unknown attack, threat model the attack does not cover, AutoAttack
            version or AutoAttack attack.
    """
    check_attack_threat_model(name, threat_model)
    if name == "autoattack":
        return AutoAttackAttack(model, eps=eps, version=version, attacks=autoattack_attacks,
                                norm=threat_model, seed=seed, batch_size=batch_size)
    if name == "fgsm":
        return ta.fgsm(model, eps=eps)
    builder = {"pgd": ta.pgd_linf, "pgd-l2": ta.pgd_l2, "cw": ta.cw_linf}[name]
    return builder(model, eps=eps, steps=steps, step_size=step_size, random_start=random_start)
