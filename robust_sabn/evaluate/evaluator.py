"""Clean, PGD-k and AutoAttack accuracy of every branch of a model, as one evaluation record.

    >>> record = evaluate_checkpoint("runs/fmnist/best.pt", n_examples=1000)
    >>> record.value("accuracy", "adv", attack="autoattack-standard")
    0.713

The model is in eval mode for every forward pass and attack, and every module gets its previous
mode back afterwards; running statistics never change. Examples are the first ``n_examples`` of
the split, in order, so runs are comparable; batch b of ``batch_size`` examples seeds torch with
``seed + b`` before each attack and is AutoAttack's seed for that batch, so under torchrun (or
``robust-sabn eval --nproc N``) each rank evaluates a block of batches and the gathered record
has the same per-example flags as one process (:mod:`robust_sabn.evaluate.sharded`). With a
``state_path`` every finished batch (and AutoAttack step) is written down as it ends, and a
killed evaluation run again with the same arguments continues where it stopped
(:mod:`robust_sabn.evaluate.journal`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from robust_sabn.adversarial.record import evaluation_record
from robust_sabn.artifacts import file_sha256, load_model
from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.attacks.defaults import default_eps
from robust_sabn.attacks.registry import get_attack_info
from robust_sabn.data import load_split
from robust_sabn.data.check import check_data_fits_model
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.config import EVAL_DEFAULTS, SEEDING, EvalConfig
from robust_sabn.evaluate.journal import EvaluationJournal
from robust_sabn.evaluate.options import (
    check_attacks,
    check_eps,
    check_positive,
    check_threat_model,
    resolve_branches,
)
from robust_sabn.evaluate.progress import EvaluationProgress
from robust_sabn.evaluate.sharded import combine_branch, plan_batches, run_branch_shard
from robust_sabn.nn import branch_names, fixed_branch
from robust_sabn.nn.mode import model_mode
from robust_sabn.parallel.context import distributed_context
from robust_sabn.parallel.devices import resolve_device, speed_settings
from robust_sabn.vocabulary import count

DEFAULT_ATTACKS = EVAL_DEFAULTS.attacks


class LabelledImages(Protocol):
    """What evaluation needs of a data split (``robust_sabn.data.ImageTensors`` fits).

    Attributes:
        images: (N, C, H, W), uint8 in [0, 255] or float in [0, 1].
        labels: (N,) int64 class indices.
        name: the dataset's name.
    """

    images: Tensor
    labels: Tensor
    name: str


def as_unit_float(images: Tensor) -> Tensor:
    """Images as float32 in [0, 1]: uint8 is divided by 255, floats are kept."""
    return images.float().div(255) if images.dtype == torch.uint8 else images.float()


def attack_settings(attacks: Sequence[str], *, eps: float, pgd_steps: int,
                    pgd_step_size: float | None, version: str,
                    autoattack_attacks: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """Per record key, the settings an attack ran with (steps, step size, version ...)."""
    settings: dict[str, dict[str, Any]] = {}
    for name in attacks:
        info = get_attack_info(name)
        settings[info.key(steps=pgd_steps, version=version)] = info.settings(
            eps=eps, steps=pgd_steps, step_size=pgd_step_size, version=version,
            autoattack_attacks=autoattack_attacks)
    return settings


def evaluate_model(
    model: nn.Module,
    data: LabelledImages,
    config: EvalConfig = EVAL_DEFAULTS,
    *,
    device: str | torch.device | None = None,
    model_info: dict[str, Any] | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = False,
    state_path: str | Path | None = None,
    **settings: Any,
) -> ResultRecord:
    """Evaluate each branch of ``model`` (``config.branches``: all) on ``data``'s first
    ``config.n_examples``, with the attacks and radius of ``config``.

    Args:
        model: a classifier on images (N, C, H, W) in [0, 1]; ours or any ``forward(x)`` module.
        data: images and labels (see :class:`LabelledImages`).
        config: the evaluation settings (:class:`~robust_sabn.evaluate.config.EvalConfig`:
            attacks, eps on the [0, 1] pixel scale, n_examples, batch size, branches, seed ...).
        device: where to run; None keeps the model's device, "auto" takes the GPU when there
            is one.
        model_info: recorded as the model (a spec dict or {"robustbench": name}).
        checkpoint: recorded, with its SHA-256, when the model came from a file.
        progress: show live progress per branch and attack on stderr (rank 0 only).
        state_path: a state file (JSON lines): the batches it holds for this very evaluation
            are read back instead of run, the others are written to it as they finish, and it
            is deleted once the record is complete.
        settings: EvalConfig fields by name, replacing ``config``'s: the keyword form
            ``evaluate_model(model, data, eps=0.1, attacks=["pgd"])``.

    Returns:
        The evaluation record (layout: :mod:`robust_sabn.adversarial.record`).

    Raises:
        UserInputError: bad eps, attack, AutoAttack version or attack, branch, or size; a
            state file of another evaluation.
        TypeError: a keyword that is no EvalConfig field.
    """
    config = replace_settings(config, settings)
    attacks, eps = _checked(config, data.name)
    branch_list = resolve_branches(model, config.branches)
    device = (next(model.parameters()).device if device is None
              else torch.device(resolve_device(str(device))))
    ctx = distributed_context(str(device))
    model = model.to(device)
    x = as_unit_float(data.images[:config.n_examples]).to(device)
    y = data.labels[:config.n_examples].long().to(device)
    check_data_fits_model(model, x, y, what=f"the {config.split} images of {data.name}",
                          model_name=str(checkpoint or type(model).__name__))
    subject = _subject(model, data.name, config.split, model_info, checkpoint)
    record_settings = _settings(config, attacks, eps, len(x))
    start = time.perf_counter()
    has_branches = bool(branch_names(model))
    plan = plan_batches(len(x), config.batch_size, ctx)
    results: dict[str, Any] = {}
    journal = _journal(state_path, model, {**subject, **record_settings,
                                           "branches": list(branch_list)})
    with model_mode(model, False), EvaluationProgress(
            progress and (ctx is None or ctx.is_main)) as display:
        _note_resume(journal, display)
        for branch in branch_list:
            view = fixed_branch(model, branch) if has_branches else model
            part = run_branch_shard(
                view, x, y, plan, attacks=attacks, seed=config.seed, progress=display,
                branch=branch, journal=journal, eps=eps, threat_model=config.threat_model,
                steps=config.pgd_steps, step_size=config.pgd_step_size, version=config.version,
                autoattack_attacks=config.autoattack_attacks, batch_size=config.batch_size,
            )
            results[branch] = combine_branch([part] if ctx is None else ctx.all_gather(part),
                                             plan)
    if journal is not None and (ctx is None or ctx.is_main):
        journal.remove()  # every rank's batches are in: the gathers above waited for them
    record = evaluation_record(subject=subject, settings=record_settings, branches=results,
                               wall_time_s=time.perf_counter() - start)
    record.extras["runtime"] = {**speed_settings(str(device)),
                                "world_size": 1 if ctx is None else ctx.world_size}
    return record


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of a model's state dict (names, shapes, dtypes and values, in order)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _note_resume(journal: EvaluationJournal | None, display: EvaluationProgress) -> None:
    """Say on the progress display what a resumed evaluation reads back instead of running."""
    if journal is not None and (journal.finished_batches or journal.finished_steps):
        display.note(f"resuming from {journal.path}: "
                     f"{count(journal.finished_batches, 'finished batch', 'finished batches')}"
                     f" and {count(journal.finished_steps, 'AutoAttack step')} of unfinished "
                     "batches are read back, not run")


def _journal(state_path: str | Path | None, model: nn.Module, identity: dict[str, Any]
             ) -> EvaluationJournal | None:
    """The state file of an evaluation with ``identity`` (subject, settings, branches) of
    ``model``'s weights; None without ``state_path``."""
    if state_path is None:
        return None
    return EvaluationJournal(state_path, {
        **identity, "weights": identity["checkpoint_sha256"] or weights_digest(model)})


