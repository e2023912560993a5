"""``import robust_sabn`` makes ``import autoattack`` (and so ``import robustbench``) work.

:func:`register_autoattack_finder` appends :class:`AutoAttackShimFinder` to ``sys.meta_path``.
The finder is asked for ``autoattack`` only after every other finder said no, and it also
answers None when any other finder (one appended later included) knows a real ``autoattack``,
so the GitHub package always wins wherever it is installed. Registering is free: nothing is
imported until ``autoattack`` itself is, and only then does the shim
(:mod:`robust_sabn.compat.autoattack_shim`, which needs torch and pyautoattack) load. This
module imports neither torch nor pyautoattack, so ``import robust_sabn`` stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

from robust_sabn.compat.shim_names import SHIM_MARK, SHIM_MODULE


class AutoAttackShimLoader(importlib.abc.Loader):
    """Fills the ``autoattack`` module with the shim (see :func:`fill_shim_package`)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        """Default module creation."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Import the shim (torch, pyautoattack) and register ``autoattack``'s submodules."""
        from robust_sabn.compat.autoattack_shim import fill_shim_package

        fill_shim_package(module)


class AutoAttackShimFinder(importlib.abc.MetaPathFinder):
    """Finds ``autoattack`` as the shim, only when no other finder finds a real one."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        """A package spec for ``autoattack`` backed by the shim, else None."""
        if fullname != SHIM_MODULE or _real_spec() is not None:
            return None
        return importlib.machinery.ModuleSpec(
            SHIM_MODULE, AutoAttackShimLoader(), origin="robust_sabn.compat.autoattack_shim",
            is_package=True,
        )


def _real_spec() -> importlib.machinery.ModuleSpec | None:
    """The spec some other finder gives ``autoattack`` (a real package), or None."""
    for finder in sys.meta_path:
        if isinstance(finder, AutoAttackShimFinder):
            continue
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(SHIM_MODULE, None) if find_spec is not None else None
        if spec is not None:
            return spec
    return None


def register_autoattack_finder() -> None:
    """Append the shim finder to ``sys.meta_path`` once (idempotent, imports nothing)."""
    if not any(isinstance(finder, AutoAttackShimFinder) for finder in sys.meta_path):
        sys.meta_path.append(AutoAttackShimFinder())


def real_autoattack_available() -> bool:
    """Whether an ``autoattack`` other than this shim is imported or importable."""
    module = sys.modules.get(SHIM_MODULE)
    if module is not None:
        return not getattr(module, SHIM_MARK, False)
    return _real_spec() is not None


def install_autoattack_shim() -> bool:
    """Import ``autoattack``, as the shim unless a real ``autoattack`` is importable.

    Returns:
        True if the shim is (now or already) the ``autoattack`` module, False if a real
        ``autoattack`` package is used instead (it is not imported here).
    """
    register_autoattack_finder()
    if real_autoattack_available():
        return False
    return bool(getattr(importlib.import_module(SHIM_MODULE), SHIM_MARK, False))
