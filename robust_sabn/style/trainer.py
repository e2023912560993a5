"""Training an AdaIN / SaAdaIN style-transfer network: loop, validation, checkpoints, resume.

Run folder (``out_dir``):

* ``config.json``: the resolved :class:`StyleConfig` and the encoder spec;
* ``metrics.jsonl``: a ``train`` row every ``log_every`` iterations (mean content and style
  loss since the last row, lr) and a ``val`` row at every validation;
* ``last.pt``: decoder, SaAdaIN affine, Adam state and history, written atomically every
  ``checkpoint_every`` iterations and at the end;
* ``train_record.json``: the training :class:`~robust_sabn.artifacts.result.ResultRecord`,
  written when training ends (``"diverged"`` when a loss, a weight or a statistic went
  non-finite or a loss exploded; :mod:`robust_sabn.runs.divergence`). Runs made before the
  record names were unified have it as ``train.json``, still read.

A batch is a function of ``(seed, iteration)`` and the lr of the iteration, so a run resumed
from ``last.pt`` reaches the same weights as an uninterrupted one. ``iterations`` may grow on
resume (the schedule does not depend on it).

Under torchrun (or ``robust-sabn style train --nproc N``) every rank draws the global batch of
the iteration from ``(seed, iteration)`` as one process does and trains on its contiguous slice
of ``batch_size / world_size`` pairs; the decoder and SaAdaIN's shared affine go through
DistributedDataParallel, which averages the slices' gradients. AdaIN and SaAdaIN normalise each
sample with its own instance statistics (there are no batch statistics, so no synchronised norm
is needed), and both losses are means over equally sized samples (the content loss over every
relu4_1 element, the style loss's MSEs over every sample's channel statistics), so the mean of
the slices' gradients is the global batch's gradient: N ranks reach one process's weights up to
float rounding. The divergence guard sees the global batch's losses on every rank. Rank 0
alone validates and writes the folder (:mod:`robust_sabn.runs.folder`) while the others wait;
every rank returns the same record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from robust_sabn.artifacts.result import ResultRecord, new_result
from robust_sabn.artifacts.user_files import read_run_config
from robust_sabn.errors import UserInputError
from robust_sabn.parallel.data_parallel import DataParallelStep
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.divergence import DivergenceGuard, TrainingDiverged, diverged_fields
from robust_sabn.runs.folder import RunFolder, open_run_folder
from robust_sabn.runs.names import LAST_CHECKPOINT, read_run_record
from robust_sabn.style.config import StyleConfig
from robust_sabn.style.data import StyleData, load_style_data
from robust_sabn.style.encoder import EncoderSpec, build_encoder, resolve_encoder_spec
from robust_sabn.style.evaluate import ValidationSet, validation_losses, validation_metrics
from robust_sabn.style.network import StyleTransferNet, transfer_losses
from robust_sabn.style.progress import StyleProgress

TASK = "style"
NETWORK_NAME = "adain_style_net"
_RESUMABLE_CHANGES = {"iterations"}


def load_data(config: StyleConfig) -> StyleData:
    """The training pools and validation images ``config`` names."""
    return load_style_data(
        Path(config.content_dir) if config.content_dir else None,
        Path(config.style_dir) if config.style_dir else None,
        resize=config.resize, crop=config.crop, val_images=config.val_images,
        data_seed=config.data_seed, offline_set=config.offline_set,
    )


def build_network(config: StyleConfig, spec: EncoderSpec) -> StyleTransferNet:
    """The network of ``config`` with a decoder initialised from ``config.seed``."""
    encoder = build_encoder(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = StyleTransferNet(encoder, config.norm)
    return net.to(config.device)


def check_device(device: str) -> None:
    """Raises UserInputError for a device this machine lacks."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError(f"--device {device}: no CUDA GPU here; use --device cpu")
    if not (device in ("cpu", "mps") or device.startswith("cuda")):
        raise UserInputError(f"--device {device!r}: give auto, cpu, cuda or mps")


def run_state(out_dir: Path, config: StyleConfig) -> str:
    """``done`` (record present, same settings), ``partial`` (checkpoint, same settings) or
    ``todo``."""
    saved = out_dir / "config.json"
    if not saved.is_file():
        return "todo"
    before = StyleConfig(**read_run_config(saved))
    if config.differences(before):
        return "todo"
    record = read_run_record(out_dir)
    if record is not None and record.status == "ok":
        return "done"
    return "partial" if (out_dir / LAST_CHECKPOINT).is_file() else "todo"


