"""Checkpoint format: written atomically, loaded safely (``weights_only=True``), rebuildable.

A checkpoint is a plain dict of tensors and JSON-like values::

    {"format": "robust-sabn-checkpoint", "format_version": 1,
     "model": ModelSpec.to_dict(), "dataset": "fashion-mnist",
     "state_dict": {...}, ...}   # trainers add optimizer, scheduler, epoch, rng, config

so it loads with ``torch.load(weights_only=True)`` and never executes code.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from robust_sabn.artifacts.atomic import atomic_write_bytes
from robust_sabn.errors import UserInputError

FORMAT = "robust-sabn-checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a registered model before loading its weights."""

    name: str
    norm: str
    num_classes: int
    in_channels: int
    num_branches: int = 2
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        """A freshly initialised model of this spec (see ``robust_sabn.models.create_model``)."""
        from robust_sabn.models import create_model

        try:
            return create_model(
                self.name, norm=self.norm, num_classes=self.num_classes,
                in_channels=self.in_channels, num_branches=self.num_branches,
                mean=self.mean, std=self.std, **self.kwargs,
            )
        except TypeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            raise UserInputError(
                f"model {self.name!r} does not take the option(s) {sorted(self.kwargs)} "
                f"({exc}); drop them"
            ) from exc
        except ValueError as exc:
            raise UserInputError(f"cannot build model {self.name!r}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = list(self.mean) if self.mean is not None else None
        d["std"] = list(self.std) if self.std is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """The spec saved by :meth:`to_dict`, its sizes checked before anything is built.

        Raises:
            UserInputError: a missing or ill-typed field, or a class, channel or branch count
                out of range (a damaged or hostile file).
        """
        from robust_sabn.data.sources import MAX_CLASSES

        try:
            spec = cls(
                name=str(d["name"]), norm=str(d["norm"]), num_classes=int(d["num_classes"]),
                in_channels=int(d["in_channels"]), num_branches=int(d.get("num_branches", 2)),
                mean=tuple(map(float, d["mean"])) if d.get("mean") is not None else None,
                std=tuple(map(float, d["std"])) if d.get("std") is not None else None,
                kwargs=dict(d.get("kwargs") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserInputError(f"the model spec is damaged ({type(exc).__name__}: {exc}); "
                                 "save the model again") from None
        for name, value, high in (("num_classes", spec.num_classes, MAX_CLASSES),
                                  ("in_channels", spec.in_channels, 64),
                                  ("num_branches", spec.num_branches, 64)):
            if not 1 <= value <= high:
                raise UserInputError(f"the model spec's {name} is {value}; it must be from 1 "
                                     f"to {high:,} (a damaged file?)")
        return spec


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (must hold ``model`` and ``state_dict``) atomically to ``path``."""
    missing = {"model", "state_dict"} - payload.keys()
    if missing:
        raise ValueError(f"checkpoint payload lacks {sorted(missing)}")
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    atomic_write_bytes(Path(path), lambda f: torch.save(full, f))
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True``.

    Raises:
        UserInputError: the file is missing, unreadable, not a robust-sabn checkpoint, or from a
            newer format version.
    """
    path = Path(path)
    if path.is_dir():
        found = [name for name in ("best.pt", "last.pt") if (path / name).is_file()]
        hint = (f"give a checkpoint file in it, e.g. {path / found[0]}" if found
                else "give the path of a .pt file")
        raise UserInputError(f"{path} is a folder, not a checkpoint: {hint}")
    if not path.is_file():
        raise UserInputError(f"checkpoint not found: {path} (give the path of a .pt file)")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before failing
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        detail = _load_error_detail(path, exc)
        if "GLOBAL" in detail:
            raise UserInputError(
                f"refused to load {path}: it holds Python objects that could run code "
                f"({detail}); load only checkpoints written by robust-sabn"
            ) from exc
        raise UserInputError(
            f"cannot read checkpoint {path}: the file is corrupt, truncated or not a PyTorch "
            f"file ({detail}); give a .pt file written by robust-sabn train"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserInputError(
            f"{path} is not a robust-sabn checkpoint (no 'format: {FORMAT}' entry); "
            "evaluate someone else's model as a state dict with --arch package.module:factory "
            "--dataset D, as a TorchScript or torch.export archive, or as robustbench:NAME"
        )
    if int(ckpt.get("format_version", 0)) > FORMAT_VERSION:
        raise UserInputError(
            f"{path} has checkpoint format {ckpt['format_version']}, newer than this "
            f"robust-sabn reads ({FORMAT_VERSION}); upgrade robust-sabn"
        )
    return ckpt


_TORCH_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation",
                 "(1)", "(2)")


def _load_error_detail(path: Path, exc: Exception) -> str:
    """The telling part of a ``torch.load`` error (torch wraps it in generic advice).

    A blocked global (the file would run code) wins; else the first line that is not advice.
    """
    if path.stat().st_size == 0:
        return "the file is empty"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    candidates = ([line for line in lines if "GLOBAL" in line]
                  or [line for line in lines if not line.startswith(_TORCH_ADVICE)])
    detail = candidates[0] if candidates else type(exc).__name__
    return detail.removeprefix("WeightsUnpickler error:").strip().split(". ")[0].rstrip(".")[:200]


def _check_classifier_checkpoint(path: str | Path, model: Any) -> None:
    """Raise UserInputError when a checkpoint's ``model`` names no registered classifier: a
    GAN generator, a NAS supernet or a style network belongs to its own task's commands."""
    from robust_sabn.models import is_model

    name = model.get("name") if isinstance(model, dict) else None
    if isinstance(name, str) and is_model(name, "classifier"):
        return
    if isinstance(model, dict) and (model.get("family") or name):
        what = model.get("family") or name
        raise UserInputError(
            f"{path} is a robust-sabn checkpoint of a {what}, not of a classifier; this command "
            "takes adversarial-training checkpoints: use its task's command (robust-sabn gan "
            "eval, nas eval, style eval)"
        )


def load_model(path: str | Path, map_location: str | torch.device = "cpu"
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint and load its weights; returns (model in eval mode, ckpt).

    Raises:
        UserInputError: unreadable checkpoint, or weights that do not fit the recorded spec.
    """
    ckpt = load_checkpoint(path, map_location)
    _check_classifier_checkpoint(path, ckpt.get("model"))
    try:
        spec = ModelSpec.from_dict(ckpt["model"])
        state_dict = ckpt["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserInputError(
            f"{path} is a damaged robust-sabn checkpoint: its model spec or weights are "
            f"missing or malformed ({type(exc).__name__}: {exc}); use another checkpoint"
        ) from exc
    model = spec.build()
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise UserInputError(
            f"weights in {path} do not fit model {spec.name!r} with norm {spec.norm!r}: "
            f"{str(exc).splitlines()[0][:200]}; the checkpoint is damaged, use another one"
        ) from exc
    return model.to(map_location).eval(), ckpt


def as_state_dict(content: Any) -> dict[str, Tensor] | None:
    """``content`` if it is a dict of tensors, its ``"state_dict"`` if that is one (RobustBench's
    checkpoint wrapping), else None."""
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        content = content["state_dict"]
    if isinstance(content, dict) and all(isinstance(v, Tensor) for v in content.values()):
        return content
    return None


def load_state_dict_file(path: Path) -> dict[str, Tensor]:
    """A state dict from ``path`` with ``torch.load(weights_only=True)``.

    RobustBench's ``{"state_dict": {...}}`` wrapping is accepted.

    Raises:
        UserInputError: missing, unreadable or unsafe, or not a dict of tensors.
    """
    if not path.is_file():
        raise UserInputError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise UserInputError(
            f"cannot read weights {path} with weights_only=True: {str(exc).splitlines()[0][:200]}"
        ) from exc
    found = as_state_dict(state)
    if found is None:
        raise UserInputError(f"{path} is not a state dict (a dict of tensors)")
    return found
