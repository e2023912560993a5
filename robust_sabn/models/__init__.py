"""Architectures with any norm of the SaBN family, behind a timm-style registry."""

from robust_sabn.models import preact_resnet, small_cnn, wide_resnet  # noqa: F401  (registers)
from robust_sabn.models.registry import (
    FAMILIES,
    create_model,
    is_model,
    list_models,
    model_family,
    register_model,
)

__all__ = ["FAMILIES", "create_model", "is_model", "list_models", "model_family",
           "register_model"]
