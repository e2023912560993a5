"""Benchmark: one epoch of ``robust-sabn train`` against a minimal hand-written epoch.

Both sides train the same network (``small_cnn``, SaAuxBN) on the same fashion-mnist images with
the same math: shuffle, pad-2 random crops, warm-up + cosine lr per step, L-inf PGD-k (random
start) through the adversarial branch in train mode, the hybrid loss, SGD with momentum, then
validation (clean and PGD accuracy of both branches in eval mode). Ours is
``robust_sabn.train.train`` for one epoch, timed twice: the whole call (loading and checking the
data, building the model, writing ``config.json``, ``metrics.jsonl`` and the checkpoints) and
the epoch it logs (training + validation). The hand-written epoch gets its data and model
ready-made and does the crop per image, as a torchvision ``RandomCrop`` in a ``DataLoader``
would. A second hand-written epoch uses the textbook SaAuxBN layers of ``bench/train_step.py``
(the authors' form) instead of our model. Medians of interleaved repeats, CPU and wall time
(:mod:`timing`); ours also runs with ``--fused-branches``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_epoch.py --examples 2048 --val 256
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import interleaved, ratios
from torch import Tensor, nn
from train_step import PeerSmallCNN

from robust_sabn.data import load_split
from robust_sabn.models import create_model
from robust_sabn.train import TrainConfig, train

EPS, STEP = 0.1, 0.025


def pgd(model: nn.Module, x: Tensor, y: Tensor, steps: int, branch: str = "adv") -> Tensor:
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv, branch=branch), y), x_adv)
        with torch.no_grad():
            x_adv = torch.min(torch.max(x_adv + STEP * grad.sign(), x - EPS), x + EPS).clamp(0, 1)
    return x_adv.detach()


class TextbookSaAuxBN(nn.Module):
    """The same layers with the textbook SaAuxBN of :mod:`train_step` (two affine-free BNs, then
    the shared affine, then the branch affine: the authors' form), called as ours is."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = PeerSmallCNN(width, fused=False)

    def forward(self, x: Tensor, branch: str) -> Tensor:
        return self.net(x, 0 if branch == "clean" else 1)


def handwritten_epoch(model: nn.Module, images: Tensor, labels: Tensor, val_x: Tensor,
                      val_y: Tensor, batch: int, steps: int, lr: float) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    perm = torch.randperm(len(labels))
    total = len(labels) // batch
    for step in range(total):
        idx = perm[step * batch:(step + 1) * batch]
        padded = F.pad(images[idx].float() / 255, (2, 2, 2, 2))
        offsets = torch.randint(0, 5, (batch, 2))
        x = torch.stack([p[:, i:i + 28, j:j + 28] for p, (i, j) in zip(padded, offsets.tolist(),
                                                                        strict=True)])
        y = labels[idx]
        for group in opt.param_groups:
            warm = min(1.0, (step + 1) / max(1, total // 10))
            group["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * step / total))
        model.train()
        x_adv = pgd(model, x, y, steps)
        loss = 0.5 * F.cross_entropy(model(x, branch="clean"), y) + 0.5 * F.cross_entropy(
            model(x_adv, branch="adv"), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    for branch in ("clean", "adv"):
        for i in range(0, len(val_y), 256):
            xb, yb = val_x[i:i + 256], val_y[i:i + 256]
            with torch.no_grad():
                model(xb, branch=branch).argmax(1).eq(yb).sum()
            x_adv = pgd(model, xb, yb, steps, branch)
            with torch.no_grad():
                model(x_adv, branch=branch).argmax(1).eq(yb).sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2048)
    parser.add_argument("--val", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--attack-steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = TrainConfig(dataset="fashion-mnist", model="small_cnn", norm="saauxbn",
                         width=args.width, epochs=1, batch_size=args.batch_size, lr=0.05,
                         schedule="cosine", max_train_examples=args.examples,
                         val_examples=args.val, eps=EPS, step_size=STEP,
                         attack_steps=args.attack_steps, device="cpu")
    resolved = config.resolved()
    data = load_split("fashion-mnist", "train", seed=0, val_size=resolved.val_size,
                      max_examples=args.examples)
    val = load_split("fashion-mnist", "val", seed=0, val_size=resolved.val_size,
                     max_examples=args.val)
    val_x, val_y = val.images.float() / 255, val.labels

    logged: dict[str, list[float]] = {}

    def ours(fused: bool) -> Callable[[], None]:
        """The whole ``train`` call; the epoch it logs (training + validation) goes to
        ``logged``."""
        run_config = dataclasses.replace(config, fused_branches=fused or None)

        def run() -> None:
            with tempfile.TemporaryDirectory() as folder:
                record = train(run_config, Path(folder) / "run", quiet=True)
            logged.setdefault(f"fused={fused}", []).append(record.extras["final"]["time_s"])
        return run

    def peer(textbook: bool) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(0)
            model = TextbookSaAuxBN(args.width) if textbook else create_model(
                "small_cnn", norm="saauxbn", in_channels=1, width=args.width, mean=(0.286,),
                std=(0.353,))
            handwritten_epoch(model, data.images, data.labels, val_x, val_y, args.batch_size,
                              args.attack_steps, 0.05)
        return run

    fns = {"robust-sabn train": ours(False), "robust-sabn train --fused-branches": ours(True),
           "hand-written": peer(False), "hand-written, textbook SaAuxBN": peer(True)}
    timings = interleaved(fns, args.repeats, warmup=1)
    print(f"one epoch: {args.examples} fashion-mnist images, batch {args.batch_size}, "
          f"PGD-{args.attack_steps}, validation on {args.val}, small_cnn width {args.width}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    for name, t in timings.items():
        print(f"{name:<36}: CPU {t.cpu:7.2f} s, wall {t.wall:7.2f} s (whole call)")
    for fused in (False, True):
        epoch = statistics.median(logged[f"fused={fused}"][1:])
        print(f"epoch logged by train (fused={fused}): wall {epoch:7.2f} s, ratio to "
              f"hand-written wall {epoch / timings['hand-written'].wall:.3f}")
    for name in ("robust-sabn train", "robust-sabn train --fused-branches"):
        for peer_name in ("hand-written", "hand-written, textbook SaAuxBN"):
            print(f"ratio {name} / {peer_name}: {ratios(timings[name], timings[peer_name])}")


if __name__ == "__main__":
    main()
