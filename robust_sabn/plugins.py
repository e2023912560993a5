"""Where tasks come from: the ``robust_sabn.tasks`` entry-point group, the one place a task
registers its suite kind, CLI, model families, norm names and legacy-record reader.

A task lives in its own folder with a small, torch-free ``plugin.py`` holding a
:class:`TaskPlugin`, and declares it in its package metadata::

    # pyproject.toml of the package that ships the task
    [project.entry-points."robust_sabn.tasks"]
    gan = "robust_sabn.gan.plugin:PLUGIN"

The built-in tasks (adversarial, gan, nas, style) are declared in robust-sabn's own
``pyproject.toml``; a task shipped elsewhere declares itself in its own package, and
``pip install`` makes it known, with no line of robust-sabn changed (``tests/toy_task`` does
this). Nothing here imports a task's code: :class:`TaskPlugin` names modules as strings, which
the platform imports only when it needs them (``robust-sabn --help`` imports no torch).
Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module, metadata
from typing import Any

from robust_sabn.errors import UserInputError

GROUP = "robust_sabn.tasks"
"""The entry-point group every task declares itself in."""


@dataclass(frozen=True)
class TaskPlugin:
    """What a task contributes to the platform. Module and object names are strings
    (``"package.module"``, ``"package.module:attribute"``), imported on first use.

    Attributes:
        name: the task's name (``task = "..."`` in suite files, ``robust-sabn <name> ...``,
            ``ResultRecord.task``).
        summary: one line for ``robust-sabn --help``.
        suite_task: the task's :class:`~robust_sabn.suites.tasks.SuiteTask` object.
        cli: a module with a typer ``app``, mounted as ``robust-sabn <name> ...``; None: the task
            has no commands of its own.
        top_level: commands of ``cli`` also mounted as ``robust-sabn <command>``, each with its
            one-line help (shown by ``robust-sabn --help`` without importing ``cli``).
        forwarded: commands of ``cli`` that ``robust-sabn <command> --task <name>`` runs
            (``train --task gan`` is ``gan train``).
        norms: the norm kinds the task accepts, in comparison order.
        norm_labels: labels of norm kinds the task adds to the shared vocabulary.
        model_families: the model-registry families the task's models belong to.
        model_modules: modules whose import registers the task's models
            (:func:`robust_sabn.models.create_model`).
        record_upgrade: a function ``dict -> dict | None`` turning a legacy record of the task
            (one without a ``task`` key) into the current layout, None for a record it does not
            recognise; None: the task has no legacy records.
    """

    name: str
    summary: str
    suite_task: str
    cli: str | None = None
    top_level: Mapping[str, str] = field(default_factory=dict)
    forwarded: tuple[str, ...] = ()
    norms: tuple[str, ...] = ()
    norm_labels: Mapping[str, str] = field(default_factory=dict)
    model_families: tuple[str, ...] = ()
    model_modules: tuple[str, ...] = ()
    record_upgrade: str | None = None


def _declared() -> list[metadata.EntryPoint]:
    """The group's entry points of every distribution on the path. ``entry_points()`` would
    keep only the first distribution of a name, so a stale ``robust_sabn.egg-info`` left in a
    source checkout would hide the installed package's tasks."""
    found: dict[tuple[str, str], metadata.EntryPoint] = {}
    for distribution in metadata.distributions():
        for entry in distribution.entry_points:
            if entry.group == GROUP:
                found.setdefault((entry.name, entry.value), entry)
    return list(found.values())


@cache
def task_plugins() -> dict[str, TaskPlugin]:
    """Every installed task, by name, in the order the entry points list them.

    Raises:
        UserInputError: an entry point that does not load, is not a TaskPlugin, or names a
            task another entry point already took.
    """
    plugins: dict[str, TaskPlugin] = {}
    for entry in _declared():
        try:
            plugin = entry.load()
        except (ImportError, AttributeError) as exc:
            raise UserInputError(f"the task entry point {entry.name} = {entry.value} does not "
                                 f"load ({exc}); reinstall the package that declares it") from exc
        if not isinstance(plugin, TaskPlugin):
            raise UserInputError(f"the task entry point {entry.name} = {entry.value} is a "
                                 f"{type(plugin).__name__}, not a TaskPlugin")
        if plugin.name in plugins and plugins[plugin.name] != plugin:
            raise UserInputError(f"two installed packages declare the task {plugin.name!r}; "
                                 "uninstall one")
        plugins[plugin.name] = plugin
    return plugins


def task_plugin(name: str) -> TaskPlugin:
    """The installed task ``name``.

    Raises:
        UserInputError: no such task (the message lists the installed ones).
    """
    plugins = task_plugins()
    if name not in plugins:
        known = ", ".join(sorted(plugins)) or "none: reinstall robust-sabn (pip install -e .)"
        raise UserInputError(f"unknown task {name!r}; choose one of {known}")
    return plugins[name]


def load_object(target: str) -> Any:
    """The object a ``"package.module:attribute"`` string names (a plain module name: the
    module)."""
    module_name, _, attribute = target.partition(":")
    module = import_module(module_name)
    return getattr(module, attribute) if attribute else module


def record_upgraders() -> list[Callable[[dict[str, Any]], dict[str, Any] | None]]:
    """The installed tasks' legacy-record upgraders (see ``TaskPlugin.record_upgrade``)."""
    return [load_object(p.record_upgrade) for p in task_plugins().values() if p.record_upgrade]
