"""First-order DARTS and GDAS on the NAS-Bench-201 supernet, with exact resume.

One search step takes a batch from each half of the search set: a weight step (SGD, clip) on the
first, then an architecture step (Adam on alpha) on the second, as the authors' ``DARTS-V1``
does. GDAS draws a Gumbel-softmax sample of one op per edge for every forward (temperature
falling linearly from ``tau_max`` to ``tau_min`` over the epochs) and computes only that op.

Randomness (data order, augmentation, the sampled branches, Gumbel noise) comes from CPU
generators derived from the seed and the epoch, so ``resume=True`` continues a killed search from
its last finished epoch to the same alpha and weights an uninterrupted search reaches.

Under torchrun (or ``robust-sabn nas train --nproc N``) every rank draws the same global batches,
branch samples and Gumbel noise from those generators, as one process does, and computes its
contiguous slice of each half's batch through one DistributedDataParallel wrap of the supernet.
Both optimizer steps run through it: DDP's reducer works per backward, so the weight step's
backward averages the weight gradients and the alpha step's backward averages alpha's (each
step's other gradients are averaged too but never stepped: zeroed before they are used). GDAS
computes only the sampled ops, so its wrap finds unused parameters; every rank samples the same
ops, so an op is unused on all ranks alike and keeps no gradient, as in one process. With
``sync_norm`` the norms use the global batch's statistics and the search is one process's up to
float rounding; rank 0 alone writes the run folder (:mod:`robust_sabn.runs.folder`: ``search.pt``,
``metrics.jsonl``, ``config.json`` and the record ``train_record.json``) while the others wait.
Before each checkpoint the divergence guard checks the supernet's weights, alpha and norm
statistics: a search whose BatchNorm running variances went infinite is recorded as diverged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.data import iterate_batches
from robust_sabn.nas.config import SearchConfig
from robust_sabn.nas.data import SearchData, load_search_data
from robust_sabn.nas.network import Supernet
from robust_sabn.nas.plugin import renamed_settings
from robust_sabn.nas.records import diverged_search_record, search_record
from robust_sabn.nas.space import EDGE_NAMES
from robust_sabn.nas.tables import CellTable
from robust_sabn.parallel.data_parallel import DataParallelStep
from robust_sabn.runs.distributed import DistributedRun
from robust_sabn.runs.divergence import DivergenceGuard, TrainingDiverged, diverged_fields
from robust_sabn.runs.folder import RunFolder, config_changes, open_run_folder

CHECKPOINT_NAME = "search.pt"


@dataclass(frozen=True)
class StepStats:
    """Losses (mean cross-entropy) and correct counts of one search step's two batches."""

    weight_loss: float
    weight_correct: int
    arch_loss: float
    arch_correct: int


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """CPU generator of one epoch; ``stream`` 0 is data order, 1 the architecture samples."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 7 + stream) % 2**63)


def gumbel_hard_weights(alpha: Tensor, tau: float, generator: torch.Generator
                        ) -> tuple[Tensor, list[int]]:
    """GDAS' straight-through sample: one-hot weights (6, 5) whose gradient is that of
    softmax((log_softmax(alpha) + g) / tau), and the sampled op code per edge."""
    while True:
        noise = torch.empty(alpha.shape).exponential_(generator=generator).log().neg()
        probs = torch.softmax((alpha.log_softmax(dim=1) + noise.to(alpha.device)) / tau, dim=1)
        if torch.isfinite(probs).all():
            break
    index = probs.argmax(dim=1)
    one_hot = F.one_hot(index, alpha.shape[1]).to(probs.dtype)
    return one_hot - probs.detach() + probs, index.tolist()


def _optimizer_step(forward: Callable[[Tensor], Tensor], batch: tuple[Tensor, Tensor],
                    optimizer: torch.optim.Optimizer, clip: Sequence[Tensor] | None,
                    grad_clip: float, check: Callable[[Tensor], None] | None,
                    parallel: DataParallelStep | None) -> tuple[float, int]:
    """Cross-entropy on ``batch``, ``check`` of the loss, backward, optional clip, step;
    returns (loss, correct) of the global batch: the loss averaged and the correct predictions
    summed over the ranks of ``parallel`` (this rank's alone when None).

    Its own function so that the forward graph is released before the next forward."""
    x, y = batch
    logits = forward(x)
    loss = F.cross_entropy(logits, y)
    totals = torch.stack([loss.detach(), (logits.detach().argmax(dim=1) == y).sum().to(
        loss.dtype)])
    if parallel is not None:
        totals = parallel.sum_over_ranks(totals) / torch.tensor([parallel.world_size, 1.0],
                                                                device=totals.device)
    if check is not None:
        check(totals[0])
    loss.backward()
    if clip is not None and grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(clip, grad_clip)
    optimizer.step()
    global_loss, correct = totals.tolist()
    return global_loss, round(correct)


def search_step(net: Supernet, w_opt: torch.optim.Optimizer, a_opt: torch.optim.Optimizer,
                weight_batch: tuple[Tensor, Tensor], arch_batch: tuple[Tensor, Tensor], *,
                algorithm: str, grad_clip: float, generator: torch.Generator,
                tau: float = 1.0, check: Callable[[Tensor], None] | None = None,
                parallel: DataParallelStep | None = None) -> StepStats:
    """One weight step then one alpha step (first order); batches are (x (B, C, H, W) in
    [0, 1], y (B,)); ``check`` sees each loss before its step (the finite-loss guard).

    With ``parallel`` (its ``module`` the DDP-wrapped ``net``) the batches are this rank's slices,
    ``generator`` draws as on every other rank, and the stats and ``check`` see the global
    batch's loss and correct count."""
    model = net if parallel is None else parallel.module

    def forward(x: Tensor) -> Tensor:
        if algorithm == "gdas":
            weights, ops = gumbel_hard_weights(net.alpha, tau, generator)
            return model(x, weights=weights, hard_ops=ops)
        return model(x, generator=generator)

    net.zero_grad(set_to_none=True)
    weight_loss, weight_correct = _optimizer_step(forward, weight_batch, w_opt,
                                                  net.weight_parameters(), grad_clip, check,
                                                  parallel)
    a_opt.zero_grad(set_to_none=True)
    arch_loss, arch_correct = _optimizer_step(forward, arch_batch, a_opt, None, grad_clip,
                                              check, parallel)
    return StepStats(weight_loss, weight_correct, arch_loss, arch_correct)


def make_optimizers(net: Supernet, config: SearchConfig
                    ) -> tuple[torch.optim.SGD, torch.optim.Adam]:
    """The weight optimizer (SGD, Nesterov) and the architecture optimizer (Adam)."""
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=config.lr, momentum=config.momentum,
                            nesterov=config.nesterov, weight_decay=config.weight_decay)
    a_opt = torch.optim.Adam([net.alpha], lr=config.arch_lr,
                             betas=(config.arch_beta1, config.arch_beta2),
                             weight_decay=config.arch_weight_decay)
    return w_opt, a_opt


