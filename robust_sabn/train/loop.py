"""The training loop: PGD-AT with the hybrid loss, validation, atomic checkpoints, resume.

Run folder (``out_dir``): ``config.json`` (resolved config and model spec), ``metrics.jsonl``
(one row per epoch), ``last.pt`` (every epoch), ``best.pt`` (best validation PGD accuracy on the
adversarial branch), ``train_record.json`` (written when training ends, ``"status": "ok"``, or
when it diverges, ``"status": "diverged"``). The folder is locked while a run writes it
(:func:`robust_sabn.artifacts.lock.folder_lock`), and the data is checked against the model
before the first step (:func:`robust_sabn.data.check.check_data_fits_model`).

Randomness is derived from ``(seed, epoch)`` for shuffling, augmentation and PGD starts, and the
lr is a function of the global step, so a run resumed from ``last.pt`` reaches the same weights
as an uninterrupted one (on CPU).

Under torchrun (or ``robust-sabn train --nproc N``) every rank draws the same global batch
(order, augmentation and PGD starts from ``(seed, epoch)``, as one process would) and trains on
its slice of ``batch_size / world_size`` images through DistributedDataParallel; with
``sync_norm`` the result is one process's run up to float rounding. Without it each rank
normalises with its own slice's statistics (as PyTorch's BN under DDP): gradients are still
averaged, and the running statistics are rank 0's (DDP broadcasts rank 0's buffers at every
forward, and every rank takes them before validating). Every rank validates its block of the
validation batches and the sums are added over ranks (:func:`validate`); rank 0 alone writes the
folder (:mod:`robust_sabn.runs.folder`) while the others wait at a barrier after each epoch.

Before a checkpoint is written the divergence guard (:mod:`robust_sabn.runs.divergence`) checks
the weights and running statistics, and the validation numbers: a run whose loss stays finite
while its validation turns NaN is recorded as diverged too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robust_sabn.adversarial.record import training_record
from robust_sabn.artifacts import ModelSpec
from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.attacks import model_mode, pgd_attack
from robust_sabn.attacks.pgd import random_point
from robust_sabn.data import ImageTensors, get_dataset_info, iterate_batches, load_split
from robust_sabn.data.check import check_data_fits_model
from robust_sabn.evaluate.sharded import BatchPlan, plan_batches
from robust_sabn.nn import branch_names
from robust_sabn.nn.gradient_balance import GradientBalanceMeter
from robust_sabn.parallel.context import DistContext
from robust_sabn.parallel.data_parallel import DataParallelStep
from robust_sabn.parallel.devices import apply_tf32, speed_settings, training_memory_format
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.divergence import DivergenceGuard, TrainingDiverged, diverged_fields
from robust_sabn.runs.folder import RunFolder, open_run_folder
from robust_sabn.runs.progress import TrainingProgress
from robust_sabn.train.config import TrainConfig
from robust_sabn.train.objective import (
    ADV,
    lr_factor,
    training_loss,
    warmup_steps,
    wrap_data_parallel,
)

EpochCallback = Callable[[dict[str, Any]], None]


def _epoch_generator(seed: int, epoch: int, device: str) -> torch.Generator:
    """The generator of one epoch (data order and augmentation on CPU, PGD starts on device)."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def model_spec_for(config: TrainConfig) -> ModelSpec:
    """The model a resolved config trains (input normalization from the dataset's mean/std)."""
    info = get_dataset_info(config.dataset, data_dir=config.data_dir)
    return ModelSpec(
        name=config.model, norm=config.norm, num_classes=info.num_classes,
        in_channels=info.in_channels, num_branches=2, mean=tuple(info.mean),
        std=tuple(info.std), kwargs={"width": config.width} if config.width else {},
    )


@torch.no_grad()
def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == y).float().sum()


VALIDATION_BATCH_SIZE = 256
VALIDATION_SUMS = ("clean_acc", "pgd_acc", "clean_loss", "pgd_loss")