def replace_settings(config: EvalConfig, settings: dict[str, Any]) -> EvalConfig:
    """``config`` with the fields in ``settings`` replaced (sequences as tuples).

    Raises:
        TypeError: a name that is no EvalConfig field.
    """
    if not settings:
        return config
    return dataclasses.replace(config, **{
        k: tuple(v) if isinstance(v, list | tuple) else v for k, v in settings.items()})


def _checked(config: EvalConfig, dataset: str) -> tuple[list[str], float]:
    """``config``'s attacks and eps (None: the dataset's default), checked."""
    check_threat_model(config.threat_model)
    attacks = check_attacks(config.attacks, config.threat_model, config.version,
                            config.autoattack_attacks)
    check_positive("n_examples", config.n_examples, allow_none=True)
    check_positive("batch_size", config.batch_size)
    check_positive("pgd_steps", config.pgd_steps)
    eps = (_default_eps(dataset, config.threat_model) if config.eps is None else config.eps)
    return attacks, check_eps(eps, config.threat_model)


def _subject(model: nn.Module, dataset: str, split: str, model_info: dict[str, Any] | None,
             checkpoint: str | Path | None) -> dict[str, Any]:
    """What an evaluation record says was evaluated."""
    return {
        "model": model_info if model_info is not None else {"class": type(model).__name__},
        "norm": (model_info or {}).get("norm"), "dataset": dataset, "split": split,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "checkpoint_sha256": file_sha256(checkpoint) if checkpoint is not None else None,
    }


