"""Parsing and checking helpers shared by the CLI commands; bad input raises UserInputError.

Torch-free to import (task CLIs import it at the top); :func:`parse_device` imports torch.
"""

from __future__ import annotations

import json
from typing import Any

from robust_sabn.errors import UserInputError

DEVICE_HELP = "auto (the GPU when there is one, else the CPU), cpu, cuda, cuda:1 or mps."
TRUST_REMOTE_CODE_HELP = (
    "Also load files that run code when loaded: a torch.export archive (torch.export.load "
    "unpickles its sample inputs and some weights, which can run anything) and a zoo entry "
    "whose architecture is code outside robust-sabn (its module is imported). Only for files "
    "whose author you trust; without it they are refused."
)


def parse_list(text: str) -> list[str]:
    """Split ``"pgd,autoattack"`` into ``["pgd", "autoattack"]`` (spaces and empties dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_device(text: str) -> str:
    """``text`` if it names a device this machine has: cpu, cuda, cuda:N or mps; ``auto`` is
    the GPU when there is one, else the CPU (:func:`robust_sabn.parallel.resolve_device`).

    Raises:
        UserInputError: an unknown device name, or a GPU this machine does not have.
    """
    import torch

    if text == "auto":
        from robust_sabn.parallel.devices import resolve_device

        return resolve_device(text)
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UserInputError(
            f"unknown device {text!r}; use cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserInputError(f"device {text!r}: this machine has no CUDA GPU; use cpu")
        if device.index is not None and device.index >= count:
            raise UserInputError(
                f"device {text!r}: this machine has {count} CUDA GPU(s); use cuda:0 to "
                f"cuda:{count - 1}"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise UserInputError(f"device {text!r}: MPS is not available here; use cpu")
    elif device.type != "cpu":
        raise UserInputError(f"device {text!r} is not supported; use cpu, cuda, cuda:N or mps")
    return text


ARCH_KWARGS_HELP = ("Keyword arguments of the --arch factory, as a JSON object, e.g. "
                    "'{\"num_classes\": 10}'.")


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """``text`` read as a JSON object (None stays None).

    Raises:
        UserInputError: not JSON, or JSON that is not an object (the message names ``option``).
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{option} {text!r} is not JSON ({exc.msg}); write an object, "
                             "e.g. '{\"num_classes\": 10}'") from exc
    if not isinstance(value, dict):
        raise UserInputError(f"{option} must be a JSON object of keyword arguments, e.g. "
                             f"'{{\"num_classes\": 10}}', not {text!r}")
    return value

