"""One check of data against a model, before any work: channels, image size, labels.

A model given data it cannot take (a different npz, a grey set for a colour model) is refused
by :func:`check_data_fits_model` before any attack runs, with one line that names what
differs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robust_sabn.errors import UserInputError
from robust_sabn.nn import branch_names, fixed_branch
from robust_sabn.nn.mode import model_mode

_PROBE_SIDES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _probe_view(model: nn.Module) -> nn.Module:
    """A plain ``forward(x)`` of ``model`` (its first branch when it has several)."""
    names = branch_names(model)
    return fixed_branch(model, names[0]) if names else model


def _logits_of_blank(view: nn.Module, channels: int, height: int, width: int,
                     device: torch.device) -> Tensor | None:
    """Logits (1, K) of one black image (1, C, H, W), or None when the model cannot take it."""
    try:
        with torch.no_grad():
            return view(torch.zeros(1, channels, height, width, device=device))
    except (RuntimeError, ValueError):
        return None


def _smallest_side(view: nn.Module, channels: int, device: torch.device) -> int | None:
    """The smallest square side (from 1, 2, 4, ... 256) the model takes, or None."""
    return next((side for side in _PROBE_SIDES
                 if _logits_of_blank(view, channels, side, side, device) is not None), None)


def model_input_channels(model: nn.Module) -> int | None:
    """Input channels C of the model's first registered convolution, or None when it has none."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first.in_channels if first is not None else None


def check_data_fits_model(model: nn.Module, images: Tensor, labels: Tensor, *,
                          what: str, model_name: str) -> None:
    """Refuse data the model cannot classify, before any training or attack starts.

    One forward pass of a black image of the data's shape, in eval mode, with no gradient; only
    when it fails are the channels (of the first convolution) and the smallest image size the
    model takes looked up, to say why.

    Args:
        model: a classifier, ours (``forward(x, branch=...)``) or any ``forward(x)`` module.
        images: (N, C, H, W), any dtype; only the shape is used.
        labels: (N,) integer class indices.
        what: the data for people, e.g. "the test images of my.npz".
        model_name: the model for people, e.g. "small_cnn from runs/x/best.pt".

    Raises:
        UserInputError: a channel count the model does not take, images smaller than its
            pooling allows, or a label >= the model's number of classes.
    """
    _, channels, height, width = images.shape
    device = next(model.parameters()).device
    view = _probe_view(model)
    with model_mode(model, False):
        logits = _logits_of_blank(view, channels, height, width, device)
        if logits is None:
            expected = model_input_channels(model)
            if expected is not None and expected != channels:
                raise UserInputError(
                    f"{what} have {channels} channel(s) but {model_name} takes {expected}; use "
                    "data of the kind the model was trained on"
                )
            side = _smallest_side(view, channels, device)
            if side is None:
                raise UserInputError(
                    f"{model_name} cannot classify {what} ({channels} x {height} x {width}); "
                    "use data of the kind the model was trained on"
                )
            raise UserInputError(
                f"{what} are {height}x{width} pixels, too small for {model_name} (its "
                f"pooling needs at least {side}x{side} pixels); use larger images or another "
                "--model"
            )
    classes = logits.shape[-1]
    if len(labels) and int(labels.max()) >= classes:
        raise UserInputError(
            f"{what} hold label {int(labels.max())} but {model_name} has {classes} classes "
            f"(labels 0..{classes - 1}); use data with the model's classes"
        )
    if len(labels) and int(labels.min()) < 0:
        raise UserInputError(f"{what} hold a negative label {int(labels.min())}; labels are "
                             "class indices 0..K-1")
