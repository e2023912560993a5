"""Set a model's train/eval mode for a block of code and restore every module's mode after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def model_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Put ``model`` in train (``training=True``) or eval mode inside the ``with`` block.

    On exit each submodule gets back its own previous mode, so a model whose parts were in mixed
    modes (a frozen encoder in eval inside a training model) is left exactly as it was found.
    """
    previous = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for module, was_training in previous:
            module.training = was_training
