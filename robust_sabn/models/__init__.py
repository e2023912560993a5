"""Architectures with any norm of the SaBN family, behind a timm-style registry."""

from robust_sabn.models import preact_resnet, small_cnn, wide_resnet  # noqa: F401  (registers)
from robust_sabn.models.registry import (
    create_model,
    families,
    is_model,
    list_models,
    register_model,
)

__all__ = ["create_model", "families", "is_model", "list_models", "register_model"]
