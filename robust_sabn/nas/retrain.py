"""Standalone retraining of a genotype: the offline way to score a found cell.

The cell's network (NAS-Bench-201 skeleton, conv ops with BN + affine as NB201 trains them) is
trained from scratch on the search set with a fixed short schedule (SGD, Nesterov 0.9, weight
decay 5e-4, cosine from ``lr`` to 0, per-step) and tested on the test subset.

Run folder (``out_dir``, written through :mod:`robust_sabn.runs.folder`):

* ``config.json``: the settings (:class:`RetrainConfig`) with the ``genotype`` and ``seed``,
  and the network;
* ``metrics.jsonl``: one row per epoch (mean training loss in nats, the lr at its end, seconds);
* ``last.pt``: network, optimizer and rows after every epoch;
* ``train_record.json``: the :func:`retraining_record` (``"diverged"`` when the guard of
  :mod:`robust_sabn.runs.divergence` stopped the run).

An epoch's batches and augmentation come from ``(seed, epoch)`` and the lr from the global step,
so a retraining resumed from ``last.pt`` reaches the weights of an uninterrupted one.

Under torchrun (``robust-sabn nas eval --nproc N``) every rank draws the global batches as one
process does and trains its contiguous slice through DistributedDataParallel (BN statistics of
the slice, or of the global batch with ``sync_norm``: then one process's training up to float
rounding); every rank then tests the whole test set with rank 0's running statistics, so all
ranks return the same record. Rank 0 alone writes the folder.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from robust_sabn.artifacts.result import Metric, ResultRecord, new_result
from robust_sabn.data import get_dataset_info, iterate_batches
from robust_sabn.data.splits import ImageTensors
from robust_sabn.nas.config import RetrainConfig
from robust_sabn.nas.data import SearchData, load_search_data
from robust_sabn.nas.network import StandaloneNetwork
from robust_sabn.nas.records import SPACE, TASK
from robust_sabn.nas.search import epoch_generator
from robust_sabn.nas.space import Genotype
from robust_sabn.parallel.data_parallel import DataParallelStep
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.divergence import DivergenceGuard, TrainingDiverged, diverged_fields
from robust_sabn.runs.folder import RunFolder, open_run_folder

RETRAINING_KIND = "retraining"
"""The ``kind`` of a retraining record (the NAS report and claims read ``evaluation``
records, which gather a cell's retrainings)."""


def load_retrain_data(config: RetrainConfig) -> SearchData:
    """The data a retraining of ``config`` uses."""
    return load_search_data(config.dataset, data_dir=config.data_dir,
                            search_examples=config.search_examples,
                            test_examples=config.test_examples, resolution=config.resolution,
                            data_seed=config.data_seed)


@torch.no_grad()
def test_accuracy(net: torch.nn.Module, data: ImageTensors, batch_size: int, device: str
                  ) -> float:
    """Top-1 accuracy (fraction) of ``net`` in eval mode on ``data``."""
    net.eval()
    correct = 0
    for x, y in iterate_batches(data, batch_size, shuffle=False, augment=False, device=device):
        correct += int((net(x).argmax(dim=1) == y).sum())
    return correct / len(data)


def retraining_record(genotype: Genotype, config: RetrainConfig, seed: int, *,
                      history: list[dict[str, Any]], accuracy: float | None, n: int,
                      wall_time_s: float, world_size: int,
                      diverged: dict[str, Any] | None = None) -> ResultRecord:
    """The record of one retraining.

    Subject: ``genotype``, ``seed`` (the retraining's), ``dataset``, ``space``, ``channels``,
    ``cells_per_stage``. Metric ``accuracy`` (fraction of ``n`` test images, condition
    ``split`` = ``"test"``), absent when the run diverged. Extras: ``train_loss`` (the last
    epoch's mean, nats), ``curves`` (the epoch rows), ``config``, ``runtime`` and, for a
    diverged run, ``diverged`` (the guard's fields).
    """
    metrics = ([] if accuracy is None else
               [Metric(name="accuracy", value=accuracy, n=n, condition={"split": "test"})])
    extras: dict[str, Any] = {
        "train_loss": history[-1]["train_loss"] if history else None, "curves": history,
        "config": config.to_dict(),
        "runtime": {"world_size": world_size, "sync_norm": config.sync_norm and world_size > 1},
    }
    if diverged is not None:
        extras["diverged"] = diverged
    return new_result(
        TASK, RETRAINING_KIND,
        subject={"genotype": str(genotype), "seed": seed, "dataset": config.dataset,
                 "space": SPACE, "channels": config.channels,
                 "cells_per_stage": config.cells_per_stage},
        metrics=metrics, extras=extras, wall_time_s=wall_time_s,
        status="ok" if diverged is None else "diverged")


def retrain(genotype: Genotype, config: RetrainConfig, seed: int, out_dir: str | Path, *,
            data: SearchData | None = None, resume: bool = False) -> ResultRecord:
    """Train ``genotype``'s network from scratch with ``seed`` in the run folder ``out_dir``
    and test it; returns the :func:`retraining_record` it writes there.

    Args:
        data: the retraining data (default: loaded as ``config`` says).
        resume: continue the run in ``out_dir`` (a finished one is tested again, not retrained).

    Raises:
        UserInputError: a batch size that does not split over the ranks, a run in ``out_dir``
            without ``resume``, or one with other settings.
        TrainingDiverged: non-finite weights or statistics after an epoch (the record says
            ``"diverged"``; ``last.pt`` holds the last finite epoch).
    """
    dist = DistributedRun.join(config.device)
    config = replace(config, device=dist.device)  # cuda: this rank's GPU
    dist.check_global_batch(**{"--batch-size": config.batch_size})
    with open_run_folder(out_dir, dist) as run:
        return _retrain_locked(genotype, config, seed, run, data=data, resume=resume)


def _retrain_locked(genotype: Genotype, config: RetrainConfig, seed: int, run: RunFolder, *,
                    data: SearchData | None, resume: bool) -> ResultRecord:
    """:func:`retrain` while its run folder is locked (by rank 0)."""
    start = time.perf_counter()
    identity = {**config.to_dict(), "genotype": str(genotype), "seed": seed}
    ckpt = run.resume_state(identity, resume=resume, what="retraining",
                            map_location=config.device)
    data = data or load_retrain_data(config)
    net = _standalone_network(genotype, config, seed, data)
    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                          nesterov=True, weight_decay=config.weight_decay)
    history: list[dict[str, Any]] = []
    before = 0.0  # seconds of the earlier processes' runs
    if ckpt is not None:
        net.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        history, before = list(ckpt["history"]), float(ckpt["wall_time_s"])
    parallel = run.dist.data_parallel(net, sync_norm=config.sync_norm)
    model = {"name": "nb201_standalone", "genotype": str(genotype), "norm": "bn",
             "channels": config.channels, "cells_per_stage": config.cells_per_stage}
    run.write_config({"config": identity, "model": model})
    run.write_metrics(history)
    guard = DivergenceGuard(lr=config.lr, checkpoint=run.checkpoint,
                            lr_option="--lr (RetrainConfig)", dist=run.dist)
    steps_per_epoch = len(data.whole) // config.batch_size
    try:
        for epoch in range(len(history), config.epochs):
            t0 = time.perf_counter()
            loss = _train_epoch(parallel, opt, data.whole, config, seed, epoch)
            guard.check_modules(net, step=(epoch + 1) * steps_per_epoch - 1, epoch=epoch)
            history.append({"epoch": epoch, "train_loss": loss,
                            "lr": opt.param_groups[0]["lr"], "time_s": time.perf_counter() - t0})
            run.save_checkpoint({"model": model, "config": identity,
                                 "state_dict": net.state_dict(),
                                 "optimizer": opt.state_dict(), "history": history,
                                 "wall_time_s": before + time.perf_counter() - start})
            run.write_metrics(history)
            run.dist.barrier()
        run.dist.take_rank0_buffers(net)
        accuracy = test_accuracy(net, data.test, 256, config.device)
    except TrainingDiverged as error:
        run.write_record(retraining_record(
            genotype, config, seed, history=history, accuracy=None, n=len(data.test),
            wall_time_s=before + time.perf_counter() - start, world_size=run.dist.world_size,
            diverged=diverged_fields(error)))
        raise
    return run.write_record(retraining_record(
        genotype, config, seed, history=history, accuracy=accuracy, n=len(data.test),
        wall_time_s=before + time.perf_counter() - start, world_size=run.dist.world_size))


