"""The original ``autoattack`` API (fra31/auto-attack) on top of the PyPI ``pyautoattack`` package.

RobustBench 1.1.1 does ``from autoattack import AutoAttack`` and
``from autoattack.state import EvaluationState`` and calls the GitHub code's API:
``AutoAttack(model, norm=..., eps=..., version='standard', device=..., log_path=...)`` and
``run_standard_evaluation(x, y, bs=..., state_path=...)`` returning the adversarial images. The
same attack code on PyPI installs as ``pyautoattack``, whose ``AutoAttack`` takes keyword-only
``attacks=`` (not ``attacks_to_run=``), has no ``log_path``, ``verbose`` or ``is_tf_model``, and
whose ``run_standard_evaluation(x, y, *, batch_size=...)`` returns ``(x_adv, y_adv)``.
:class:`AutoAttack` here is a thin subclass of ``pyautoattack.AutoAttack`` with the original
signatures (the attacks, their settings and the cascade are pyautoattack's, unchanged), and
:func:`fill_shim_package` makes it the module ``autoattack`` (plus the submodules
``autoattack.state``, ``autoattack.autopgd_base``, ...); :mod:`robust_sabn.compat.autoattack_finder`
calls it on ``import autoattack`` only when no real ``autoattack`` package is importable. No
installed file is patched.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyautoattack
import torch
from pyautoattack.autoattack import AutoAttack as PyAutoAttack
from torch import Tensor, nn

from robust_sabn.compat.shim_names import SHIM_MARK, SHIM_MODULE

_SUBMODULES = (
    "autopgd_base", "checks", "fab_base", "fab_projections", "fab_pt", "other_utils", "square",
    "state",
)
_LOGGER_NAME = "auto-attack"
_PRESET_VERSIONS = ("standard", "plus", "rand")


@contextmanager
def _log_output(verbose: bool, log_path: str | Path | None) -> Iterator[None]:
    """Send pyautoattack's ``auto-attack`` log to stdout (``verbose``) and/or ``log_path``.

    The original code printed its progress and appended it to ``log_path``; pyautoattack logs
    it at DEBUG level instead. Handlers and level are restored on exit.
    """
    logger = logging.getLogger(_LOGGER_NAME)
    handlers: list[logging.Handler] = []
    if verbose:
        handlers.append(logging.StreamHandler(sys.stdout))
    if log_path is not None:
        handlers.append(logging.FileHandler(log_path, mode="a"))
    old_level = logger.level
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    if handlers:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(old_level)


class AutoAttack(PyAutoAttack):
    """AutoAttack with the GitHub code's signatures, running pyautoattack's attacks.

    Args:
        model: classifier mapping images (N, C, H, W) in [0, 1] to logits (N, K); put it in eval
            mode first (AutoAttack does not switch modes).
        norm: ``"Linf"``, ``"L2"`` or ``"L1"``.
        eps: radius on the [0, 1] pixel scale (8/255 for CIFAR-10 Linf).
        seed: attack seed; ``None`` seeds from the clock, as the original does.
        verbose: log progress (pyautoattack's ``auto-attack`` log), printed to stdout during runs.
        attacks_to_run: attack list for ``version="custom"``; must stay empty for the presets.
        version: ``"standard"``, ``"plus"``, ``"rand"`` or ``"custom"``.
        is_tf_model: must be False; pyautoattack's ``AutoAttack`` attacks PyTorch models only.
        device: where the attacks run; ``None`` picks CUDA when available, else the CPU (the
            original defaults to ``"cuda"``).
        log_path: append the progress log to this file as well.

    Attributes are pyautoattack's: ``apgd``, ``fab``, ``square``, ``apgd_targeted``,
    ``attacks_to_run``, ``epsilon``, ``norm``, ``seed``, ``version``, ``device``, ``logger``.
    """

    def __init__(self, model: nn.Module, norm: str = "Linf", eps: float = 0.3,
                 seed: int | None = None, verbose: bool = True,
                 attacks_to_run: Sequence[str] = (), version: str = "standard",
                 is_tf_model: bool = False, device: str | torch.device | None = None,
                 log_path: str | Path | None = None) -> None:
        if is_tf_model:
            raise ValueError(
                "is_tf_model=True is not supported: pyautoattack's AutoAttack attacks PyTorch "
                "models only"
            )
        if version in _PRESET_VERSIONS and len(attacks_to_run) > 0:
            raise ValueError("attacks_to_run will be overridden unless you use version='custom'")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        attacks = list(attacks_to_run) if version not in _PRESET_VERSIONS else None
        super().__init__(model, attacks=attacks, device=device, eps=eps, norm=norm, seed=seed,
                         version=version)
        self.is_tf_model = False
        self.log_path = log_path
        self.verbose = verbose

    def set_version(self, version: str = "standard") -> None:
        """Apply a preset's attack list and settings (the original's public name)."""
        self._set_version(version)

    def run_standard_evaluation(self, x_orig: Tensor, y_orig: Tensor, bs: int = 250,
                                return_labels: bool = False,
                                state_path: Path | None = None) -> Any:
        """Run the cascade on images (N, C, H, W) in [0, 1] with labels (N,).

        Returns:
            the adversarial images (N, C, H, W) (clean where no attack succeeded), or
            ``(x_adv, y_adv)`` with the predicted labels when ``return_labels`` is True.
        """
        with _log_output(self.verbose, self.log_path):
            x_adv, y_adv = super().run_standard_evaluation(
                x_orig, y_orig, batch_size=bs, state_path=state_path
            )
        return (x_adv, y_adv) if return_labels else x_adv

    def run_standard_evaluation_individual(self, x_orig: Tensor, y_orig: Tensor, bs: int = 250,
                                           return_labels: bool = False) -> dict[str, Any]:
        """Run each attack of ``attacks_to_run`` alone on all points; a dict keyed by attack."""
        attacks = list(self.attacks_to_run)
        adversarial: dict[str, Any] = {}
        try:
            for attack in attacks:
                self.attacks_to_run = [attack]
                adversarial[attack] = self.run_standard_evaluation(
                    x_orig, y_orig, bs=bs, return_labels=return_labels
                )
        finally:
            self.attacks_to_run = attacks
        return adversarial

    def clean_accuracy(self, x_orig: Tensor, y_orig: Tensor, bs: int = 250) -> float:
        """Fraction of images (N, C, H, W) classified as ``y_orig`` (N,)."""
        return float(super().clean_accuracy(x_orig, y_orig, bs=bs))


def fill_shim_package(package: types.ModuleType) -> None:
    """Make ``package`` (the module ``autoattack``) the shim and register its submodules.

    Sets ``AutoAttack`` (this module's class), ``__version__`` (pyautoattack's), the shim mark,
    and ``autoattack.autoattack``, ``autoattack.state``, ``autoattack.autopgd_base``, ... in
    ``sys.modules`` (the submodules are pyautoattack's own).
    """
    package.__doc__ = __doc__
    package.__path__ = []
    package.__version__ = pyautoattack.__version__
    setattr(package, SHIM_MARK, True)
    package.AutoAttack = AutoAttack
    front = types.ModuleType(f"{SHIM_MODULE}.autoattack", "The shim's AutoAttack class.")
    front.AutoAttack = AutoAttack
    modules = {"autoattack": front}
    for name in _SUBMODULES:
        modules[name] = importlib.import_module(f"pyautoattack.{name}")
    for name, module in modules.items():
        setattr(package, name, module)
        sys.modules[f"{SHIM_MODULE}.{name}"] = module