class TransferObjective(nn.Module):
    """The training forward of ``net`` as one module (what DistributedDataParallel wraps):
    (content, style) batches (B, 3, H, W) -> their (content, style) losses, shape (2,)."""

    def __init__(self, net: StyleTransferNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        return torch.stack(transfer_losses(self.net, content, style))


def transfer_step(net: StyleTransferNet, dist: DistributedRun) -> DataParallelStep:
    """How this process trains ``net``: its :class:`TransferObjective`, DDP-wrapped under
    torchrun (every rank calls this with the same weights: load any checkpoint first)."""
    return dist.data_parallel(TransferObjective(net))


def training_step(model: StyleTransferNet | DataParallelStep, optimizer: torch.optim.Optimizer,
                  config: StyleConfig, content: Tensor, style: Tensor, iteration: int,
                  guard: DivergenceGuard) -> Tensor:
    """One Adam step at ``iteration``'s lr on a batch of (B, 3, H, W) content and style images.

    Args:
        model: the network (one process), or its :func:`transfer_step`; under torchrun
            ``content`` and ``style`` are this rank's slice of the global batch.
        guard: checks the weighted loss of the global batch before the step.

    Returns:
        The global batch's (content, style) losses before the step (the mean over ranks),
        float64 of shape (2,) on the CPU.

    Raises:
        TrainingDiverged: the weighted loss is not finite or exploded (nothing is stepped, on
            every rank alike).
    """
    step = (model if isinstance(model, DataParallelStep)
            else transfer_step(model, DistributedRun(config.device, None)))
    for group in optimizer.param_groups:
        group["lr"] = config.lr_at(iteration)
    losses = step.module(content, style)
    overall = step.sum_over_ranks(losses) / step.world_size
    guard.check(config.content_weight * overall[0] + config.style_weight * overall[1],
                step=iteration)
    optimizer.zero_grad(set_to_none=True)
    (config.content_weight * losses[0] + config.style_weight * losses[1]).backward()
    optimizer.step()
    return overall.double().cpu()


def train_style(config: StyleConfig, out_dir: str | Path, *, resume: bool = False,
                quiet: bool = False) -> ResultRecord:
    """Train as ``config`` says, writing the run folder; returns the training record.

    Under torchrun every rank calls this (``config.batch_size`` is the global batch) and
    returns the same record; rank 0 alone writes the folder and shows progress.

    Raises:
        UserInputError: bad data or weights, a run folder that would be overwritten, options
            that contradict the run being resumed, or a global batch that does not split over
            the ranks.
        TrainingDiverged: a non-finite or exploded loss, or non-finite weights (the record is
            written with status ``diverged`` first).
    """
    check_device(config.device)
    dist = DistributedRun.join(config.device)  # a bare "cuda": this rank's GPU
    config = config.model_copy(update={"device": dist.device})
    dist.check_global_batch(**{"--batch-size": config.batch_size})
    with open_run_folder(out_dir, dist) as run:
        return _train_style_locked(config, run, resume=resume, quiet=quiet or not dist.is_main)


def _train_style_locked(config: StyleConfig, run: RunFolder, *, resume: bool, quiet: bool
                        ) -> ResultRecord:
    """:func:`train_style` while its run folder is locked (by rank 0)."""
    ckpt = run.resume_state(config.model_dump(), resume=resume, what="style-transfer",
                            defaults=StyleConfig().model_dump(), resumable=_RESUMABLE_CHANGES,
                            map_location=config.device)
    spec = (EncoderSpec.from_dict(ckpt["model"]["encoder"]) if ckpt is not None
            else resolve_encoder_spec(config.encoder_weights, config.encoder_seed))
    data = load_data(config)
    net = build_network(config, spec)
    val = ValidationSet.build(data, config, net.encoder)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr)
    history: list[dict[str, Any]] = []
    start, elapsed = 0, 0.0
    if ckpt is not None:
        net.load_trainable_state(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, history, elapsed = int(ckpt["iteration"]), list(ckpt["history"]), ckpt["elapsed_s"]
    step = transfer_step(net, run.dist)
    run.write_config({"config": config.model_dump(), "encoder": spec.to_dict()})
    run.write_metrics(history)
    guard = DivergenceGuard(lr=config.lr, checkpoint=run.checkpoint, dist=run.dist)
    loop = _StyleLoop(config, run, spec, data, val, net, optimizer, step, guard, history, elapsed)
    try:
        with StyleProgress(f"{config.norm} seed {config.seed}", config.iterations, start,
                           quiet) as display:
            for iteration in range(start, config.iterations):
                loop.iteration(iteration, display)
    except TrainingDiverged as error:
        run.write_record(loop.diverged_record(error))
        raise
    return run.write_record(loop.final_record())


def _due(done: int, every: int, iterations: int) -> bool:
    """Whether a step taken every ``every`` iterations (and after the last) is due once
    ``done`` iterations of ``iterations`` are done."""
    return done % every == 0 or done == iterations


@dataclass
class _StyleLoop:
    """A style-transfer run in progress: its parts, the metrics rows so far, and the training
    losses summed since the last ``train`` row.

    Attributes:
        step: how this process trains ``net`` (:func:`transfer_step`).
        elapsed: seconds the run spent before this process took it up.
        started: when this process started training (``time.perf_counter``).
        sums: float64 (2,), content and style losses summed over ``count`` iterations.
    """

    config: StyleConfig
    run: RunFolder
    spec: EncoderSpec
    data: StyleData
    val: ValidationSet
    net: StyleTransferNet
    optimizer: torch.optim.Optimizer
    step: DataParallelStep
    guard: DivergenceGuard
    history: list[dict[str, Any]]
    elapsed: float
    started: float = field(default_factory=time.perf_counter)
    sums: Tensor = field(default_factory=lambda: torch.zeros(2, dtype=torch.float64))
    count: int = 0

    def iteration(self, iteration: int, display: StyleProgress) -> None:
        """Train ``iteration`` (from 0), then log the training losses, validate and write the
        checkpoint when each is due.

        Raises:
            TrainingDiverged: a non-finite or exploded loss, or non-finite weights.
        """
        config, step = self.config, self.step
        content, style = self.data.training_batch(config.seed, iteration, config.batch_size)
        losses = training_step(step, self.optimizer, config,
                               step.shard(content).to(config.device),
                               step.shard(style).to(config.device), iteration, self.guard)
        self.sums += losses
        self.count += 1
        done = iteration + 1
        display.step(*losses.tolist())
        if _due(done, config.log_every, config.iterations):
            self._log_training(iteration)
        if _due(done, config.val_every, config.iterations):
            self._validate(done)
            display.validated(self.history[-1])
        if _due(done, config.checkpoint_every, config.iterations):
            self._checkpoint(iteration)

    def _record_row(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        self.run.append_metrics(row)

    def _log_training(self, iteration: int) -> None:
        """The ``train`` row after ``iteration``: mean losses since the last one, and lr."""
        config = self.config
        c_mean, s_mean = (self.sums / self.count).tolist()
        self._record_row({"iteration": iteration + 1, "split": "train", "content_loss": c_mean,
                          "style_loss": s_mean,
                          "loss": config.content_weight * c_mean + config.style_weight * s_mean,
                          "lr": config.lr_at(iteration)})
        self.sums.zero_()
        self.count = 0

    def _validate(self, done: int) -> None:
        """The ``val`` row after ``done`` iterations (rank 0 validates, every rank keeps it)."""
        row = ({"iteration": done, "split": "val",
                **validation_losses(self.net, self.val, self.config)} if self.run.writes
               else None)
        self._record_row(row if self.run.dist.ctx is None else self.run.dist.ctx.all_gather(row)[0])

    def _checkpoint(self, iteration: int) -> None:
        """Check the weights, then write ``last.pt`` after ``iteration``."""
        self.guard.check_modules(self.net, step=iteration)
        self.run.save_checkpoint({
            "model": {"name": NETWORK_NAME, "norm": self.config.norm,
                      "encoder": self.spec.to_dict()},
            "state_dict": self.net.trainable_state(), "optimizer": self.optimizer.state_dict(),
            "iteration": iteration + 1, "history": self.history,
            "elapsed_s": self.elapsed + time.perf_counter() - self.started,
            "config": self.config.model_dump(), "data_source": self.data.source,
        })
        self.run.dist.barrier()

    def _subject(self) -> dict[str, Any]:
        return run_subject(self.config, self.spec, self.data.source)

    def diverged_record(self, error: TrainingDiverged) -> ResultRecord:
        """The record of a run stopped by ``error`` (status ``diverged``, the curves so far)."""
        return new_result(
            TASK, "training", subject=self._subject(),
            extras={"curves": self.history, "diverged": diverged_fields(error),
                    "runtime": {"world_size": self.step.world_size}},
            status="diverged")

    def final_record(self) -> ResultRecord:
        """The record of the finished run: the last validation's metrics (validating now if
        the history has none at the last iteration), curves and settings."""
        config, val = self.config, self.val
        elapsed = self.elapsed + time.perf_counter() - self.started
        final_val = (_last_val(self.history, config.iterations)
                     or validation_losses(self.net, val, config))
        return new_result(
            TASK, "training", subject=self._subject(),
            metrics=validation_metrics(final_val, config, val, step=config.iterations),
            extras={"curves": self.history, "checkpoint": LAST_CHECKPOINT,
                    "config": config.model_dump(), "encoder": self.spec.to_dict(),
                    "images": self.data.describe(), "second_encoder": val.second_label,
                    "runtime": {"world_size": self.step.world_size}},
            wall_time_s=elapsed,
        )


def _last_val(history: list[dict[str, Any]], iteration: int) -> dict[str, float] | None:
    """The validation losses recorded at ``iteration``, if there are any."""
    for row in reversed(history):
        if row["split"] == "val" and row["iteration"] == iteration:
            return {k: v for k, v in row.items() if k not in ("iteration", "split")}
    return None


def run_subject(config: StyleConfig, spec: EncoderSpec, data_source: str) -> dict[str, Any]:
    """Who a record is about: run, norm, seed, encoder and data."""
    return {"run": f"{config.norm}-seed{config.seed}", "model": NETWORK_NAME,
            "norm": config.norm, "seed": config.seed, "data_seed": config.data_seed,
            "encoder": spec.label, "encoder_source": spec.source, "dataset": data_source,
            "crop": config.crop, "iterations": config.iterations}