def _validation_generator(seed: int, batch: int, device: str) -> torch.Generator:
    """The PGD random start of validation batch ``batch`` (its global index), the same for
    every branch: the generator of "epoch" ``-1 - batch``, which no training epoch uses."""
    return _epoch_generator(seed, -1 - batch, device)


def _branches(model: nn.Module) -> tuple[str, ...]:
    return tuple(branch_names(model) or ("shared",))


def validation_sums(model: nn.Module, data: ImageTensors, config: TrainConfig,
                    plan: BatchPlan) -> torch.Tensor:
    """Per-branch sums over the validation batches ``plan.batches``, model in eval mode.

    Batch b holds ``data``'s examples ``plan.bounds(b)``; its PGD (the training attack's eps,
    step size and steps) starts from a random point drawn from ``(config.seed, b)``
    (:func:`_validation_generator`), so a batch's sums depend on nothing but the batch, and the
    sums over any split of the batches add up to those over all of them.

    Returns:
        float64 CPU tensor (branches, 4): clean correct, PGD correct, clean cross-entropy and
        PGD cross-entropy (nats), summed over the examples; rows in ``branch_names`` order.
    """
    branches = _branches(model)
    sums = torch.zeros(len(branches), len(VALIDATION_SUMS), dtype=torch.float64)
    if not plan.batches:
        return sums
    first, last = plan.bounds(plan.batches[0])[0], plan.bounds(plan.batches[-1])[1]
    block = replace(data, images=data.images[first:last], labels=data.labels[first:last],
                    indices=None)
    batches = iterate_batches(block, plan.batch_size, shuffle=False, augment=False,
                              device=config.device)
    with model_mode(model, False):
        for index, (x, y) in zip(plan.batches, batches, strict=True):
            for row, branch in enumerate(branches):
                with torch.no_grad():
                    logits = model(x, branch=branch)
                x_adv = pgd_attack(
                    lambda z, b=branch: model(z, branch=b), x, y, eps=config.eps,
                    step_size=config.step_size, steps=max(config.attack_steps, 1),
                    norm=config.attack_norm,
                    generator=_validation_generator(config.seed, index, config.device),
                )
                with torch.no_grad():
                    adv_logits = model(x_adv, branch=branch)
                    sums[row] += torch.stack([
                        _accuracy(logits, y), _accuracy(adv_logits, y),
                        nn.functional.cross_entropy(logits, y, reduction="sum"),
                        nn.functional.cross_entropy(adv_logits, y, reduction="sum"),
                    ]).cpu().double()
    return sums


def validate(model: nn.Module, data: ImageTensors, config: TrainConfig,
             ctx: DistContext | None = None) -> dict[str, dict]:
    """Clean and PGD accuracy (fractions) and mean cross-entropy (nats) per branch on ``data``,
    model in eval mode, in batches of :data:`VALIDATION_BATCH_SIZE`.

    PGD uses the training attack's eps, step size and steps, from a random start tied to the
    batch's index (:func:`validation_sums`). Under torchrun every rank calls this: each first
    takes rank 0's running statistics (the model DDP keeps), validates its contiguous block of
    the batches (:func:`robust_sabn.evaluate.sharded.plan_batches`) and the sums are added over
    ranks, so every rank returns one process's metrics up to float rounding. The per-batch
    seeding replaced one generator drawn through every batch in turn, so PGD numbers differ
    slightly from those of runs made before it, in one process too.
    """
    plan = plan_batches(len(data.labels), VALIDATION_BATCH_SIZE, ctx)
    if ctx is not None:
        ctx.broadcast_buffers(model)
    sums = validation_sums(model, data, config, plan)
    if ctx is not None:
        device = config.device if ctx.backend == "nccl" else "cpu"
        sums = ctx.sum(sums.to(device)).cpu()
    means = (sums / len(data.labels)).tolist()
    return {branch: dict(zip(VALIDATION_SUMS, row, strict=True))
            for branch, row in zip(_branches(model), means, strict=True)}


