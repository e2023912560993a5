"""Benchmark: one DARTS search step of ours against a minimal hand-written first-order step.

Both sides drive the same supernet (``robust_sabn.nas.network.Supernet``, sampled-path SaAuxBN,
the authors' NAS SaBN, by default) with the same optimizers (SGD Nesterov for the weights, Adam
for alpha) and batches: a weight step (cross-entropy, backward, clip 5, step) on one batch, then
an alpha step on another. Ours is ``robust_sabn.nas.search.search_step`` (it also counts correct
predictions and reads the losses, as the search loop logs them); the peer is the six lines a
DARTS user writes. Two copies of the supernet start from the same weights; timings are medians
of interleaved repeats in one process (the side that goes first alternates), so machine load
hits both alike.

    .venv/bin/python bench/nas_step.py --norm saauxbn --channels 8 --cells 1 --size 14 --batch 64
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from robust_sabn.nas.config import SearchConfig
from robust_sabn.nas.network import Supernet
from robust_sabn.nas.plugin import NAS_NORMS
from robust_sabn.nas.search import make_optimizers, search_step

Batch = tuple[Tensor, Tensor]


def hand_written_step(net: Supernet, w_opt: torch.optim.Optimizer, a_opt: torch.optim.Optimizer,
                      weight_batch: Batch, arch_batch: Batch, generator: torch.Generator) -> None:
    """First-order DARTS as written by hand: weight step, then alpha step."""
    w_opt.zero_grad()
    F.cross_entropy(net(weight_batch[0], generator=generator), weight_batch[1]).backward()
    torch.nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
    w_opt.step()
    a_opt.zero_grad()
    F.cross_entropy(net(arch_batch[0], generator=generator), arch_batch[1]).backward()
    a_opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norm", default="saauxbn", choices=NAS_NORMS)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--cells", type=int, default=1)
    parser.add_argument("--size", type=int, default=14)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = SearchConfig(norm=args.norm, channels=args.channels, cells_per_stage=args.cells)
    torch.manual_seed(0)
    ours = Supernet(norm=args.norm, channels=args.channels, cells_per_stage=args.cells,
                    in_channels=1)
    peer = copy.deepcopy(ours)
    ours_opts, peer_opts = make_optimizers(ours, config), make_optimizers(peer, config)
    data = torch.Generator().manual_seed(1)
    batches = [(torch.rand(args.batch, 1, args.size, args.size, generator=data),
                torch.randint(0, 10, (args.batch,), generator=data)) for _ in range(2)]
    sides: dict[str, Callable[[torch.Generator], object]] = {
        "robust-sabn search_step": lambda g: search_step(
            ours, *ours_opts, batches[0], batches[1], algorithm="darts",
            grad_clip=config.grad_clip, generator=g),
        "hand-written DARTS step": lambda g: hand_written_step(
            peer, *peer_opts, batches[0], batches[1], g),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    for repeat in range(args.repeats + 2):
        for name, step in order if repeat % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            step(torch.Generator().manual_seed(repeat))
            if repeat >= 2:  # the first two are warm-up
                times[name].append(time.perf_counter() - start)
    torch.testing.assert_close(ours.alpha, peer.alpha)  # the same math on both sides
    medians = {name: 1000 * statistics.median(t) for name, t in times.items()}
    ours_ms, peer_ms = medians.values()
    print(f"norm {args.norm}, C={args.channels}, N={args.cells}, {args.size}x{args.size}, "
          f"batch {args.batch}, {args.threads} thread(s), median of {args.repeats}")
    for name, ms in medians.items():
        print(f"{name:28s} {ms:9.2f} ms")
    print(f"ratio ours / hand-written: {ours_ms / peer_ms:.3f}")


if __name__ == "__main__":
    main()
