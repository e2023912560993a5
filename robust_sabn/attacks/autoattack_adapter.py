"""AutoAttack (Croce & Hein 2020, the ``pyautoattack`` package) with its cascade and flags returned.

``pyautoattack.AutoAttack.run_standard_evaluation`` returns only the final adversarial images; the
robust accuracy after each attack and the sanity checks (randomised defence, zero gradients, Square
beating the white-box attacks, ...) go to its ``auto-attack`` logger. :func:`run_autoattack` runs
the cascade one attack at a time through that same public method (``attacks_to_run = [attack]``,
as its ``run_standard_evaluation_individual`` does): the first attack on every point, each later
one on the points still robust. That attacks the same points in the same batches with the same
seeds as one full call, so the result agrees with calling pyautoattack directly, and it returns
every step's robust accuracy. Logged warnings and emitted Python warnings are captured as flags,
never dropped.

Every attack of pyautoattack seeds torch itself when it starts, so a cascade stopped after attack
k continues exactly: pass its finished :class:`CascadeStep` records as ``done_steps`` and only
the later attacks run. A :class:`CascadeWatcher` sees each attack start and finish (live
progress, and the steps a resumable evaluation writes down).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from pyautoattack import AutoAttack, checks
from torch import Tensor, nn

from robust_sabn.attacks.torchattacks_adapter import check_attack_inputs
from robust_sabn.errors import UserInputError
from robust_sabn.nn.mode import model_mode

AUTOATTACK_VERSIONS = ("standard", "plus", "rand", "custom")
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
AUTOATTACK_NORMS = ("Linf", "L2", "L1")
AUTOATTACK_PRESETS = {  # the cascades pyautoattack's versions run, in order
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
    "rand": ("apgd-ce", "apgd-dlr"),
}
_LOGGER_NAME = "auto-attack"


@dataclass(frozen=True)
class AutoAttackResult:
    """The outcome of one AutoAttack run on N points.

    Attributes:
        version: "standard", "plus", "rand" or "custom".
        attacks: the cascade's attacks, in order.
        clean_accuracy: fraction of points classified correctly before any attack.
        cascade: (attack, robust accuracy after it) for every attack, non-increasing.
        flags: AutoAttack's sanity-check messages, in the order raised, without repeats.
        robust: (N,) bool, True where no attack of the cascade fooled the model.
        x_adv: (N, C, H, W) the successful adversarial image per fooled point, else the clean one.
        stage_time_s: (attack, wall seconds it ran) for every attack of the cascade.
    """

    version: str
    attacks: tuple[str, ...]
    clean_accuracy: float
    cascade: tuple[tuple[str, float], ...]
    flags: tuple[str, ...]
    robust: Tensor
    x_adv: Tensor
    stage_time_s: tuple[tuple[str, float], ...] = ()

    @property
    def robust_accuracy(self) -> float:
        """Fraction of points no attack fooled (the last cascade entry)."""
        return self.cascade[-1][1] if self.cascade else self.clean_accuracy

    def to_dict(self) -> dict[str, Any]:
        """The JSON part: version, attacks, cascade [{attack, robust_accuracy}], flags, and
        time_s (attack -> wall seconds)."""
        return {
            "version": self.version,
            "attacks": list(self.attacks),
            "cascade": [{"attack": a, "robust_accuracy": acc} for a, acc in self.cascade],
            "flags": list(self.flags),
            "time_s": dict(self.stage_time_s),
        }


@dataclass(frozen=True)
class CascadeStep:
    """One finished attack of a cascade on N points: what a watcher is shown, and what a
    resumed cascade starts from.

    Attributes:
        attack: the attack's name.
        robust: N flags, True where no attack so far has fooled the model.
        seconds: wall seconds the attack ran.
        flags: AutoAttack's sanity-check messages raised so far, in order, without repeats.
    """

    attack: str
    robust: tuple[bool, ...]
    seconds: float
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (attack, robust, seconds, flags)."""
        return {"attack": self.attack, "robust": list(self.robust), "seconds": self.seconds,
                "flags": list(self.flags)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CascadeStep:
        """The step :meth:`to_dict` wrote."""
        return cls(str(data["attack"]), tuple(bool(b) for b in data["robust"]),
                   float(data["seconds"]), tuple(str(f) for f in data.get("flags", [])))


class CascadeWatcher(Protocol):
    """Told when each attack of a cascade starts and finishes (progress displays, resume
    records)."""

    def attack_started(self, attack: str, index: int, count: int) -> None:
        """Attack number ``index`` (from 0) of ``count`` starts."""

    def attack_finished(self, step: CascadeStep) -> None:
        """An attack finished; ``step.robust`` holds the flags after it."""


def check_autoattack_version(version: str) -> None:
    """Raise UserInputError unless ``version`` is one of :data:`AUTOATTACK_VERSIONS`."""
    if version not in AUTOATTACK_VERSIONS:
        choices = ", ".join(AUTOATTACK_VERSIONS)
        raise UserInputError(f"unknown AutoAttack version {version!r}; choose one of {choices}")


def check_autoattack_options(version: str, attacks: Sequence[str] | None, norm: str = "Linf"
                             ) -> None:
    """Raise UserInputError for an unknown version, norm or attack, or a list with a preset."""
    check_autoattack_version(version)
    if norm not in AUTOATTACK_NORMS:
        raise UserInputError(
            f"AutoAttack has no threat model {norm!r}; choose one of {', '.join(AUTOATTACK_NORMS)}"
        )
    if version == "custom":
        if not attacks:
            raise UserInputError(
                "AutoAttack version 'custom' needs a list of attacks from "
                f"{', '.join(AUTOATTACK_ATTACKS)}"
            )
        unknown = [a for a in attacks if a not in AUTOATTACK_ATTACKS]
        if unknown:
            choices = ", ".join(AUTOATTACK_ATTACKS)
            raise UserInputError(f"unknown AutoAttack attack {unknown[0]!r}; choose from {choices}")
        if len(set(attacks)) != len(attacks):
            raise UserInputError(f"AutoAttack attack list {list(attacks)} repeats an attack")
    elif attacks:
        raise UserInputError(
            f"an AutoAttack attack list needs version 'custom' (version {version!r} fixes its own)"
        )


class _FlagCollector(logging.Handler):
    """Keeps the text of every warning-or-worse record of AutoAttack's logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _from_autoattack(warning: warnings.WarningMessage) -> bool:
    return "pyautoattack" in warning.filename.replace("\\", "/")


@contextmanager
def _capture_flags() -> Iterator[Callable[[], list[str]]]:
    """Collect AutoAttack's logged warnings and its Python warnings; the yielded function
    returns those raised so far (logged ones first).

    Python warnings raised by other packages inside the block are passed on unchanged.
    """
    logger = logging.getLogger(_LOGGER_NAME)
    handler = _FlagCollector()
    logger.addHandler(handler)
    caught: list[warnings.WarningMessage] = []

    def so_far() -> list[str]:
        return handler.messages + [str(w.message) for w in caught if _from_autoattack(w)]

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield so_far
    finally:
        logger.removeHandler(handler)
        for w in caught:
            if not _from_autoattack(w):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _predictions(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    """(N,) predicted classes of images x (N, C, H, W), ``batch_size`` at a time."""
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).argmax(1)
                          for i in range(0, len(x), batch_size)])


def run_autoattack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    version: str = "standard",
    attacks: Sequence[str] | None = None,
    norm: str = "Linf",
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    watcher: CascadeWatcher | None = None,
    done_steps: Sequence[CascadeStep] = (),
) -> AutoAttackResult:
    """Run AutoAttack on a ``forward(x)`` model in eval mode and return its full cascade.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, K); its modes are restored after.
        x: clean images (N, C, H, W) in [0, 1]; y: labels (N,).
        eps: radius on the [0, 1] pixel scale (L-inf) or an L2/L1 distance in that scale.
        version: "standard", "plus", "rand", or "custom" (then ``attacks`` names the cascade).
        attacks: for "custom", attacks from :data:`AUTOATTACK_ATTACKS`, in cascade order.
        norm: "Linf", "L2" or "L1".
        seed: seed of every attack's random starts (reproducible runs).
        batch_size: points per forward/backward pass.
        device: where AutoAttack puts batches; default the device of x.
        watcher: told when each attack starts and finishes.
        done_steps: the first attacks' steps of an earlier run of this same call; only the
            rest of the cascade runs (points fooled by the skipped attacks keep their clean
            image in ``x_adv``).

    Raises:
        UserInputError: unknown version, norm or attack name.
        ValueError: ``done_steps`` that are not a prefix of the cascade on N points.
    """
    check_autoattack_options(version, attacks, norm)
    check_attack_inputs(x, y)
    device = x.device if device is None else torch.device(device)
    with model_mode(model, False), _capture_flags() as flags_so_far:
        adversary = AutoAttack(
            model, eps=eps, norm=norm, seed=seed, version=version, device=device,
            attacks=list(attacks) if version == "custom" else None,
        )
        cascade_attacks = tuple(adversary.attacks_to_run)
        _check_done_steps(done_steps, cascade_attacks, len(y))
        robust = _predictions(model, x, batch_size).eq(y)
        clean_accuracy = robust.sum().item() / len(y)
        if done_steps:
            robust = torch.tensor(done_steps[-1].robust, device=robust.device)
        earlier_flags = list(done_steps[-1].flags) if done_steps else []
        x_adv = x.clone()
        cascade = [(s.attack, sum(s.robust) / len(y)) for s in done_steps]
        stage_time_s = [(s.attack, s.seconds) for s in done_steps]
        for i, attack in enumerate(cascade_attacks[len(done_steps):], start=len(done_steps)):
            if watcher is not None:
                watcher.attack_started(attack, i, len(cascade_attacks))
            start = time.perf_counter()
            _attack_robust_points(adversary, attack, x, y, robust, x_adv, every_point=i == 0,
                                  batch_size=batch_size)
            cascade.append((attack, robust.sum().item() / len(y)))
            stage_time_s.append((attack, time.perf_counter() - start))
            if watcher is not None:
                watcher.attack_finished(CascadeStep(
                    attack, tuple(robust.tolist()), stage_time_s[-1][1],
                    tuple(dict.fromkeys(earlier_flags + flags_so_far()))))
        checks.check_square_sr({"clean": clean_accuracy, **dict(cascade)},
                               logger=adversary.logger)
        flags = earlier_flags + flags_so_far()
    return AutoAttackResult(
        version=version, attacks=cascade_attacks, clean_accuracy=clean_accuracy,
        cascade=tuple(cascade), flags=tuple(dict.fromkeys(flags)), robust=robust, x_adv=x_adv,
        stage_time_s=tuple(stage_time_s),
    )


def _attack_robust_points(adversary: AutoAttack, attack: str, x: Tensor, y: Tensor,
                          robust: Tensor, x_adv: Tensor, *, every_point: bool, batch_size: int
                          ) -> None:
    """Run ``attack`` alone on the points still ``robust``, or on every point when
    ``every_point`` (the cascade's first call, which runs AutoAttack's checks as one full call
    would); the points it fools turn False in ``robust`` (N,) and take its image in ``x_adv``
    (N, C, H, W), both in place."""
    idx = torch.arange(len(y), device=y.device) if every_point else robust.nonzero().squeeze(1)
    if every_point or idx.numel():
        adversary.attacks_to_run = [attack]
        adv, y_adv = adversary.run_standard_evaluation(x[idx], y[idx], batch_size=batch_size)
        fooled = y_adv.ne(y[idx])
        robust[idx[fooled]] = False
        x_adv[idx[fooled]] = adv[fooled]


def _check_done_steps(steps: Sequence[CascadeStep], cascade: tuple[str, ...], n: int) -> None:
    """Raise ValueError unless ``steps`` are the first attacks of ``cascade`` on ``n`` points."""
    names = tuple(step.attack for step in steps)
    if names != cascade[:len(names)] or any(len(step.robust) != n for step in steps):
        raise ValueError(f"finished steps {list(names)} are not the start of the cascade "
                         f"{list(cascade)} on {n} points")


class AutoAttackAttack:
    """AutoAttack as a uniform attack, ``attack(x, y) -> x_adv``; the last result is kept.

    Args:
        model: a ``forward(x)`` module on images in [0, 1].
        eps, version, attacks, norm, seed, batch_size: as :func:`run_autoattack`.
    """

    def __init__(self, model: nn.Module, *, eps: float, version: str = "standard",
                 attacks: Sequence[str] | None = None, norm: str = "Linf", seed: int = 0,
                 batch_size: int = 256) -> None:
        check_autoattack_options(version, attacks, norm)
        self.model = model
        self.options: dict[str, Any] = {
            "eps": eps, "version": version, "attacks": attacks, "norm": norm, "seed": seed,
            "batch_size": batch_size,
        }
        self.last_result: AutoAttackResult | None = None

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """Adversarial images (N, C, H, W): AutoAttack's worst case per point."""
        self.last_result = run_autoattack(self.model, x, y, **self.options)
        return self.last_result.x_adv

    def evaluate(self, x: Tensor, y: Tensor, *, watcher: CascadeWatcher | None = None,
                 done_steps: Sequence[CascadeStep] = ()) -> tuple[float, dict[str, Any]]:
        """Robust accuracy on all of (x, y) in one cascade, and the cascade's JSON part
        (version, attacks, robust accuracy after each attack, sanity flags); ``watcher`` and
        ``done_steps`` as :func:`run_autoattack`."""
        result = self.last_result = run_autoattack(self.model, x, y, watcher=watcher,
                                                   done_steps=done_steps, **self.options)
        return result.robust_accuracy, result.to_dict()