def _selection_score(val: dict[str, dict]) -> float:
    """Best-checkpoint criterion: PGD accuracy of the adversarial (or only) branch."""
    return val.get(ADV, next(iter(val.values())))["pgd_acc"]


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False,
          quiet: bool = False, on_epoch_end: EpochCallback | None = None) -> ResultRecord:
    """Train a model as ``config`` says, writing the run folder; returns the training record
    (:func:`robust_sabn.adversarial.record.training_record`).

    Args:
        config: the run's options (``None`` fields are resolved from preset and dataset).
        out_dir: the run folder.
        resume: continue from ``out_dir/last.pt`` when it exists (else start fresh).
        quiet: no progress display.
        on_epoch_end: called with each epoch's metrics row after its checkpoint is written
            (rank 0 only under torchrun).

    Raises:
        UserInputError: bad options, missing data, data the model cannot take, a run folder
            that would be overwritten or that another process is writing.
        TrainingDiverged: a non-finite or exploded loss, non-finite weights or running
            statistics, or non-finite validation numbers (the record says ``"diverged"``).

    Under torchrun every rank calls this and returns the record; rank 0 alone writes.
    """
    config = config.resolved()
    dist = DistributedRun.join(config.device)
    dist.check_global_batch(batch_size=config.batch_size)
    with open_run_folder(out_dir, dist) as run:
        return _train_locked(config, run, resume=resume, quiet=quiet or not dist.is_main,
                             on_epoch_end=on_epoch_end)


def _train_locked(config: TrainConfig, run: RunFolder, *, resume: bool, quiet: bool,
                  on_epoch_end: EpochCallback | None) -> ResultRecord:
    """:func:`train` on a resolved config while its run folder is locked (by rank 0)."""
    apply_tf32(bool(config.tf32))
    ckpt = run.resume_state(config.to_dict(), resume=resume, what="training",
                            map_location=config.device)
    spec = model_spec_for(config)
    train_data, val_data = _load_splits(config)
    steps_per_epoch = len(train_data.labels) // config.batch_size
    warmup_steps(config, config.epochs * steps_per_epoch)
    model = _build_model(config, spec, train_data, val_data)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    state = _RunState()
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state = _RunState.from_checkpoint(ckpt)
    training = _Training(config, run, model, optimizer, wrap_data_parallel(model, config, run.dist),
                         DivergenceGuard(lr=config.lr, checkpoint=run.checkpoint, dist=run.dist),
                         train_data, val_data)
    run.write_config({"config": config.to_dict(), "model": spec.to_dict()})
    run.write_metrics(state.history)
    fields = _record_fields(training, spec)
    try:
        with TrainingProgress(config.epochs, steps_per_epoch, state.next_epoch,
                              quiet) as display:
            for epoch in range(state.next_epoch, config.epochs):
                row = _train_and_validate(training, epoch, display, quiet)
                _save_epoch(training, state, row, spec)
                display.epoch_done(row)
                if on_epoch_end is not None and run.writes:
                    on_epoch_end(row)
                run.dist.barrier()
    except TrainingDiverged as error:
        run.write_record(training_record(
            {**fields, **state.outcome(), "diverged": diverged_fields(error)},
            wall_time_s=state.elapsed, status="diverged"))
        raise
    return run.write_record(training_record({**fields, **state.outcome()},
                                            wall_time_s=state.elapsed, status="ok"))


@dataclass(frozen=True)
class _Training:
    """The fixed parts of one training run: what trains, on what, and where it writes.

    Attributes:
        step_fn: how this process steps ``model`` (DDP-wrapped under torchrun).
        guard: the divergence guard of every step and epoch.
    """

    config: TrainConfig
    run: RunFolder
    model: nn.Module
    optimizer: torch.optim.Optimizer
    step_fn: DataParallelStep
    guard: DivergenceGuard
    train_data: ImageTensors
    val_data: ImageTensors