def cosine_lr(config: SearchConfig, progress: float) -> float:
    """Weight learning rate at ``progress`` epochs (fractional) of the cosine schedule."""
    t = min(progress / config.schedule_epochs, 1.0)
    return config.lr_min + (config.lr - config.lr_min) * (1 + math.cos(math.pi * t)) / 2


def gdas_tau(config: SearchConfig, epoch: int) -> float:
    """GDAS temperature of ``epoch`` (0-based): linear from tau_max to tau_min."""
    span = max(config.epochs - 1, 1)
    return config.tau_max - (config.tau_max - config.tau_min) * epoch / span


def alpha_entropy(alpha: Tensor) -> list[float]:
    """Entropy (nats) of softmax(alpha) per edge; alpha (6, 5)."""
    p = torch.softmax(alpha.detach().float(), dim=1)
    return (-(p * p.clamp_min(1e-12).log()).sum(dim=1)).tolist()


def build_supernet(config: SearchConfig, in_channels: int, num_classes: int,
                   mean: Sequence[float], std: Sequence[float]) -> Supernet:
    """The seeded supernet of ``config``."""
    torch.manual_seed(config.seed)
    return Supernet(norm=config.norm, channels=config.channels,
                    cells_per_stage=config.cells_per_stage, in_channels=in_channels,
                    num_classes=num_classes, mean=mean, std=std).to(config.device)


