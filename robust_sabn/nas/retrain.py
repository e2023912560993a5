"""Standalone retraining of a genotype: the offline way to score a found cell.

The cell's network (NAS-Bench-201 skeleton, conv ops with BN + affine as NB201 trains them) is
trained from scratch on the search set with a fixed short schedule (SGD, Nesterov 0.9, weight
decay 5e-4, cosine from ``lr`` to 0, per-step) and tested on the test subset.

Under torchrun (``robust-sabn nas eval --nproc N``) every rank draws the global batches as one
process does and trains its contiguous slice through DistributedDataParallel (BN statistics of
the slice, or of the global batch with ``sync_norm``: then one process's training up to float
rounding); every rank then tests the whole test set with rank 0's running statistics, so all
ranks return the same result.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from robust_sabn.data import get_dataset_info, iterate_batches
from robust_sabn.data.splits import ImageTensors
from robust_sabn.nas.config import RetrainConfig
from robust_sabn.nas.data import SearchData, load_search_data
from robust_sabn.nas.network import StandaloneNetwork
from robust_sabn.nas.search import epoch_generator
from robust_sabn.nas.space import Genotype
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.divergence import DivergenceGuard


@dataclass(frozen=True)
class RetrainResult:
    """Test accuracy (fraction) on ``n`` images, final training loss, seconds spent."""

    accuracy: float
    n: int
    train_loss: float
    wall_time_s: float


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


def retrain(genotype: Genotype, config: RetrainConfig, seed: int,
            data: SearchData | None = None) -> RetrainResult:
    """Train ``genotype``'s network from scratch with ``seed``; return its test accuracy and
    its last step's loss (the global batch's under torchrun).

    Raises:
        UserInputError: a batch size that does not split over the ranks.
        TrainingDiverged: the trained network holds non-finite weights or statistics.
    """
    start = time.perf_counter()
    dist = DistributedRun.join(config.device)
    config = replace(config, device=dist.device)  # cuda: this rank's GPU
    dist.check_global_batch(**{"--batch-size": config.batch_size})
    data = data or load_retrain_data(config)
    info = get_dataset_info(config.dataset, data_dir=config.data_dir)
    torch.manual_seed(seed)
    net = StandaloneNetwork(genotype, norm="bn", affine=True, channels=config.channels,
                            cells_per_stage=config.cells_per_stage,
                            in_channels=data.in_channels, num_classes=info.num_classes,
                            mean=info.mean, std=info.std).to(config.device)
    parallel = dist.data_parallel(net, sync_norm=config.sync_norm)
    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                          nesterov=True, weight_decay=config.weight_decay)
    train_set = data.whole
    steps_per_epoch = len(train_set) // config.batch_size
    total = max(config.epochs * steps_per_epoch, 1)
    step, last_loss = 0, torch.tensor(float("nan"))
    for epoch in range(config.epochs):
        net.train()
        for x, y in iterate_batches(train_set, config.batch_size, shuffle=True, augment=True,
                                    generator=epoch_generator(seed, epoch, 0),
                                    device=config.device, drop_last=True):
            for group in opt.param_groups:
                group["lr"] = config.lr * (1 + math.cos(math.pi * step / total)) / 2
            loss = F.cross_entropy(parallel.module(parallel.shard(x)), parallel.shard(y))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step, last_loss = step + 1, loss.detach()
    loss_value = float(parallel.mean_over_ranks(last_loss)) if step else float("nan")
    dist.take_rank0_buffers(net)
    DivergenceGuard(lr=config.lr, checkpoint=None, lr_option="--lr (RetrainConfig)"
                    ).check_modules(net, step=step - 1)
    accuracy = test_accuracy(net, data.test, 256, config.device)
    return RetrainResult(accuracy, len(data.test), loss_value, time.perf_counter() - start)
