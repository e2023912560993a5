"""Model registry in the style of timm: ``create_model``, ``list_models``, ``is_model``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from robust_sabn.nn import NORM_KINDS

ModelFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelFactory] = {}


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator that registers a factory under ``name`` for :func:`create_model`."""

    def wrap(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_REGISTRY)


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    return name in _REGISTRY


def create_model(
    name: str,
    *,
    norm: str = "bn",
    num_classes: int = 10,
    in_channels: int = 3,
    num_branches: int = 2,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    **kwargs: object,
) -> nn.Module:
    """Build a registered classifier whose every norm layer is ``norm``.

    Args:
        name: a name from :func:`list_models`.
        norm: one of ``bn``, ``ccbn``, ``sabn``, ``auxbn``, ``saauxbn``.
        num_classes: logits per sample.
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        num_branches: branches of multi-branch norms (2 = ``clean``/``adv``).
        mean, std: per-channel input normalization applied inside the model (inputs in [0, 1]);
            default mean 0 and std 1 (no shift).
        kwargs: architecture options (``width`` and the like).

    Raises:
        ValueError: unknown model or norm kind, or mean/std of the wrong length.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    if norm not in NORM_KINDS:
        raise ValueError(f"unknown norm kind {norm!r}; choose one of {', '.join(NORM_KINDS)}")
    for label, values in (("mean", mean), ("std", std)):
        if values is not None and len(values) != in_channels:
            raise ValueError(f"{label} has {len(values)} values for {in_channels} input channels")
    return _REGISTRY[name](
        norm=norm, num_classes=num_classes, in_channels=in_channels, num_branches=num_branches,
        mean=mean, std=std, **kwargs,
    )
