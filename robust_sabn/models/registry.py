"""Model registry in the style of timm: ``create_model``, ``list_models``, ``is_model``.

Every entry belongs to a *family*: ``classifier`` (the adversarial benchmark's models; built
with a norm kind, classes, input channels and input statistics) or one a task declares in its
registration (:mod:`robust_sabn.plugins`: ``generator`` and ``discriminator`` for GANs,
``supernet`` for NAS, ``encoder`` and ``decoder`` for style transfer). Factories of those
families take their own keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from torch import nn

from robust_sabn.plugins import task_plugins
from robust_sabn.vocabulary import NORM_KINDS

ModelFactory = Callable[..., nn.Module]
CLASSIFIER = "classifier"
_REGISTRY: dict[str, tuple[str, ModelFactory]] = {}
_CLASSIFIER_DEFAULTS: dict[str, Any] = {"norm": "bn", "num_classes": 10, "in_channels": 3,
                                        "num_branches": 2, "mean": None, "std": None}
_imported: set[str] = set()


def families() -> tuple[str, ...]:
    """``classifier`` and the families the installed tasks declare."""
    declared = (f for p in task_plugins().values() for f in p.model_families)
    return tuple(dict.fromkeys((CLASSIFIER, *declared)))


def _load_task_models() -> None:
    """Import the installed tasks' model modules (each once; a missing one is skipped), so that
    the registry lists their models without the task being imported first."""
    for module in (m for p in task_plugins().values() for m in p.model_modules):
        if module in _imported:
            continue
        _imported.add(module)
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise


def register_model(name: str, family: str = CLASSIFIER
                   ) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator that registers a factory under ``name`` in ``family`` for :func:`create_model`.

    Raises:
        ValueError: ``name`` is taken or ``family`` unknown.
    """
    if family not in families():
        raise ValueError(f"unknown model family {family!r}; choose one of "
                         f"{', '.join(families())}")

    def wrap(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = (family, factory)
        return factory

    return wrap


def list_models(family: str | None = None) -> list[str]:
    """Names of every registered model (of ``family``), sorted."""
    if family != CLASSIFIER:
        _load_task_models()
    return sorted(n for n, (f, _) in _REGISTRY.items() if family is None or f == family)


def is_model(name: str, family: str | None = None) -> bool:
    """Whether ``name`` is a registered model (of ``family``)."""
    if name not in _REGISTRY:
        _load_task_models()
    return name in _REGISTRY and (family is None or _REGISTRY[name][0] == family)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    A model of a family other than ``classifier`` gets ``kwargs`` as they are (see its
    factory). A classifier gets every norm layer of kind ``norm`` and these arguments (defaults
    in brackets):

    Args:
        name: a name from :func:`list_models`.
        norm: one of ``bn``, ``ccbn``, ``sabn``, ``auxbn``, ``saauxbn`` [``bn``].
        num_classes: logits per sample [10].
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR) [3].
        num_branches: branches of multi-branch norms (2 = ``clean``/``adv``) [2].
        mean, std: per-channel input normalization applied inside the model (inputs in [0, 1]);
            [None: mean 0 and std 1, no shift].
        kwargs: architecture options (``width`` and the like).

    Raises:
        ValueError: unknown model or norm kind, or mean/std of the wrong length.
    """
    if not is_model(name):
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    family, factory = _REGISTRY[name]
    if family != CLASSIFIER:
        return factory(**kwargs)
    options = {**_CLASSIFIER_DEFAULTS, **kwargs}
    if options["norm"] not in NORM_KINDS:
        raise ValueError(f"unknown norm kind {options['norm']!r}; choose one of "
                         f"{', '.join(NORM_KINDS)}")
    for label in ("mean", "std"):
        values = options[label]
        if values is not None and len(values) != options["in_channels"]:
            raise ValueError(f"{label} has {len(values)} values for {options['in_channels']} "
                             "input channels")
    return factory(**options)
