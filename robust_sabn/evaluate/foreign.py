"""Models from elsewhere, loaded without unpickling a stranger's objects, and evaluated like ours.

A model file is one of:

- a TorchScript archive (``torch.jit.save``): loaded with ``torch.jit.load``, which rebuilds the
  module from TorchScript code and tensors, not from Python pickles of arbitrary classes;
- a ``torch.export`` archive (``torch.export.save``, usually ``.pt2``, recognised by its zip
  directory under any file name): refused unless the caller trusts it
  (``trust_remote_code=True``, ``--trust-remote-code``), because ``torch.export.load``
  unpickles its sample inputs and some weights with ``weights_only=False``, which runs any code
  the file carries; trusted, it is loaded with ``torch.export.load`` and run as the exported
  graph (:class:`ExportedClassifier`);
- a state dict (``torch.save(model.state_dict())``, or RobustBench's ``{"state_dict": ...}``) plus
  ``arch="package.module:factory"``: ``factory()`` builds the architecture from code you
  installed, and the weights are read with ``torch.load(weights_only=True)`` and loaded strictly;
- a robust-sabn checkpoint (evaluated by ``evaluate_checkpoint``).

Anything else, a whole pickled ``nn.Module`` included, is refused with a UserInputError: loading
it would run the pickle's code. :func:`evaluate_foreign` writes the same evaluation record as
``evaluate_checkpoint`` (``model`` holds ``name``, ``source``, ``file`` and ``arch``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from robust_sabn.artifacts.checkpoint import as_state_dict, load_state_dict_file
from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.attacks.defaults import default_eps
from robust_sabn.data import list_datasets, load_split
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.config import EVAL_DEFAULTS
from robust_sabn.evaluate.evaluator import as_unit_float, evaluate_model
from robust_sabn.evaluate.options import check_attacks, check_eps

ModelFileKind = Literal["checkpoint", "state-dict", "torchscript", "torch-export"]
ModelFactory = Callable[[], nn.Module]
FOREIGN_KINDS: tuple[ModelFileKind, ...] = ("state-dict", "torchscript", "torch-export")
"""The kinds :func:`evaluate_foreign` evaluates (checkpoints go to ``evaluate_checkpoint``)."""
_CHECKPOINT_KEYS = ("model", "state_dict")


class ExportedClassifier(nn.Module):
    """A ``torch.export`` program as a module whose mode can be switched.

    The program's graph was traced in one mode (eval, for a classifier exported for
    evaluation); its module refuses ``train()`` / ``eval()``, which attacks call, so the mode is
    only recorded here and never reaches the graph.
    """

    def __init__(self, program: nn.Module) -> None:
        super().__init__()
        self.program = program

    def train(self, mode: bool = True) -> ExportedClassifier:
        """Record ``mode`` (the graph's own mode was fixed at export)."""
        self.training = mode
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K) of images x (N, C, H, W) in [0, 1]."""
        return self.program(x)


@dataclass(frozen=True)
class ForeignModel:
    """A loaded model and where it came from (recorded as the evaluation record's ``model``)."""

    model: nn.Module
    kind: ModelFileKind
    path: Path
    arch: str | None = None
    arch_kwargs: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """``{"name", "source", "file", "arch"}`` (plus ``arch_kwargs`` when the factory took
        arguments): name is the factory's or the file's stem."""
        name = self.arch.rpartition(":")[2] if self.arch else self.path.stem
        described = {"name": name, "source": self.kind, "file": str(self.path),
                     "arch": self.arch}
        return {**described, "arch_kwargs": self.arch_kwargs} if self.arch_kwargs else described


def model_file_kind(path: str | Path) -> ModelFileKind | None:
    """What ``path`` holds, from its zip directory and, for ``torch.save`` files (zip or legacy),
    a ``weights_only=True`` read; None for anything else (missing, unreadable, unsafe pickles).

    A dict holding ``model`` and ``state_dict`` is a robust-sabn checkpoint; a dict of tensors
    (or RobustBench's ``{"state_dict": ...}``) is a state dict.
    """
    path = Path(path)
    if not path.is_file():
        return None
    is_zip = zipfile.is_zipfile(path)  # torch.save's format since torch 1.6; before: legacy
    leaves: set[str] = set()
    if is_zip:
        with zipfile.ZipFile(path) as archive:
            leaves = {name.partition("/")[2] for name in archive.namelist()}
    if "archive_format" in leaves:
        return "torch-export"
    if "constants.pkl" in leaves:
        return "torchscript"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            content = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except Exception:  # refused or unreadable: the caller's loader reports why
        return None
    if isinstance(content, dict) and all(key in content for key in _CHECKPOINT_KEYS):
        return "checkpoint"
    return "state-dict" if as_state_dict(content) is not None else None


def _import_module_as_python_m(module_name: str, arch: str) -> Any:
    """Import ``module_name`` as ``python -m`` would find it: installed, or relative to the
    working directory (put first on ``sys.path`` when the module is found nowhere else).

    Raises:
        UserInputError: no such module, or importing it failed (the real error is named).
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing_itself = module_name == exc.name or module_name.startswith(f"{exc.name}.")
        cwd = os.getcwd()
        if not missing_itself or cwd in sys.path or "" in sys.path:
            where = (f"no module {module_name} here or among the installed packages"
                     if missing_itself else f"importing {module_name} failed: {exc}")
            raise UserInputError(f"--arch {arch!r}: {where}") from exc
        sys.path.insert(0, cwd)
        return _import_module_as_python_m(module_name, arch)
    except Exception as exc:  # a stranger's module may raise anything on import
        raise UserInputError(f"--arch {arch!r}: importing {module_name} raised "
                             f"{type(exc).__name__}: {exc}") from exc


def import_factory(arch: str) -> ModelFactory:
    """The callable named by ``"package.module:factory"`` (``factory`` may be dotted); the
    module is found as ``python -m`` finds it (see :func:`_import_module_as_python_m`).

    Raises:
        UserInputError: a malformed name, a module that does not import (the real error is
            named), or no such callable.
    """
    module_name, colon, attribute = arch.partition(":")
    if not colon or not module_name or not attribute:
        raise UserInputError(
            f"--arch {arch!r} must be package.module:factory, e.g. "
            "pyautoattack.examples.resnet:ResNet18"
        )
    target: Any = _import_module_as_python_m(module_name, arch)
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise UserInputError(f"--arch {arch!r}: {module_name} has no {attribute}")
        target = getattr(target, part)
    if not callable(target):
        raise UserInputError(f"--arch {arch!r}: {attribute} is not callable")
    return target


def build_from_factory(arch: str, arch_kwargs: dict[str, Any] | None = None) -> nn.Module:
    """``factory(**arch_kwargs)`` of ``arch`` (``"package.module:factory"``).

    Raises:
        UserInputError: the factory does not import, raises (named with its arguments), or
            returns something other than a module.
    """
    factory = import_factory(arch)
    kwargs = arch_kwargs or {}
    call = f"{arch.rpartition(':')[2]}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        model = factory(**kwargs)
    except Exception as exc:  # whatever the stranger's factory raises
        hint = ("" if kwargs else "; give its arguments as --arch-kwargs JSON, e.g. "
                "'{\"num_classes\": 10}'")
        raise UserInputError(f"--arch {arch}: {call} raised {type(exc).__name__}: {exc}"
                             f"{hint}") from exc
    if not isinstance(model, nn.Module):
        raise UserInputError(f"--arch {arch}: {call} returned a {type(model).__name__}, not a "
                             "torch module")
    return model


@contextlib.contextmanager
def _logging_errors_silenced() -> Iterator[None]:
    """No ``--- Logging error ---`` traceback from a library's own malformed log call (torch's
    export loader passes a message with two ``%s`` one argument) while the block runs."""
    before = logging.raiseExceptions
    logging.raiseExceptions = False
    try:
        yield
    finally:
        logging.raiseExceptions = before


def _load_archive(path: Path, kind: ModelFileKind, device: str | torch.device) -> nn.Module:
    try:
        if kind == "torchscript":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated")
                return torch.jit.load(str(path), map_location=device)
        with _logging_errors_silenced():
            return ExportedClassifier(torch.export.load(str(path)).module())
    except Exception as exc:  # torch raises many types for damaged archives
        raise UserInputError(
            f"cannot load {kind} archive {path}: {str(exc).splitlines()[0][:200]}"
        ) from exc


def refuse_untrusted_export(path: Path) -> None:
    """Raise the one-line refusal of a ``torch.export`` archive loaded without trust."""
    raise UserInputError(
        f"{path} is a torch.export archive, and loading one runs any code its pickled sample "
        "inputs or weights carry; pass --trust-remote-code (trust_remote_code=True) only for a "
        "file whose author you trust, or ask for a TorchScript archive or a state dict"
    )


def load_foreign_model(path: str | Path, *, arch: str | None = None,
                       arch_kwargs: dict[str, Any] | None = None,
                       device: str | torch.device = "cpu",
                       trust_remote_code: bool = False) -> ForeignModel:
    """Load a TorchScript or (trusted) torch.export archive, or ``arch``'s model with a state
    dict.

    Returns:
        the model (on ``device``, eval mode) and its description.

    Raises:
        UserInputError: a file of none of the kinds of :func:`model_file_kind`; a
            torch.export archive without ``trust_remote_code``; ``arch`` given for an archive
            or missing for a state dict; a robust-sabn checkpoint (use
            ``evaluate_checkpoint``); weights that do not fit ``arch``.
    """
    path = Path(path)
    kind = model_file_kind(path)
    if kind == "checkpoint":
        raise UserInputError(f"{path} is a robust-sabn checkpoint; evaluate it without --arch")
    if kind in ("torchscript", "torch-export"):
        if arch is not None:
            raise UserInputError(f"{path} is a {kind} archive that holds its architecture; "
                                 "drop --arch")
        if kind == "torch-export" and not trust_remote_code:
            refuse_untrusted_export(path)
        return ForeignModel(_load_archive(path, kind, device).to(device).eval(), kind, path)
    if arch is None and kind is None:
        raise UserInputError(
            f"{path} is not a TorchScript or torch.export archive, nor a state dict or "
            "checkpoint that torch.load(weights_only=True) reads; save the model with "
            "torch.export.save or torch.jit.save, or save its state_dict() and pass --arch"
        )
    if arch is None:
        raise UserInputError(
            f"{path} is not a robust-sabn checkpoint but a state dict: name its architecture "
            "with --arch package.module:factory and give --dataset (or use robustbench:NAME "
            "for a RobustBench zoo model)"
        )
    state = load_state_dict_file(path)
    model = build_from_factory(arch, arch_kwargs)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split()).removeprefix("Error(s) in loading state_dict for ")
        raise UserInputError(
            f"weights in {path} do not fit --arch {arch} with arguments {arch_kwargs or {}} "
            f"(set the factory's with --arch-kwargs): {detail[:300]}"
        ) from exc
    return ForeignModel(model.to(device).eval(), "state-dict", path, arch, arch_kwargs or None)


def check_classifier(model: nn.Module, images: Tensor, label: str) -> None:
    """Check that ``model`` maps images (N, C, H, W) to logits (N, K), for N = 1 and N = 2.

    Two batch sizes catch a ``torch.export`` archive traced for one fixed batch size.

    Raises:
        UserInputError: the forward pass fails (wrong input shape, a fixed batch size ...) or
            does not return one row of logits per image.
    """
    for count in (1, 2):
        batch = as_unit_float(images[:count])
        with torch.no_grad():
            try:
                logits = model(batch)
            except Exception as exc:  # any failure of a stranger's forward pass
                raise UserInputError(
                    f"{label} fails on images of shape {tuple(batch.shape)}: "
                    f"{str(exc).splitlines()[0][:200]} (export torch.export archives with a "
                    "dynamic batch dimension)"
                ) from exc
        if not isinstance(logits, Tensor) or logits.ndim != 2 or len(logits) != len(batch):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise UserInputError(f"{label} returns {shape} for {len(batch)} image(s); expected "
                                 f"logits of shape ({len(batch)}, classes)")


def evaluate_foreign(
    path: str | Path,
    *,
    dataset: str | None,
    arch: str | None = None,
    arch_kwargs: dict[str, Any] | None = None,
    attacks: Sequence[str] = EVAL_DEFAULTS.attacks,
    eps: float | None = EVAL_DEFAULTS.eps,
    n_examples: int | None = EVAL_DEFAULTS.n_examples,
    data_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    threat_model: str = EVAL_DEFAULTS.threat_model,
    version: str = EVAL_DEFAULTS.version,
    autoattack_attacks: Sequence[str] | None = EVAL_DEFAULTS.autoattack_attacks,
    trust_remote_code: bool = False,
    **options: Any,
) -> ResultRecord:
    """Evaluate a model file from elsewhere on the first ``n_examples`` test images of ``dataset``.

    Defaults are :data:`robust_sabn.evaluate.config.EVAL_DEFAULTS`; ``options`` are
    :func:`robust_sabn.evaluate.evaluate_model`'s (batch_size, seed, pgd_steps, ...). The record
    is ``evaluate_model``'s, with ``checkpoint`` the file and its SHA-256. Always the test split.
    ``trust_remote_code`` admits torch.export archives (see :func:`load_foreign_model`).

    Raises:
        UserInputError: no dataset, bad options (checked before loading), or a model file that
            cannot be loaded safely or does not classify the dataset's images.
    """
    check_attacks(attacks, threat_model, version, autoattack_attacks)
    if eps is not None:
        check_eps(eps, threat_model)
    foreign = load_foreign_model(path, arch=arch, arch_kwargs=arch_kwargs, device=device,
                                 trust_remote_code=trust_remote_code)
    if dataset is None:
        raise UserInputError(f"give --dataset for a model from elsewhere ({path} records none): "
                             f"one of {', '.join(list_datasets())}")
    data = load_split(dataset, "test", data_dir=data_dir, max_examples=n_examples)
    if eps is None and threat_model == "Linf":
        eps = default_eps(dataset)
    check_classifier(foreign.model, data.images[:2].to(device), str(path))
    return evaluate_model(
        foreign.model, data, eps=eps, attacks=attacks, n_examples=n_examples, device=device,
        threat_model=threat_model, version=version, autoattack_attacks=autoattack_attacks,
        model_info=foreign.describe(), checkpoint=foreign.path, **options,
    )
