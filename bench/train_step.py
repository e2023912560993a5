"""Benchmark: our hybrid PGD-AT training step against a minimal hand-written PyTorch loop.

Both sides do the same math on the same batch: L-inf PGD (random start, k sign-gradient steps)
through the adversarial branch in train mode, then ``0.5*CE(clean branch) + 0.5*CE(adv branch)``,
backward and an SGD step. Ours is ``create_model("small_cnn", norm="saauxbn")`` driven by
``robust_sabn.train.training_loss``. Two hand-written peers with the same layer shapes:

* ``plain``: the textbook SaAuxBN, two ``nn.BatchNorm2d`` without affine per layer, then the
  shared affine, then the branch affine (three elementwise passes);
* ``fused``: the same parameters folded into one ``F.batch_norm`` call per layer, as our core
  does, so the ratio against it is the cost of our routing, mode handling and loop.

Ours runs in three settings: as is (NCHW), in channels_last (the trainer's CPU default) and in
channels_last with ``fused_branches`` (the clean and adversarial batches in one forward,
``--fused-branches``). Timings are medians of interleaved repeats in one process, CPU and wall time
(:mod:`timing`).

    .venv/bin/python bench/train_step.py --width 16 --batch-size 128 --attack-steps 5
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from timing import interleaved, ratios
from torch import Tensor, nn

from robust_sabn.models import create_model
from robust_sabn.train import TrainConfig, training_loss


class PeerSaAuxNorm(nn.Module):
    """Hand-written SaAuxBN: ``g_k * (g_s * bn_k(x) + b_s) + b_k``, plain or fused."""

    def __init__(self, c: int, fused: bool) -> None:
        super().__init__()
        self.fused = fused
        self.bns = nn.ModuleList(nn.BatchNorm2d(c, affine=False) for _ in range(2))
        self.g_s = nn.Parameter(torch.ones(c))
        self.b_s = nn.Parameter(torch.zeros(c))
        self.g = nn.Parameter(torch.ones(2, c))
        self.b = nn.Parameter(torch.zeros(2, c))

    def forward(self, x: Tensor, k: int) -> Tensor:
        if self.fused:
            bn = self.bns[k]
            weight, bias = self.g[k] * self.g_s, self.g[k] * self.b_s + self.b[k]
            return F.batch_norm(x, bn.running_mean, bn.running_var, weight, bias,
                                self.training, bn.momentum, bn.eps)
        shape = (1, -1, 1, 1)
        out = self.bns[k](x) * self.g_s.view(shape) + self.b_s.view(shape)
        return out * self.g[k].view(shape) + self.b[k].view(shape)


class PeerSmallCNN(nn.Module):
    """The small_cnn layer shapes, written out by hand."""

    def __init__(self, width: int, fused: bool, in_channels: int = 1, num_classes: int = 10
                 ) -> None:
        super().__init__()
        chans = [in_channels, width, width, 2 * width, 2 * width]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1, bias=False)
                                   for i in range(4))
        self.norms = nn.ModuleList(PeerSaAuxNorm(chans[i + 1], fused) for i in range(4))
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
    variants = {"robust-sabn": (torch.contiguous_format, False),
                "robust-sabn channels_last": (torch.channels_last, False),
                "robust-sabn channels_last fused": (torch.channels_last, True)}
    peers = {name: PeerSmallCNN(args.width, fused=name == "fused") for name in ("plain", "fused")}
    opt_peers = {name: torch.optim.SGD(p.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
                 for name, p in peers.items()}

    def our_step(layout: torch.memory_format, fused: bool) -> Callable[[], None]:
        model = create_model("small_cnn", norm="saauxbn", in_channels=1, width=args.width,
                             mean=(0.286,), std=(0.353,)).to(memory_format=layout)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        run_config = dataclasses.replace(config, fused_branches=fused)
        images = x.contiguous(memory_format=layout)

        def step() -> None:
            loss, _, _ = training_loss(model, images, y, run_config, None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    steps: dict[str, Callable[[], None]] = {
        name: our_step(layout, fused) for name, (layout, fused) in variants.items()}
    for name, peer in peers.items():
        steps[f"hand-written {name}"] = functools.partial(
            peer_step, peer, opt_peers[name], x, y, eps, step, args.attack_steps)
    timings = interleaved(steps, args.repeats, args.warmup)
    print(f"small_cnn width {args.width}, batch {args.batch_size}, PGD-{args.attack_steps}, "
          f"{torch.get_num_threads()} threads, {args.repeats} repeats")
    for name, t in timings.items():
        print(f"{name:<32}: CPU {1000 * t.cpu:8.2f} ms, wall {1000 * t.wall:8.2f} ms per step "
              "(medians)")
    for ours in variants:
        for name in peers:
            print(f"ratio {ours} / hand-written {name}: "
                  f"{ratios(timings[ours], timings[f'hand-written {name}'])}")


if __name__ == "__main__":
    main()
