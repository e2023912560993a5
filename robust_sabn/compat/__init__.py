"""Make RobustBench importable as installed from PyPI, with no import order.

Why a shim: RobustBench 1.1.1 (PyPI) imports ``autoattack``, the AutoAttack code of
fra31/auto-attack, which exists only on GitHub; the same code on PyPI is ``pyautoattack``, with a
different, keyword-only API (``attacks=`` for ``attacks_to_run=``, ``batch_size=`` for ``bs=``,
no ``log_path``, and ``run_standard_evaluation`` returning ``(x_adv, y_adv)``). Rather than
patching installed files or depending on a Git URL, robust-sabn ships a small adapter,
:mod:`robust_sabn.compat.autoattack_shim`, that presents the original ``AutoAttack`` API on top of
``pyautoattack`` (same attacks, same settings, same results).

The ``robust_sabn_robustbench.pth`` start-up hook installed with the package
(:mod:`robust_sabn.compat.site_hook`), and ``import robust_sabn`` too, register an import finder
(:mod:`robust_sabn.compat.autoattack_finder`) that serves the adapter as ``autoattack`` only when
no real ``autoattack`` package is importable; install the GitHub package and it is used instead.
Registering imports nothing (no torch), so after ``import robust_sabn`` a plain
``import robustbench`` works. RobustBench also imports ``pkg_resources``, which setuptools
removed in version 81, hence the ``setuptools<81`` pin; :func:`import_robustbench` says so
clearly and silences RobustBench's import-time deprecation warnings.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any

from robust_sabn.compat.autoattack_finder import (
    install_autoattack_shim,
    real_autoattack_available,
    register_autoattack_finder,
)
from robust_sabn.errors import UserInputError

__all__ = [
    "AutoAttack",
    "import_robustbench",
    "install_autoattack_shim",
    "real_autoattack_available",
    "register_autoattack_finder",
]


def __getattr__(name: str) -> Any:
    """``AutoAttack`` on first use, so importing this package does not import torch."""
    if name == "AutoAttack":
        from robust_sabn.compat.autoattack_shim import AutoAttack

        return AutoAttack
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