@dataclass
class _RunState:
    """What a training run carries from epoch to epoch (and its checkpoint holds): the metrics
    rows, the next epoch, the best validation score so far and the seconds spent."""

    history: list[dict] = field(default_factory=list)
    next_epoch: int = 0
    best_score: float = -1.0
    elapsed: float = 0.0

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> _RunState:
        return cls(list(ckpt["history"]), ckpt["epoch"] + 1, ckpt["best_score"],
                   ckpt["elapsed_s"])

    def outcome(self) -> dict[str, Any]:
        """The record's ``final`` metrics row (None before the first epoch) and
        ``best_score``."""
        return {"final": self.history[-1] if self.history else None,
                "best_score": self.best_score}


def _load_splits(config: TrainConfig) -> tuple[ImageTensors, ImageTensors]:
    """The (training, validation) images of ``config``."""
    splits = {split: load_split(config.dataset, split, data_dir=config.data_dir,
                                seed=config.seed, val_size=config.val_size, max_examples=limit)
              for split, limit in (("train", config.max_train_examples),
                                   ("val", config.val_examples))}
    return splits["train"], splits["val"]


def _build_model(config: TrainConfig, spec: ModelSpec, train_data: ImageTensors,
                 val_data: ImageTensors) -> nn.Module:
    """``spec``'s model initialised from ``config.seed``, on the device in its training memory
    layout, after checking that both splits fit it.

    Raises:
        UserInputError: images or labels the model cannot take.
    """
    torch.manual_seed(config.seed)
    model = spec.build().to(config.device, memory_format=training_memory_format(config.device))
    for data, split in ((train_data, "training"), (val_data, "validation")):
        check_data_fits_model(model, data.images, data.labels,
                              what=f"the {split} images of {config.dataset}",
                              model_name=f"{spec.name} ({spec.num_classes} classes)")
    return model


def _record_fields(training: _Training, spec: ModelSpec) -> dict[str, Any]:
    """The training record's fields known before the first epoch."""
    config, run = training.config, training.run
    layout = training_memory_format(config.device)
    return {
        "run_dir": str(run.path), "config": config.to_dict(), "model": spec.to_dict(),
        "dataset": config.dataset, "norm": config.norm, "seed": config.seed,
        "epochs": config.epochs, "best_checkpoint": str(run.path / "best.pt"),
        "last_checkpoint": str(run.checkpoint),
        "train_examples": len(training.train_data.labels),
        "runtime": {**speed_settings(config.device, amp=bool(config.amp),
                                     memory_format=str(layout).removeprefix("torch.")),
                    "world_size": training.step_fn.world_size,
                    "sync_norm": bool(config.sync_norm)},
    }