def _settings(config: EvalConfig, attacks: list[str], eps: float, n: int) -> dict[str, Any]:
    """How an evaluation record says the evaluation ran (``extras["settings"]``)."""
    return {
        "eps": eps, "threat_model": config.threat_model, "n_examples": n, "seed": config.seed,
        "batch_size": config.batch_size, "seeding": SEEDING,
        "attack_settings": attack_settings(
            attacks, eps=eps, pgd_steps=config.pgd_steps, pgd_step_size=config.pgd_step_size,
            version=config.version, autoattack_attacks=config.autoattack_attacks,
        ),
    }


def _default_eps(dataset: str, threat_model: str) -> float:
    """The dataset's standard L-inf radius; other threat models have none."""
    if threat_model != "Linf":
        raise UserInputError(f"give eps for the {threat_model} threat model (no default)")
    return default_eps(dataset)


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    eps: float | None = None,
    n_examples: int | None = EVAL_DEFAULTS.n_examples,
    batch_size: int = EVAL_DEFAULTS.batch_size,
    branches: Sequence[str] | None = None,
    version: str = EVAL_DEFAULTS.version,
    seed: int = EVAL_DEFAULTS.seed,
    data_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    pgd_steps: int = EVAL_DEFAULTS.pgd_steps,
    split: str = EVAL_DEFAULTS.split,
    pgd_step_size: float | None = None,
    autoattack_attacks: Sequence[str] | None = None,
    threat_model: str = EVAL_DEFAULTS.threat_model,
    dataset: str | None = None,
    model_dir: str | Path = "models",
    progress: bool = False,
    state_path: str | Path | None = None,
) -> ResultRecord:
    """Load a robust-sabn checkpoint (or a RobustBench model) and evaluate it on ``split``.

    ``checkpoint`` is a checkpoint file, or ``robustbench:NAME`` for a RobustBench zoo model
    loaded through ``robustbench.utils.load_model`` from ``model_dir`` (downloaded only when
    absent and online) and evaluated on ``dataset`` (default cifar10). Options are those of
    :func:`evaluate_model`; they are checked before anything is loaded. ``data_dir`` is where
    the dataset's files are (see ``robust_sabn.data.load_split``); None takes the training
    run's ``config["data_dir"]``, then the data module's default. eps None takes the dataset's
    default. A "val" split is drawn with the run's seed and val_size.

    Raises:
        UserInputError: bad options, an unreadable checkpoint, or a missing dataset.
    """
    check_threat_model(threat_model)
    check_attacks(attacks, threat_model, version, autoattack_attacks)
    check_positive("n_examples", n_examples, allow_none=True)
    check_positive("batch_size", batch_size)
    if eps is not None:
        check_eps(eps, threat_model)
    device = resolve_device(str(device))
    if str(checkpoint).startswith(ROBUSTBENCH_PREFIX):
        model, ckpt = _load_robustbench(str(checkpoint), dataset or "cifar10", model_dir,
                                        threat_model, device)
        weights: str | Path | None = None
    else:
        model, ckpt = load_model(checkpoint, map_location=device)
        weights = checkpoint
        if dataset is not None and dataset != ckpt.get("dataset"):
            raise UserInputError(
                f"{checkpoint} was trained on {ckpt.get('dataset')!r}, not {dataset!r}; "
                "drop --dataset"
            )
    dataset = ckpt.get("dataset")
    if not dataset:
        raise UserInputError(f"{checkpoint} records no dataset; evaluate it with evaluate_model")
    config = ckpt.get("config") or {}
    if data_dir is None:
        data_dir = config.get("data_dir")
    if eps is None and threat_model == "Linf":
        eps = default_eps(dataset)
    data = load_split(dataset, split, data_dir=data_dir, seed=int(config.get("seed") or 0),
                      val_size=config.get("val_size"), max_examples=n_examples)
    config = replace_settings(EVAL_DEFAULTS, {
        "eps": eps, "attacks": attacks, "n_examples": n_examples, "batch_size": batch_size,
        "branches": branches, "version": version, "seed": seed, "pgd_steps": pgd_steps,
        "pgd_step_size": pgd_step_size, "autoattack_attacks": autoattack_attacks,
        "threat_model": threat_model, "split": split})
    return evaluate_model(model, data, config, device=device, model_info=ckpt["model"],
                          checkpoint=weights, progress=progress,
                          state_path=state_path)


ROBUSTBENCH_PREFIX = "robustbench:"


def _load_robustbench(source: str, dataset: str, model_dir: str | Path, threat_model: str,
                      device: str | torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """A RobustBench zoo model and a checkpoint-like dict (dataset, model info) for it."""
    from robust_sabn.zoo.robustbench_zoo import load_robustbench_model

    name = source.removeprefix(ROBUSTBENCH_PREFIX)
    model = load_robustbench_model(name, model_dir, dataset, threat_model)
    return model.to(device).eval(), {"dataset": dataset, "model": {"robustbench": name}}

