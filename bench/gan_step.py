"""Benchmark: one generator iteration of our GAN loop against a minimal hand-written one.

Both sides train copies of the same SNGAN generator (SaBN) and projection discriminator on the
same Fashion-MNIST images: ``n_critic`` hinge-loss D steps on a real batch and as many fakes with
uniform labels, one G step, Adam (2e-4, betas (0, 0.9)), then the generator EMA. Ours is
``robust_sabn.gan.train.gan_iteration`` + ``update_ema`` (seeded per-iteration randomness, real
batches by global step); the peer is the textbook loop written inline below. Timings are
medians of interleaved repeats in one process; the printed ratio is ours / peer.

    .venv/bin/python bench/gan_step.py --width 16 --g-batch 32 --d-batch 32 --repeats 30
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from robust_sabn.data import load_split
from robust_sabn.gan.config import GANConfig
from robust_sabn.gan.models import GANSpec
from robust_sabn.gan.train import RealBatches, gan_iteration, to_signed, update_ema


def peer_iteration(g: nn.Module, d: nn.Module, ema: nn.Module, opt_g: torch.optim.Optimizer,
                   opt_d: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
                   config: GANConfig) -> None:
    """The hand-written G-iteration: n_critic hinge D steps, one G step, EMA."""
    for _ in range(config.n_critic):
        index = torch.randint(0, len(images), (config.d_batch,))
        x_real, y_real = images[index], labels[index]
        z = torch.randn(config.d_batch, config.latent_dim)
        y_fake = torch.randint(0, 10, (config.d_batch,))
        with torch.no_grad():
            x_fake = g(z, y_fake)
        loss_d = F.relu(1 - d(x_real, y_real)).mean() + F.relu(1 + d(x_fake, y_fake)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    z = torch.randn(config.g_batch, config.latent_dim)
    y_fake = torch.randint(0, 10, (config.g_batch,))
    loss_g = -d(g(z, y_fake), y_fake).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), g.parameters(), strict=True):
            p_ema.mul_(config.ema_decay).add_(p, alpha=1 - config.ema_decay)
        for b_ema, b in zip(ema.buffers(), g.buffers(), strict=True):
            b_ema.copy_(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--g-batch", type=int, default=32)
    parser.add_argument("--d-batch", type=int, default=32)
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = GANConfig.from_preset("fmnist-cpu", g_width=args.width, d_width=args.width,
                                   g_batch=args.g_batch, d_batch=args.d_batch,
                                   n_critic=args.n_critic, ema_decay=0.999)
    data = load_split("fashion-mnist", "train", val_size=0, max_examples=10_000)
    spec = GANSpec("sngan32", "sabn", 10, 1, 28, args.width, args.width, config.latent_dim)
    torch.manual_seed(0)
    nets = {}
    for side in ("ours", "peer"):
        g, d = spec.build_generator(), spec.build_discriminator()
        betas = (config.beta1, config.beta2)
        nets[side] = (g, d, copy.deepcopy(g).requires_grad_(False),
                      torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=betas),
                      torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=betas))
    real = RealBatches(data, config.d_batch, config.seed, "cpu")
    images, labels = to_signed(data.images), data.labels
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    for it in range(args.repeats + 3):
        for side in ("ours", "peer") if it % 2 == 0 else ("peer", "ours"):
            g, d, ema, opt_g, opt_d = nets[side]
            start = time.perf_counter()
            if side == "ours":
                gan_iteration(g, d, opt_g, opt_d, real, config, 10, it)
                update_ema(ema, g, config.ema_decay)
            else:
                peer_iteration(g, d, ema, opt_g, opt_d, images, labels, config)
            if it >= 3:  # warm-up iterations are not timed
                times[side].append(time.perf_counter() - start)
    ours, peer = statistics.median(times["ours"]), statistics.median(times["peer"])
    print(f"SNGAN SaBN, width {args.width}, G batch {args.g_batch}, D batch {args.d_batch}, "
          f"n_critic {args.n_critic}, {args.threads} thread(s), medians of {args.repeats}")
    print(f"{'G-iteration':<32}{'ms':>10}")
    print(f"{'robust-sabn gan_iteration+EMA':<32}{1000 * ours:>10.1f}")
    print(f"{'hand-written hinge loop':<32}{1000 * peer:>10.1f}")
    print(f"ours / peer: {ours / peer:.3f}")


if __name__ == "__main__":
    main()