def _train_and_validate(training: _Training, epoch: int, display: TrainingProgress,
                        quiet: bool) -> dict[str, Any]:
    """Train epoch ``epoch``, check the weights and validate; returns the epoch's metrics row
    (losses in nats, accuracies as fractions, times in seconds).

    Raises:
        TrainingDiverged: a step's loss, the weights or statistics, or the validation numbers
            are not finite (or the loss exploded).
    """
    config, model, guard = training.config, training.model, training.guard
    t0 = time.perf_counter()
    balance = GradientBalanceMeter()
    seen, (loss_sum, clean_sum, adv_sum) = _train_epoch(
        model, training.optimizer, training.train_data, config, epoch, guard, display, quiet,
        training.step_fn, balance)
    train_time = time.perf_counter() - t0
    last_step = (epoch + 1) * (len(training.train_data.labels) // config.batch_size) - 1
    guard.check_modules(model, step=last_step, epoch=epoch)
    val = validate(model, training.val_data, config, training.run.dist.ctx)
    guard.check_values(val, what="validation", step=last_step, epoch=epoch)
    row = {
        "epoch": epoch, "lr": training.optimizer.param_groups[0]["lr"],
        "train_loss": loss_sum / seen,
        "train_clean_acc": clean_sum / seen if config.loss != "adv" else None,
        "train_adv_acc": adv_sum / seen if config.loss != "clean" else None,
        "val": val,
        "train_time_s": train_time, "time_s": time.perf_counter() - t0,
        "images_per_s": seen / train_time,
    }
    if (grad_balance := balance.summary()) is not None:
        row["grad_balance"] = grad_balance
    return row


def _save_epoch(training: _Training, state: _RunState, row: dict[str, Any],
                spec: ModelSpec) -> None:
    """Add the finished epoch's ``row`` to ``state`` and write ``last.pt``, ``best.pt`` (when
    its validation score is the best so far) and ``metrics.jsonl``."""
    config, run = training.config, training.run
    state.elapsed += row["time_s"]
    state.history.append(row)
    state.next_epoch = row["epoch"] + 1
    checkpoint = {"model": spec.to_dict(), "dataset": config.dataset,
                  "config": config.to_dict(), "state_dict": training.model.state_dict(),
                  "epoch": row["epoch"], "history": state.history, "elapsed_s": state.elapsed}
    score = _selection_score(row["val"])
    if score > state.best_score:
        state.best_score = score
        run.save_checkpoint({**checkpoint, "best_score": state.best_score}, "best.pt")
    run.save_checkpoint({**checkpoint, "best_score": state.best_score,
                         "optimizer": training.optimizer.state_dict()})
    run.write_metrics(state.history)


def _train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: ImageTensors,
                 config: TrainConfig, epoch: int, guard: DivergenceGuard,
                 display: TrainingProgress, quiet: bool, step_fn: DataParallelStep,
                 balance: GradientBalanceMeter | None = None) -> tuple[int, list[float]]:
    """One epoch of optimizer steps; returns (images seen, [loss sum, clean correct, adv
    correct]) with the loss summed over images (over every rank's slice of each global batch).
    ``balance`` sees the branch affines' gradients of every step.

    Raises:
        TrainingDiverged: a step's loss (the global batch's) is not finite or exploded
            (checked before its optimizer step, on every rank alike).
    """
    display.start_epoch(epoch)
    t0 = time.perf_counter()
    steps_per_epoch = len(data.labels) // config.batch_size
    data_rng = _epoch_generator(config.seed, epoch, "cpu")
    attack_rng = _epoch_generator(config.seed, epoch, config.device)
    sums = torch.zeros(3, device=config.device)  # loss*n, clean correct, adv correct
    seen = 0
    batches = iterate_batches(data, config.batch_size, shuffle=True, augment=True,
                              generator=data_rng, device=config.device, drop_last=True)
    layout = training_memory_format(config.device)
    for i, (x, y) in enumerate(batches):
        x = x.contiguous(memory_format=layout)
        step = epoch * steps_per_epoch + i
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(step, steps_per_epoch, config)
        start = None
        if step_fn.world_size > 1:  # the global draw, as one process makes it, then our slice
            start = step_fn.shard(random_point(x, config.eps, config.attack_norm, attack_rng))
            x, y = step_fn.shard(x), step_fn.shard(y)
        with step_fn.autocast():
            loss, clean_logits, adv_logits = training_loss(
                model, x, y, config, attack_rng, start=start, pair=step_fn.module)
        guard.check(step_fn.mean_over_ranks(loss), epoch=epoch, step=step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if balance is not None:
            balance.update(model)
        with torch.no_grad():
            sums[0] += loss.detach() * len(y)
            if clean_logits is not None:
                sums[1] += _accuracy(clean_logits, y)
            if adv_logits is not None:
                sums[2] += _accuracy(adv_logits, y)
        seen += len(y)
        if not quiet:
            shown = sums[2] if adv_logits is not None else sums[1]
            display.batch_done(float(sums[0]) / seen, float(shown) / seen,
                               seen * step_fn.world_size / (time.perf_counter() - t0))
    return seen * step_fn.world_size, step_fn.sum_over_ranks(sums).tolist()