def epoch_summary(net: Supernet, epoch: int, stats: list[StepStats], batch_size: int,
                  tables: Sequence[CellTable], lr: float, tau: float | None) -> dict[str, Any]:
    """What the search did in one epoch: argmax genotype, its table scores, parameter-free op
    count, alpha entropy per edge, mean losses and accuracies of both halves."""
    genotype = net.genotype()
    seen = max(len(stats) * batch_size, 1)
    return {
        "epoch": epoch + 1,
        "genotype": str(genotype),
        "parameter_free_ops": genotype.parameter_free_count(),
        "alpha_entropy": dict(zip(EDGE_NAMES, alpha_entropy(net.alpha), strict=True)),
        "alpha": net.alpha.detach().cpu().tolist(),
        "weight_loss": sum(s.weight_loss for s in stats) / max(len(stats), 1),
        "weight_accuracy": sum(s.weight_correct for s in stats) / seen,
        "arch_loss": sum(s.arch_loss for s in stats) / max(len(stats), 1),
        "arch_accuracy": sum(s.arch_correct for s in stats) / seen,
        "lr": lr,
        "tau": tau,
        "scores": {table.name: table.score(genotype) for table in tables},
    }


def changed_settings(saved: dict[str, Any], config: SearchConfig) -> list[str]:
    """The settings of ``config`` that differ from a checkpoint's ``saved`` config dict; a
    setting the checkpoint predates counts as its default, and ``device`` and ``data_dir`` are
    left out (each rank of a GPU run has its own device)."""
    return list(config_changes(renamed_settings(saved), asdict(config),
                               defaults=asdict(SearchConfig())))


def run_search(config: SearchConfig, out_dir: str | Path, *, resume: bool = False,
               tables: Sequence[CellTable] = (), data: SearchData | None = None,
               on_epoch: Callable[[dict[str, Any]], None] | None = None,
               run_id: str | None = None) -> ResultRecord:
    """Search, checkpointing every epoch to ``out_dir/search.pt``; returns the search record
    (:func:`robust_sabn.nas.records.search_record`, with the ``runtime``: ``world_size`` and
    ``sync_norm``) that it writes to ``out_dir/train_record.json``; the supernet's weights and
    alpha are in ``search.pt``, its per-epoch summaries (:func:`epoch_summary`) in
    ``search.pt`` and ``metrics.jsonl``.

    Under torchrun every rank calls it and gets the same record; rank 0 alone writes the folder
    and calls ``on_epoch``.

    Raises:
        UserInputError: bad data settings, a checkpoint in ``out_dir`` that does not match, or
            a batch size that does not split over the ranks.
        TrainingDiverged: a non-finite or exploded loss, or non-finite weights, alpha or norm
            statistics; the record says ``"diverged"`` and ``search.pt`` (if any) holds the
            last finite epoch.
    """
    dist = DistributedRun.join(config.device)
    config = replace(config, device=dist.device)  # cuda: this rank's GPU
    dist.check_global_batch(**{"--batch-size": config.batch_size})
    runtime = {"world_size": dist.world_size,
               "sync_norm": config.sync_norm and dist.world_size > 1}
    with open_run_folder(out_dir, dist, CHECKPOINT_NAME) as run:
        try:
            history, wall = _search_locked(config, run, resume=resume, tables=tables, data=data,
                                           on_epoch=on_epoch)
        except TrainingDiverged as error:
            run.write_record(diverged_search_record(config, diverged_fields(error), run=run_id,
                                                    runtime=runtime))
            raise
        record = search_record(config, history, wall, run=run_id)
        record.extras["runtime"] = runtime
        return run.write_record(record)


