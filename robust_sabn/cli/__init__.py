"""The ``robust-sabn`` command (:mod:`robust_sabn.cli.application`): a thin typer app over the
library.

``app`` and ``main`` are resolved on first use, so that a task's own CLI module can import the
shared helpers here (``robust_sabn.cli.console``, ``robust_sabn.cli.parse``) without building
the whole app, which mounts those task CLIs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "forward_task", "main"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'robust_sabn.cli' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module("robust_sabn.cli.application"), name)
