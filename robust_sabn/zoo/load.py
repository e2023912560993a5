"""``load_model``: RobustBench's signature and file layout, for exported and registered models.

An exported model carries its architecture in the entry JSON beside the weights (a ModelSpec
from ``export_model``, a ``package.module:factory`` from ``export_state_dict``), so it loads in a
fresh process from the files alone. A third-party architecture without an entry is made known
with :func:`register_architecture` first. For RobustBench's datasets the entry goes into
RobustBench's model dictionary and the weights load through ``robustbench.utils.load_model``
itself; for the others (and with ``loader="local"``) the same files load here, strictly, with
``torch.load(weights_only=True)``.

A model folder may come from a stranger, and an entry's ``arch`` names a module to import: only
architectures known to this process (a ModelSpec of our registry, a factory passed to
:func:`register_architecture`) are built unless the caller passes ``trust_remote_code=True``
(``--trust-remote-code``); any other ``arch`` is refused before its module is imported.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from torch import nn

from robust_sabn.artifacts import ModelSpec, read_record
from robust_sabn.artifacts.checkpoint import load_state_dict_file
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.foreign import build_from_factory
from robust_sabn.units import check_threat_model
from robust_sabn.zoo.layout import (
    ENTRY_KIND,
    ROBUSTBENCH_DATASETS,
    check_model_name,
    datasets_in,
    zoo_paths,
)
from robust_sabn.zoo.robustbench_zoo import (
    ModelFactory,
    is_our_entry,
    load_via_robustbench,
    register_robustbench_entry,
    robustbench_models,
)

Loader = Literal["auto", "robustbench", "local"]
_ARCHITECTURES: dict[tuple[str, str, str], ModelFactory] = {}
_ALLOWED_ARCHS: set[str] = set()
"""``package.module:factory`` names of the factories given to :func:`register_architecture`:
entries naming them are built without ``trust_remote_code``."""


def factory_name(factory: ModelFactory) -> str:
    """``factory``'s ``package.module:qualname``, as an entry's ``arch`` names it."""
    return f"{getattr(factory, '__module__', '')}:{getattr(factory, '__qualname__', '')}"


def register_architecture(name: str, factory: ModelFactory, *, dataset: str,
                          threat_model: str = "Linf") -> None:
    """Make a third-party architecture loadable as ``name`` (weights in ``model_dir``).

    ``factory()`` returns a fresh model whose ``state_dict`` matches the weights file. For
    RobustBench's datasets the entry is also added to RobustBench's model dictionary, so
    ``robustbench.utils.load_model(name, model_dir, dataset, threat_model)`` works too.

    Raises:
        UserInputError: invalid name or threat model, or a name RobustBench's zoo already uses.
    """
    check_model_name(name)
    check_threat_model(threat_model)
    if dataset in ROBUSTBENCH_DATASETS:
        register_robustbench_entry(name, dataset, threat_model, factory)
    _ARCHITECTURES[(dataset, threat_model, name)] = factory
    _ALLOWED_ARCHS.add(factory_name(factory))


def read_entry(model_dir: str | Path, dataset: str, threat_model: str, name: str
               ) -> dict[str, Any] | None:
    """The robust-sabn entry JSON of an exported model, or None when there is none.

    Raises:
        UserInputError: the file is not a zoo entry, or was filed under another dataset or
            threat model than it records.
    """
    path = zoo_paths(model_dir, dataset, threat_model, name).entry
    if not path.is_file():
        return None
    entry = read_record(path)
    if entry.get("kind") != ENTRY_KIND:
        raise UserInputError(f"{path} is a {entry.get('kind')!r} record, not a {ENTRY_KIND}")
    if (entry.get("dataset"), entry.get("threat_model")) != (dataset, threat_model):
        raise UserInputError(
            f"{path} records {entry.get('dataset')}/{entry.get('threat_model')} but lies under "
            f"{dataset}/{threat_model}; move it back or export again"
        )
    return entry


def _missing_model_message(name: str, model_dir: str | Path, dataset: str,
                           threat_model: str) -> str:
    paths = zoo_paths(model_dir, dataset, threat_model, name)
    message = f"no model {name!r} for {dataset}/{threat_model}: {paths.entry} not found"
    if dataset in ROBUSTBENCH_DATASETS:
        entry = robustbench_models(dataset, threat_model).get(name)
        if entry is not None and not is_our_entry(entry):
            return f"{message}; {name} is a RobustBench zoo model: use robustbench:{name}"
    here = datasets_in(model_dir)
    if here:
        return f"{message}; datasets under {model_dir}: {', '.join(here)}"
    return f"{message}; export one with robust-sabn zoo export CHECKPOINT --name {name}"


def _entry_factory(entry: dict[str, Any], path: Path, trust_remote_code: bool) -> ModelFactory:
    """The factory an entry's ``model`` names: a ModelSpec's build, or its ``arch`` imported
    when registered or trusted."""
    model = entry.get("model")
    if not isinstance(model, dict):
        raise UserInputError(f"{path} has no 'model' object; export the model again")
    if "arch" not in model:
        try:
            return ModelSpec.from_dict(model).build
        except UserInputError as exc:
            raise UserInputError(f"{path}: {exc}") from None
    arch = model["arch"]
    if not isinstance(arch, str):
        raise UserInputError(f"{path}: 'arch' must be a package.module:factory string")
    if arch not in _ALLOWED_ARCHS and not trust_remote_code:
        raise UserInputError(
            f"{path} names architecture {arch!r}, code outside robust-sabn that loading would "
            "import and run; pass --trust-remote-code (trust_remote_code=True) if you trust "
            "this model folder, or register_architecture() the factory first"
        )
    kwargs = model.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise UserInputError(f"{path}: 'kwargs' must be an object of the factory's arguments")
    return functools.partial(build_from_factory, arch, kwargs)


def architecture_factory(name: str, model_dir: str | Path, dataset: str, threat_model: str,
                         *, trust_remote_code: bool = False) -> ModelFactory:
    """How to build ``name``: its entry's ModelSpec or ``arch`` factory, else a registered
    architecture. An ``arch`` is imported only when it names a factory given to
    :func:`register_architecture` or when ``trust_remote_code`` is True.

    Raises:
        UserInputError: neither exists (the message names the entry file expected), or the
            entry names an unregistered ``arch`` without ``trust_remote_code``.
    """
    entry = read_entry(model_dir, dataset, threat_model, name)
    if entry is not None:
        return _entry_factory(entry, zoo_paths(model_dir, dataset, threat_model, name).entry,
                              trust_remote_code)
    factory = _ARCHITECTURES.get((dataset, threat_model, name))
    if factory is None:
        raise UserInputError(_missing_model_message(name, model_dir, dataset, threat_model))
    return factory


def load_model(model_name: str, model_dir: str | Path = "./models", dataset: str = "cifar10",
               threat_model: str = "Linf", *, loader: Loader = "auto",
               trust_remote_code: bool = False) -> nn.Module:
    """Load an exported or registered model from ``model_dir``; returned in eval mode.

    Args:
        model_name: the name given at export (or to :func:`register_architecture`).
        model_dir: folder in RobustBench's layout (``<dataset>/<threat_model>/<name>.pt``).
        dataset: ``cifar10``, ``cifar100``, ``imagenet``, or a robust-sabn dataset name.
        threat_model: ``Linf`` or ``L2``.
        loader: ``"robustbench"`` loads through ``robustbench.utils.load_model`` (RobustBench's
            datasets only), ``"local"`` with ``torch.load(weights_only=True)`` and a strict
            ``load_state_dict``; ``"auto"`` picks RobustBench for its datasets.
        trust_remote_code: import an entry's unregistered ``arch`` (code a stranger's model
            folder names); off, such an entry is refused.

    Raises:
        UserInputError: bad name or threat model, no entry or weights file (the message says
            which file), an untrusted ``arch``, or weights that do not fit the architecture.
    """
    check_model_name(model_name)
    check_threat_model(threat_model)
    if loader not in ("auto", "robustbench", "local"):
        raise UserInputError(f"unknown loader {loader!r}; choose auto, robustbench or local")
    factory = architecture_factory(model_name, model_dir, dataset, threat_model,
                                   trust_remote_code=trust_remote_code)
    weights = zoo_paths(model_dir, dataset, threat_model, model_name).weights
    if not weights.is_file():
        raise UserInputError(
            f"weights of {model_name} not found: {weights} (export the model again or copy "
            "the .pt file there)"
        )
    use_robustbench = loader == "robustbench" or (
        loader == "auto" and dataset in ROBUSTBENCH_DATASETS
    )
    if use_robustbench:
        register_robustbench_entry(model_name, dataset, threat_model, factory)
        return load_via_robustbench(model_name, model_dir, dataset, threat_model)
    model = factory()
    try:
        model.load_state_dict(load_state_dict_file(weights))
    except RuntimeError as exc:
        raise UserInputError(
            f"weights in {weights} do not fit the architecture of {model_name}: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from exc
    return model.eval()
