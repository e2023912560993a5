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
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from robust_sabn.attacks import torchattacks_adapter as ta
from robust_sabn.attacks.autoattack_adapter import (
    AUTOATTACK_PRESETS,
    AutoAttackAttack,
    CascadeStep,
    CascadeWatcher,
)
from robust_sabn.errors import UserInputError

Attack = Callable[[Tensor, Tensor], Tensor]


@runtime_checkable
class WholeSetAttack(Protocol):
    """An attack that scores a whole set at once and explains its result (AutoAttack: the
    cascade and its sanity flags); others are scored batch by batch. Its run is a cascade of
    steps that a watcher sees and that a later call can continue from."""

    def evaluate(self, x: Tensor, y: Tensor, *, watcher: CascadeWatcher | None = None,
                 done_steps: Sequence[CascadeStep] = ()) -> tuple[float, dict[str, Any]]:
        """Robust accuracy on (x, y) and the JSON details of the run."""
        ...


@dataclass(frozen=True)
class AttackInfo:
    """A registered attack: what it is, how it names its record key and settings, how it is
    built.

    Attributes:
        name: registry name ("pgd", "autoattack", ...).
        threat_models: the norms it attacks in ("Linf", "L2").
        iterative: whether ``steps`` and ``step_size`` apply (its key then ends in ``-k``).
        description: one line for listings.
        build: ``build(model, *, eps, threat_model, steps, step_size, random_start, version,
            autoattack_attacks, seed, batch_size) -> attack(x, y) -> x_adv``.
        versioned: whether its key names the version (AutoAttack: ``autoattack-standard``).
    """

    name: str
    threat_models: tuple[str, ...]
    iterative: bool
    description: str
    build: Callable[..., Attack]
    versioned: bool = False

    def key(self, *, steps: int, version: str) -> str:
        """The record key of its robust accuracy: ``pgd-20``, ``fgsm``,
        ``autoattack-standard``."""
        if self.versioned:
            return f"{self.name}-{version}"
        return f"{self.name}-{steps}" if self.iterative else self.name

    def settings(self, *, eps: float, steps: int, step_size: float | None, version: str,
                 autoattack_attacks: Sequence[str] | None) -> dict[str, Any]:
        """What the record says it ran with (steps and step size, or version and cascade)."""
        entry: dict[str, Any] = {"attack": self.name}
        if self.versioned:
            preset = AUTOATTACK_PRESETS.get(version, autoattack_attacks or ())
            entry.update(version=version, attacks=list(preset))
        elif self.iterative:
            step = ta.default_step_size(eps, steps) if step_size is None else step_size
            entry.update(steps=steps, step_size=step, random_start=True)
        return entry


def _torchattacks(builder: Callable[..., Attack]) -> Callable[..., Attack]:
    """A table ``build`` for a k-step torchattacks adapter."""
    def build(model: nn.Module, *, eps: float, steps: int, step_size: float | None,
              random_start: bool, **_: Any) -> Attack:
        return builder(model, eps=eps, steps=steps, step_size=step_size,
                       random_start=random_start)
    return build


def _fgsm(model: nn.Module, *, eps: float, **_: Any) -> Attack:
    return ta.fgsm(model, eps=eps)


def _autoattack(model: nn.Module, *, eps: float, threat_model: str, version: str,
                autoattack_attacks: Sequence[str] | None, seed: int, batch_size: int,
                **_: Any) -> Attack:
    return AutoAttackAttack(model, eps=eps, version=version, attacks=autoattack_attacks,
                            norm=threat_model, seed=seed, batch_size=batch_size)


ATTACKS: dict[str, AttackInfo] = {
    info.name: info
    for info in (
        AttackInfo("pgd", ("Linf",), True,
                   "L-inf PGD with random start (torchattacks.PGD), step 2.5*eps/steps",
                   _torchattacks(ta.pgd_linf)),
        AttackInfo("pgd-l2", ("L2",), True,
                   "L2 PGD with random start (torchattacks.PGDL2), step 2.5*eps/steps",
                   _torchattacks(ta.pgd_l2)),
        AttackInfo("fgsm", ("Linf",), False, "one signed-gradient step of size eps (torchattacks)",
                   _fgsm),
        AttackInfo("cw", ("Linf",), True, "L-inf PGD on the Carlini-Wagner margin loss (CW-inf)",
                   _torchattacks(ta.cw_linf)),
        AttackInfo("autoattack", ("Linf", "L2"), False,
                   "AutoAttack cascade (pyautoattack): standard, plus, rand or custom",
                   _autoattack, versioned=True),
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
            f"attack {name!r} works in {'/'.join(info.threat_models)}, not {threat_model!r}: "
            f"evaluate in {info.threat_models[0]} (threat_model, --threat-model "
            f"{info.threat_models[0]}), or for {threat_model} choose from "
            f"{', '.join(fits) or 'none'}"
        )


def attack_key(name: str, *, steps: int = 20, version: str = "standard") -> str:
    """The record key of an attack's robust accuracy: "pgd-20", "fgsm", "autoattack-standard"."""
    return get_attack_info(name).key(steps=steps, version=version)


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
    return ATTACKS[name].build(
        model, eps=eps, threat_model=threat_model, steps=steps, step_size=step_size,
        random_start=random_start, version=version, autoattack_attacks=autoattack_attacks,
        seed=seed, batch_size=batch_size,
    )