def _search_locked(config: SearchConfig, run: RunFolder, *, resume: bool,
                   tables: Sequence[CellTable], data: SearchData | None,
                   on_epoch: Callable[[dict[str, Any]], None] | None
                   ) -> tuple[list[dict[str, Any]], float]:
    """:func:`run_search` while its folder is locked; returns (epoch summaries, seconds)."""
    from robust_sabn.data import get_dataset_info

    ckpt = run.resume_state(asdict(config), resume=resume, what="search",
                            defaults=asdict(SearchConfig()), upgrade_saved=renamed_settings)
    if data is None:
        data = load_search_data(config.dataset, data_dir=config.data_dir,
                                search_examples=config.search_examples, test_examples=1,
                                resolution=config.resolution, data_seed=config.data_seed)
    info = get_dataset_info(config.dataset, data_dir=config.data_dir)
    net = build_supernet(config, data.in_channels, info.num_classes, info.mean, info.std)
    w_opt, a_opt = make_optimizers(net, config)
    history: list[dict[str, Any]] = []
    wall = 0.0
    if ckpt is not None:
        net.load_state_dict(ckpt["state_dict"])
        w_opt.load_state_dict(ckpt["w_optimizer"])
        a_opt.load_state_dict(ckpt["a_optimizer"])
        history, wall = list(ckpt["history"]), float(ckpt["wall_time_s"])
    parallel = run.dist.data_parallel(net, sync_norm=config.sync_norm,
                                      find_unused_parameters=config.algorithm == "gdas")
    model = {"name": "nb201_supernet", "norm": config.norm}
    run.write_config({"config": config.to_dict(), "model": model})
    steps = len(data.weights) // config.batch_size
    guard = DivergenceGuard(lr=max(config.lr, config.arch_lr), checkpoint=run.checkpoint,
                            lr_option="lr/arch_lr (SearchConfig)", dist=run.dist)
    for epoch in range(len(history), config.epochs):
        start = time.perf_counter()
        net.train()
        data_rng, arch_rng = epoch_generator(config.seed, epoch, 0), epoch_generator(
            config.seed, epoch, 1)
        batches = zip(
            iterate_batches(data.weights, config.batch_size, shuffle=True, augment=True,
                            generator=data_rng, device=config.device, drop_last=True),
            iterate_batches(data.arch, config.batch_size, shuffle=True, augment=True,
                            generator=data_rng, device=config.device, drop_last=True),
            strict=False,
        )
        tau = gdas_tau(config, epoch) if config.algorithm == "gdas" else None
        stats: list[StepStats] = []
        for step, (weight_batch, arch_batch) in enumerate(batches):
            lr = cosine_lr(config, epoch + step / steps)
            for group in w_opt.param_groups:
                group["lr"] = lr
            stats.append(search_step(
                net, w_opt, a_opt, _slice(parallel, weight_batch), _slice(parallel, arch_batch),
                algorithm=config.algorithm, grad_clip=config.grad_clip, generator=arch_rng,
                tau=tau or 1.0, check=partial(guard.check, step=epoch * steps + step,
                                              epoch=epoch), parallel=parallel))
        wall += time.perf_counter() - start
        guard.check_modules(net, step=(epoch + 1) * steps - 1, epoch=epoch)
        summary = epoch_summary(net, epoch, stats, config.batch_size, tables,
                                cosine_lr(config, epoch), tau)
        history.append(summary)
        run.save_checkpoint({
            "model": model, "config": config.to_dict(), "state_dict": net.state_dict(),
            "w_optimizer": w_opt.state_dict(), "a_optimizer": a_opt.state_dict(),
            "history": history, "wall_time_s": wall,
        })
        run.write_metrics(history)
        if on_epoch is not None and run.writes:
            on_epoch(summary)
        run.dist.barrier()
    return history, wall


def _slice(parallel: DataParallelStep, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """This rank's contiguous slice of a global batch (x (B, C, H, W), y (B,))."""
    return parallel.shard(batch[0]), parallel.shard(batch[1])
