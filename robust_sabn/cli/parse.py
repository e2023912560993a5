"""Parsing and checking helpers shared by the CLI commands; bad input raises UserInputError."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from robust_sabn.errors import UserInputError


def parse_list(text: str) -> list[str]:
    """Split ``"pgd,autoattack"`` into ``["pgd", "autoattack"]`` (spaces and empties dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_device(text: str) -> str:
    """``text`` if it names a device this machine has: cpu, cuda, cuda:N or mps.

    Raises:
        UserInputError: an unknown device name, or a GPU this machine does not have.
    """
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UserInputError(f"unknown device {text!r}; use cpu, cuda, cuda:N or mps") from None
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


def check_output_file(path: Path) -> Path:
    """``path`` after checking that a file can be written there (its folder is created).

    Checked before any work starts, so a long evaluation never ends in an unwritable path.

    Raises:
        UserInputError: ``path`` is a folder, or its folder cannot be created or written.
    """
    if path.is_dir():
        raise UserInputError(f"--out {path} is a folder; give a file such as {path}/record.json")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as exc:
        raise UserInputError(
            f"cannot write --out {path}: {exc.strerror or exc}; choose another --out"
        ) from None
    return path


def check_run_folder(path: Path) -> Path:
    """``path`` unless it, or the nearest of its folders that exists, is not a writable folder.

    Raises:
        UserInputError: ``path`` (or a parent) is a file, or the folder is read-only.
    """
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UserInputError(
            f"--out {path}: {existing} is a file, not a folder; choose another --out"
        )
    if not os.access(existing, os.W_OK):
        raise UserInputError(f"--out {path}: {existing} is not writable; choose another --out")
    return path
