"""First-order DARTS and GDAS on the NAS-Bench-201 supernet, with exact resume.

One search step takes a batch from each half of the search set: a weight step (SGD, clip) on the
first, then an architecture step (Adam on alpha) on the second, as the authors' ``DARTS-V1``
does. GDAS draws a Gumbel-softmax sample of one op per edge for every forward (temperature
falling linearly from ``tau_max`` to ``tau_min`` over the epochs) and computes only that op.

Randomness (data order, augmentation, the sampled branches, Gumbel noise) comes from CPU
generators derived from the seed and the epoch, so ``resume=True`` continues a killed search from
its last finished epoch to the same alpha and weights an uninterrupted search reaches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from robust_sabn.artifacts.checkpoint import load_checkpoint, save_checkpoint
from robust_sabn.data import iterate_batches
from robust_sabn.errors import UserInputError
from robust_sabn.nas.config import SearchConfig
from robust_sabn.nas.data import SearchData, load_search_data
from robust_sabn.nas.network import Supernet
from robust_sabn.nas.space import EDGE_NAMES, Genotype
from robust_sabn.nas.tables import CellTable

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


def _correct(logits: Tensor, y: Tensor) -> int:
    return int((logits.argmax(dim=1) == y).sum())


def _optimizer_step(forward: Callable[[Tensor], Tensor], batch: tuple[Tensor, Tensor],
                    optimizer: torch.optim.Optimizer, clip: Sequence[Tensor] | None,
                    grad_clip: float, check: Callable[[Tensor], None] | None = None
                    ) -> tuple[float, int]:
    """Cross-entropy on ``batch``, ``check`` of the loss, backward, optional clip, step;
    returns (loss, correct).

    Its own function so that the forward graph is released before the next forward."""
    x, y = batch
    logits = forward(x)
    loss = F.cross_entropy(logits, y)
    if check is not None:
        check(loss)
    loss.backward()
    if clip is not None and grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(clip, grad_clip)
    optimizer.step()
    return loss.item(), _correct(logits.detach(), y)


def search_step(net: Supernet, w_opt: torch.optim.Optimizer, a_opt: torch.optim.Optimizer,
                weight_batch: tuple[Tensor, Tensor], arch_batch: tuple[Tensor, Tensor], *,
                algorithm: str, grad_clip: float, generator: torch.Generator,
                tau: float = 1.0, check: Callable[[Tensor], None] | None = None) -> StepStats:
    """One weight step then one alpha step (first order); batches are (x (B, C, H, W) in
    [0, 1], y (B,)); ``check`` sees each loss before its step (the finite-loss guard)."""

    def forward(x: Tensor) -> Tensor:
        if algorithm == "gdas":
            weights, ops = gumbel_hard_weights(net.alpha, tau, generator)
            return net(x, weights=weights, hard_ops=ops)
        return net(x, generator=generator)

    net.zero_grad(set_to_none=True)
    weight_loss, weight_correct = _optimizer_step(forward, weight_batch, w_opt,
                                                  net.weight_parameters(), grad_clip, check)
    a_opt.zero_grad(set_to_none=True)
    arch_loss, arch_correct = _optimizer_step(forward, arch_batch, a_opt, None, grad_clip,
                                              check)
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


def _resume_state(path: Path, config: SearchConfig, resume: bool) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    if not resume:
        raise UserInputError(f"{path} holds a search already; pass --resume to continue it or "
                             "choose another --out")
    ckpt = load_checkpoint(path)
    saved = ckpt.get("config")
    if saved != config.to_dict():
        raise UserInputError(f"{path} was written by a search with other settings; resume it "
                             "with the same options or choose another --out")
    return ckpt


def run_search(config: SearchConfig, out_dir: str | Path, *, resume: bool = False,
               tables: Sequence[CellTable] = (), data: SearchData | None = None,
               on_epoch: Callable[[dict[str, Any]], None] | None = None
               ) -> dict[str, Any]:
    """Search, checkpointing every epoch to ``out_dir/search.pt``; returns the final state
    (``history``: one :func:`epoch_summary` per epoch, ``genotype``, ``wall_time_s``).

    Raises:
        UserInputError: bad data settings, or a checkpoint in ``out_dir`` that does not match.
        TrainingDiverged: a non-finite loss; ``search.pt`` (if any) holds the last finite epoch.
    """
    from robust_sabn.data import get_dataset_info
    from robust_sabn.train.divergence import FiniteLossGuard

    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    ckpt = _resume_state(ckpt_path, config, resume)
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
    steps = len(data.weights) // config.batch_size
    guard = FiniteLossGuard(lr=max(config.lr, config.arch_lr), checkpoint=ckpt_path,
                            lr_option="lr/arch_lr (SearchConfig)")
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
                net, w_opt, a_opt, weight_batch, arch_batch, algorithm=config.algorithm,
                grad_clip=config.grad_clip, generator=arch_rng, tau=tau or 1.0,
                check=partial(guard.check, step=epoch * steps + step, epoch=epoch)))
        wall += time.perf_counter() - start
        summary = epoch_summary(net, epoch, stats, config.batch_size, tables,
                                cosine_lr(config, epoch), tau)
        history.append(summary)
        save_checkpoint(ckpt_path, {
            "model": {"name": "nb201_supernet", "norm": config.norm},
            "config": config.to_dict(), "state_dict": net.state_dict(),
            "w_optimizer": w_opt.state_dict(), "a_optimizer": a_opt.state_dict(),
            "history": history, "wall_time_s": wall,
        })
        if on_epoch is not None:
            on_epoch(summary)
    return {"history": history, "genotype": history[-1]["genotype"], "wall_time_s": wall,
            "supernet": net}


def final_genotype(result: dict[str, Any]) -> Genotype:
    """The genotype a finished search returns (argmax alpha after its last epoch)."""
    return Genotype.parse(result["genotype"])
