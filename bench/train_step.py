"""Benchmark: our hybrid PGD-AT training step against a minimal hand-written PyTorch loop.

Both sides do the same math on the same batch: L-inf PGD (random start, k sign-gradient steps)
through the adversarial branch in train mode, then ``0.5*CE(clean branch) + 0.5*CE(adv branch)``,
backward and an SGD step. The peer is a hand-written SaAuxBN network (two ``nn.BatchNorm2d``
without affine per layer, a shared affine and per-branch affines) with the same layer shapes
as ``small_cnn``; ours is ``create_model("small_cnn", norm=...)`` driven by
``robust_sabn.train.training_loss``. Timings are medians of interleaved repeats in one process.

    .venv/bin/python bench/train_step.py --width 16 --batch-size 128 --attack-steps 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robust_sabn.models import create_model
from robust_sabn.train import TrainConfig, training_loss


class PeerSaAuxNorm(nn.Module):
    """Hand-written SaAuxBN: ``g_k * (g_s * bn_k(x) + b_s) + b_k``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(c, affine=False) for _ in range(2))
        self.g_s = nn.Parameter(torch.ones(c))
        self.b_s = nn.Parameter(torch.zeros(c))
        self.g = nn.Parameter(torch.ones(2, c))
        self.b = nn.Parameter(torch.zeros(2, c))

    def forward(self, x: Tensor, k: int) -> Tensor:
        shape = (1, -1, 1, 1)
        out = self.bns[k](x) * self.g_s.view(shape) + self.b_s.view(shape)
        return out * self.g[k].view(shape) + self.b[k].view(shape)


class PeerSmallCNN(nn.Module):
    """The small_cnn layer shapes, written out by hand."""

    def __init__(self, width: int, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        chans = [in_channels, width, width, 2 * width, 2 * width]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1, bias=False)
                                   for i in range(4))
        self.norms = nn.ModuleList(PeerSaAuxNorm(chans[i + 1]) for i in range(4))
        self.linear = nn.Linear(2 * width, num_classes)
        self.register_buffer("mean", torch.tensor([0.286]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([0.353]).view(1, -1, 1, 1))

    def forward(self, x: Tensor, k: int) -> Tensor:
        out = (x - self.mean) / self.std
        for i in range(4):
            out = F.relu(self.norms[i](self.convs[i](out), k))
            if i in (1, 3):
                out = F.max_pool2d(out, 2)
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def peer_step(model: PeerSmallCNN, opt: torch.optim.Optimizer, x: Tensor, y: Tensor,
              eps: float, step: float, steps: int) -> None:
    model.train()
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv, 1), y), x_adv)
        with torch.no_grad():
            x_adv = torch.min(torch.max(x_adv + step * grad.sign(), x - eps), x + eps).clamp(0, 1)
    loss = 0.5 * F.cross_entropy(model(x, 0), y) + 0.5 * F.cross_entropy(model(x_adv, 1), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--attack-steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.rand(args.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch_size,))
    eps, step = 0.1, 0.025
    config = TrainConfig(dataset="fashion-mnist", model="small_cnn", norm="saauxbn",
                         width=args.width, eps=eps, step_size=step,
                         attack_steps=args.attack_steps).resolved()
    ours = create_model("small_cnn", norm="saauxbn", in_channels=1, width=args.width,
                        mean=(0.286,), std=(0.353,))
    peer = PeerSmallCNN(args.width)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    opt_peer = torch.optim.SGD(peer.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def our_step() -> None:
        loss, _, _ = training_loss(ours, x, y, config, None)
        opt_ours.zero_grad(set_to_none=True)
        loss.backward()
        opt_ours.step()

    def peer_once() -> None:
        peer_step(peer, opt_peer, x, y, eps, step, args.attack_steps)

    times: dict[str, list[float]] = {"robust-sabn": [], "hand-written": []}
    for i in range(args.warmup + args.repeats):
        for name, fn in (("robust-sabn", our_step), ("hand-written", peer_once)):
            t0 = time.perf_counter()
            fn()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    ours_ms = 1000 * statistics.median(times["robust-sabn"])
    peer_ms = 1000 * statistics.median(times["hand-written"])
    print(f"small_cnn width {args.width}, batch {args.batch_size}, PGD-{args.attack_steps}, "
          f"{torch.get_num_threads()} threads, {args.repeats} repeats")
    print(f"robust-sabn step : {ours_ms:8.2f} ms (median)")
    print(f"hand-written step: {peer_ms:8.2f} ms (median)")
    print(f"ratio ours/peer  : {ours_ms / peer_ms:.3f}")


if __name__ == "__main__":
    main()
