"""What the ``robust_sabn_robustbench.pth`` file installed with robust-sabn runs at start-up.

Python runs the ``import`` lines of ``.pth`` files in site-packages when it starts (setuptools'
``distutils-precedence.pth`` works the same way). Ours calls :func:`install`, which imports
nothing heavy (no torch, no RobustBench) and:

- appends the ``autoattack`` finder (:mod:`robust_sabn.compat.autoattack_finder`), so a bare
  ``import robustbench`` finds AutoAttack where only PyPI's ``pyautoattack`` is installed; it
  steps aside for a real ``autoattack`` package wherever that is on the path;
- puts :class:`ModelZooHook` first on ``sys.meta_path``: when RobustBench's
  ``robustbench.model_zoo.models`` has run, its model dictionaries are made aware of
  robust-sabn exports (:func:`robust_sabn.compat.robustbench_models.adopt_model_dicts`), so
  ``robustbench.utils.load_model`` finds models exported to ``./models`` with no registration
  call, and names ``robust_sabn.zoo.register_models`` when a name is found nowhere.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from robust_sabn.compat.autoattack_finder import register_autoattack_finder

ZOO_MODULE = "robustbench.model_zoo.models"
"""The RobustBench module that builds ``model_dicts``."""


class _AdoptingLoader(importlib.abc.Loader):
    """Runs RobustBench's own loader, then adopts the model dictionaries it built."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        """RobustBench's loader's module creation."""
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        """Execute RobustBench's module, then make its dictionaries see our exports."""
        self.loader.exec_module(module)
        from robust_sabn.compat.robustbench_models import adopt_model_dicts

        adopt_model_dicts(module.model_dicts)

    def __getattr__(self, name: str) -> Any:
        """Everything else (``get_source`` for tracebacks, ...) from RobustBench's loader."""
        return getattr(self.loader, name)


class ModelZooHook(importlib.abc.MetaPathFinder):
    """Finds :data:`ZOO_MODULE` as the other finders do, with :class:`_AdoptingLoader`."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        """The spec the next finders give RobustBench's zoo module, its loader wrapped."""
        if fullname != ZOO_MODULE:
            return None
        for finder in sys.meta_path:
            if isinstance(finder, ModelZooHook) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _AdoptingLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Register both finders once (idempotent; imports neither torch nor RobustBench)."""
    register_autoattack_finder()
    if not any(isinstance(finder, ModelZooHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, ModelZooHook())