def _standalone_network(genotype: Genotype, config: RetrainConfig, seed: int,
                        data: SearchData) -> StandaloneNetwork:
    """``genotype``'s network, initialised from ``seed``, on ``config.device``."""
    info = get_dataset_info(config.dataset, data_dir=config.data_dir)
    torch.manual_seed(seed)
    return StandaloneNetwork(genotype, norm="bn", affine=True, channels=config.channels,
                             cells_per_stage=config.cells_per_stage,
                             in_channels=data.in_channels, num_classes=info.num_classes,
                             mean=info.mean, std=info.std).to(config.device)


def _train_epoch(parallel: DataParallelStep, opt: torch.optim.Optimizer, train_set: ImageTensors,
                 config: RetrainConfig, seed: int, epoch: int) -> float:
    """One epoch of SGD steps at the cosine lr of each global step; returns the epoch's mean
    training loss (cross-entropy in nats, of the global batches)."""
    steps_per_epoch = len(train_set) // config.batch_size
    total = max(config.epochs * steps_per_epoch, 1)
    parallel.module.train()
    loss_sum = torch.zeros((), device=config.device)
    batches = iterate_batches(train_set, config.batch_size, shuffle=True, augment=True,
                              generator=epoch_generator(seed, epoch, 0), device=config.device,
                              drop_last=True)
    for i, (x, y) in enumerate(batches):
        step = epoch * steps_per_epoch + i
        for group in opt.param_groups:
            group["lr"] = config.lr * (1 + math.cos(math.pi * step / total)) / 2
        loss = F.cross_entropy(parallel.module(parallel.shard(x)), parallel.shard(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
    return float(parallel.mean_over_ranks(loss_sum)) / max(steps_per_epoch, 1)
