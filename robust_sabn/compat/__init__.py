"""Make RobustBench importable as installed from PyPI: ``import_robustbench()``.

Why a shim: RobustBench 1.1.1 (PyPI) imports ``autoattack``, the AutoAttack code of
fra31/auto-attack, which exists only on GitHub; the same code on PyPI is ``pyautoattack``, with a
different, keyword-only API (``attacks=`` for ``attacks_to_run=``, ``batch_size=`` for ``bs=``,
no ``log_path``, and ``run_standard_evaluation`` returning ``(x_adv, y_adv)``). Rather than
patching installed files or depending on a Git URL, robust-sabn ships a small adapter,
:mod:`robust_sabn.compat.autoattack_shim`, that presents the original ``AutoAttack`` API on top of
``pyautoattack`` (same attacks, same settings, same results) and registers it as ``autoattack`` in
``sys.modules`` only when no real ``autoattack`` package is importable; install the GitHub package
and it is used instead. RobustBench also imports ``pkg_resources``, which setuptools removed in
version 81, hence the ``setuptools<81`` pin. Every robust-sabn module imports RobustBench through
:func:`import_robustbench`, which installs the shim first.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from robust_sabn.compat.autoattack_shim import (
    AutoAttack,
    install_autoattack_shim,
    real_autoattack_available,
)
from robust_sabn.errors import UserInputError

__all__ = [
    "AutoAttack",
    "import_robustbench",
    "install_autoattack_shim",
    "real_autoattack_available",
]


def import_robustbench() -> ModuleType:
    """Install the ``autoattack`` shim if needed, then import and return ``robustbench``.

    Raises:
        UserInputError: ``pkg_resources`` is missing (setuptools >= 81 installed).
    """
    install_autoattack_shim()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        warnings.filterwarnings("ignore", message="`torch.jit.interface` is deprecated")
        warnings.filterwarnings("ignore", message="Importing from timm")
        try:
            importlib.import_module("pkg_resources")
        except ImportError as exc:
            raise UserInputError(
                "robustbench needs pkg_resources, which setuptools 81 removed; "
                "install an older setuptools: pip install 'setuptools<81'"
            ) from exc
        return importlib.import_module("robustbench")
