"""Model registry in the style of timm: ``create_model``, ``list_models``, ``is_model``.

Every entry belongs to a *family*: ``classifier`` (the adversarial benchmark's models; built
with a norm kind, classes, input channels and input statistics), ``generator`` and
``discriminator`` (GANs), ``supernet`` (NAS), ``encoder`` and ``decoder`` (style transfer).
Factories of the other families take their own keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from robust_sabn.vocabulary import NORM_KINDS

ModelFactory = Callable[..., nn.Module]
FAMILIES: tuple[str, ...] = ("classifier", "generator", "discriminator", "supernet", "encoder",
                             "decoder")
_REGISTRY: dict[str, tuple[str, ModelFactory]] = {}


def register_model(name: str, family: str = "classifier"
                   ) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator that registers a factory under ``name`` in ``family`` for :func:`create_model`.

    Raises:
        ValueError: ``name`` is taken or ``family`` unknown.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")

    def wrap(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = (family, factory)
        return factory

    return wrap


def list_models(family: str | None = None) -> list[str]:
    """Names of every registered model (of ``family``), sorted."""
    return sorted(n for n, (f, _) in _REGISTRY.items() if family is None or f == family)


def is_model(name: str, family: str | None = None) -> bool:
    """Whether ``name`` is a registered model (of ``family``)."""
    return name in _REGISTRY and (family is None or _REGISTRY[name][0] == family)


def model_family(name: str) -> str:
    """The family of the registered model ``name``.

    Raises:
        ValueError: unknown model.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    return _REGISTRY[name][0]


def create_model(
    name: str,
    *,
    norm: str = "bn",
    num_classes: int = 10,
    in_channels: int = 3,
    num_branches: int = 2,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    A classifier gets every norm layer of kind ``norm`` and the arguments below; a model of
    another family gets ``kwargs`` only (see its factory).

    Args:
        name: a name from :func:`list_models`.
        norm: one of ``bn``, ``ccbn``, ``sabn``, ``auxbn``, ``saauxbn`` (classifiers).
        num_classes: logits per sample.
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        num_branches: branches of multi-branch norms (2 = ``clean``/``adv``).
        mean, std: per-channel input normalization applied inside the model (inputs in [0, 1]);
            default mean 0 and std 1 (no shift).
        kwargs: architecture options (``width`` and the like).

    Raises:
        ValueError: unknown model or norm kind, or mean/std of the wrong length.
    """
    family, factory = _REGISTRY.get(name, (None, None))
    if factory is None:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    if family != "classifier":
        return factory(**kwargs)
    if norm not in NORM_KINDS:
        raise ValueError(f"unknown norm kind {norm!r}; choose one of {', '.join(NORM_KINDS)}")
    for label, values in (("mean", mean), ("std", std)):
        if values is not None and len(values) != in_channels:
            raise ValueError(f"{label} has {len(values)} values for {in_channels} input channels")
    return factory(
        norm=norm, num_classes=num_classes, in_channels=in_channels, num_branches=num_branches,
        mean=mean, std=std, **kwargs,
    )
