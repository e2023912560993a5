"""Training an AdaIN / SaAdaIN style-transfer network: loop, validation, checkpoints, resume.

Run folder (``out_dir``):

* ``config.json``: the resolved :class:`StyleConfig` and the encoder spec;
* ``metrics.jsonl``: a ``train`` row every ``log_every`` iterations (mean content and style
  loss since the last row, lr) and a ``val`` row at every validation;
* ``last.pt``: decoder, SaAdaIN affine, Adam state and history, written atomically every
  ``checkpoint_every`` iterations and at the end;
* ``train.json``: the training :class:`~robust_sabn.artifacts.result.ResultRecord`, written
  when training ends.

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
float rounding. The finite-loss check sees the global batch's losses on every rank. Rank 0
alone validates and writes the folder while the others wait; every rank returns the same record.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from robust_sabn.artifacts.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from robust_sabn.artifacts.lock import locks_run_folder
from robust_sabn.artifacts.records import append_jsonl
from robust_sabn.artifacts.result import ResultRecord, new_result, write_result
from robust_sabn.artifacts.user_files import read_run_config
from robust_sabn.errors import UserInputError
from robust_sabn.parallel.context import DistContext, distributed_context
from robust_sabn.parallel.data_parallel import DataParallelStep, data_parallel_module
from robust_sabn.parallel.devices import resolve_device
from robust_sabn.style.config import StyleConfig
from robust_sabn.style.data import StyleData, load_style_data
from robust_sabn.style.encoder import EncoderSpec, build_encoder, resolve_encoder_spec
from robust_sabn.style.evaluate import ValidationSet, validation_losses, validation_metrics
from robust_sabn.style.network import StyleTransferNet, transfer_losses
from robust_sabn.style.progress import StyleProgress

TASK = "style"
NETWORK_NAME = "adain_style_net"
TRAIN_RECORD = "train.json"
LAST_CHECKPOINT = "last.pt"
_RESUMABLE_CHANGES = {"iterations"}


def load_data(config: StyleConfig) -> StyleData:
    """The training pools and validation images ``config`` names."""
    return load_style_data(
        Path(config.content_dir) if config.content_dir else None,
        Path(config.style_dir) if config.style_dir else None,
        resize=config.resize, crop=config.crop, val_images=config.val_images,
        data_seed=config.data_seed,
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
    if (out_dir / TRAIN_RECORD).is_file():
        return "done"
    return "partial" if (out_dir / LAST_CHECKPOINT).is_file() else "todo"


def _resume_from(out_dir: Path, config: StyleConfig, resume: bool) -> dict[str, Any] | None:
    last = out_dir / LAST_CHECKPOINT
    if not resume:
        if last.exists():
            raise UserInputError(
                f"{out_dir} already holds a style-transfer run; pass --resume to continue it "
                "or choose another --out"
            )
        return None
    if not last.exists():
        return None
    try:
        before = StyleConfig(**read_run_config(out_dir / "config.json"))
    except (ValueError, TypeError) as exc:
        raise UserInputError(
            f"cannot resume {out_dir}: its config.json is missing or damaged "
            f"({type(exc).__name__}); start a new --out"
        ) from exc
    changed = [k for k in config.differences(before) if k not in _RESUMABLE_CHANGES]
    if changed:
        raise UserInputError(
            f"cannot resume {out_dir}: options {changed} differ from the saved run; drop them "
            "or start a new --out"
        )
    return load_checkpoint(last, map_location=config.device)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows).encode()
    atomic_write_bytes(path, lambda f: f.write(text))


class TransferObjective(nn.Module):
    """The training forward of ``net`` as one module (what DistributedDataParallel wraps):
    (content, style) batches (B, 3, H, W) -> their (content, style) losses, shape (2,)."""

    def __init__(self, net: StyleTransferNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        return torch.stack(transfer_losses(self.net, content, style))


def check_batch_split(batch_size: int, world_size: int) -> None:
    """Raises UserInputError when the global batch does not split evenly over the ranks."""
    if batch_size % world_size:
        raise UserInputError(
            f"--batch-size {batch_size} (the global batch) does not split over {world_size} "
            f"ranks; pass a multiple of {world_size}")


def transfer_step(net: StyleTransferNet, device: str, ctx: DistContext | None = None
                  ) -> DataParallelStep:
    """How this process trains ``net``: its :class:`TransferObjective`, DDP-wrapped under
    torchrun (every rank calls this with the same weights: load any checkpoint first)."""
    return DataParallelStep(pair=data_parallel_module(TransferObjective(net), ctx, device),
                            ctx=ctx, device_type=torch.device(device).type)


def training_step(model: StyleTransferNet | DataParallelStep, optimizer: torch.optim.Optimizer,
                  config: StyleConfig, content: Tensor, style: Tensor, iteration: int
                  ) -> Tensor | None:
    """One Adam step at ``iteration``'s lr on a batch of (B, 3, H, W) content and style images.

    Args:
        model: the network (one process), or its :func:`transfer_step`; under torchrun
            ``content`` and ``style`` are this rank's slice of the global batch.

    Returns:
        The global batch's (content, style) losses before the step (the mean over ranks),
        float64 of shape (2,) on the CPU, or None when their weighted sum is not finite (then
        nothing is stepped, on every rank alike).
    """
    step = model if isinstance(model, DataParallelStep) else transfer_step(model, config.device)
    for group in optimizer.param_groups:
        group["lr"] = config.lr_at(iteration)
    losses = step.pair(content, style)
    overall = step.sum_over_ranks(losses) / step.world_size
    if not math.isfinite((config.content_weight * overall[0]
                          + config.style_weight * overall[1]).item()):
        return None
    optimizer.zero_grad(set_to_none=True)
    (config.content_weight * losses[0] + config.style_weight * losses[1]).backward()
    optimizer.step()
    return overall.double().cpu()


@locks_run_folder
def train_style(config: StyleConfig, out_dir: str | Path, *, resume: bool = False,
                quiet: bool = False) -> ResultRecord:
    """Train as ``config`` says, writing the run folder; returns the training record.

    Under torchrun every rank calls this (``config.batch_size`` is the global batch) and
    returns the same record; rank 0 alone writes the folder and shows progress.

    Raises:
        UserInputError: bad data or weights, a run folder that would be overwritten, options
            that contradict the run being resumed, a global batch that does not split over the
            ranks, or a diverged loss (the record is written with status ``diverged`` first).
    """
    out_dir = Path(out_dir)
    check_device(config.device)
    # under torchrun a bare "cuda" becomes this rank's GPU (cuda:LOCAL_RANK)
    config = config.model_copy(update={"device": resolve_device(config.device)})
    ctx = distributed_context(config.device)
    check_batch_split(config.batch_size, 1 if ctx is None else ctx.world_size)
    main = ctx is None or ctx.is_main
    ckpt = _resume_from(out_dir, config, resume)
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
    step = transfer_step(net, config.device, ctx)
    metrics_path = out_dir / "metrics.jsonl"
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        config_json = json.dumps({"config": config.model_dump(), "encoder": spec.to_dict()},
                                 indent=2)
        atomic_write_bytes(out_dir / "config.json", lambda f: f.write(config_json.encode()))
        _write_jsonl(metrics_path, history)
    model = {"name": NETWORK_NAME, "norm": config.norm, "encoder": spec.to_dict()}
    runtime = {"world_size": step.world_size}

    def record_row(row: dict[str, Any]) -> None:
        history.append(row)
        if main:
            append_jsonl(metrics_path, row)

    sums = torch.zeros(2, dtype=torch.float64)
    count, t0 = 0, time.perf_counter()
    label = f"{config.norm} seed {config.seed}"
    with StyleProgress(label, config.iterations, start, quiet or not main) as display:
        for iteration in range(start, config.iterations):
            content, style = data.training_batch(config.seed, iteration, config.batch_size)
            losses = training_step(step, optimizer, config, step.shard(content).to(config.device),
                                   step.shard(style).to(config.device), iteration)
            if losses is None:
                _diverged(out_dir, config, spec, history, iteration, data.source, step)
            sums += losses
            count += 1
            done = iteration + 1
            display.step(*losses.tolist())
            if done % config.log_every == 0 or done == config.iterations:
                c_mean, s_mean = (sums / count).tolist()
                record_row({"iteration": done, "split": "train", "content_loss": c_mean,
                            "style_loss": s_mean,
                            "loss": config.content_weight * c_mean + config.style_weight * s_mean,
                            "lr": config.lr_at(iteration)})
                sums.zero_()
                count = 0
            if done % config.val_every == 0 or done == config.iterations:
                row = ({"iteration": done, "split": "val", **validation_losses(net, val, config)}
                       if main else None)
                record_row(row if ctx is None else ctx.all_gather(row)[0])
                display.validated(history[-1])
            if done % config.checkpoint_every == 0 or done == config.iterations:
                if main:
                    save_checkpoint(out_dir / LAST_CHECKPOINT, {
                        "model": model, "state_dict": net.trainable_state(),
                        "optimizer": optimizer.state_dict(), "iteration": done,
                        "history": history, "elapsed_s": elapsed + time.perf_counter() - t0,
                        "config": config.model_dump(), "data_source": data.source,
                    })
                step.barrier()
    elapsed += time.perf_counter() - t0
    final_val = _last_val(history, config.iterations) or validation_losses(net, val, config)
    record = new_result(
        TASK, "training", subject=run_subject(config, spec, data.source),
        metrics=validation_metrics(final_val, config, val, step=config.iterations),
        extras={"curves": history, "checkpoint": LAST_CHECKPOINT, "config": config.model_dump(),
                "encoder": spec.to_dict(), "images": data.describe(),
                "second_encoder": val.second_label, "runtime": runtime},
        wall_time_s=elapsed,
    )
    if main:
        write_result(out_dir / TRAIN_RECORD, record)
    step.barrier()
    return record


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


def _diverged(out_dir: Path, config: StyleConfig, spec: EncoderSpec,
              history: list[dict[str, Any]], iteration: int, data_source: str,
              step: DataParallelStep) -> None:
    """Write a ``diverged`` record (rank 0, while the others wait) and stop with one line."""
    if step.ctx is None or step.ctx.is_main:
        record = new_result(TASK, "training", subject=run_subject(config, spec, data_source),
                            extras={"curves": history, "diverged_at": iteration,
                                    "runtime": {"world_size": step.world_size}},
                            status="diverged")
        write_result(out_dir / TRAIN_RECORD, record)
    step.barrier()
    raise UserInputError(
        f"training diverged at iteration {iteration} (loss not finite); lower --lr and "
        f"start a new --out (last finite checkpoint: {out_dir / LAST_CHECKPOINT})"
    )
