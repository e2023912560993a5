"""Benchmark: our attacks against the libraries called directly, same model, points and seeds.

* PGD: the evaluator's PGD-k pass (``evaluate_model(attacks=("pgd",))``: registry, mode
  handling, per-batch seeding, the clean and robust flags) against a loop of ``torchattacks.PGD``
  over the same batches with the same seeds plus the same clean pass, and the trainer's
  ``pgd_attack`` against ``torchattacks.PGD`` alone;
* AutoAttack: the evaluator's AutoAttack pass (``evaluate_model(attacks=("autoattack",))``:
  the cascade one attack at a time per batch, flags, stage times) against
  ``pyautoattack.AutoAttack.run_standard_evaluation`` per batch with the same seeds; the
  per-example flags must be identical;
* inference mode against ``no_grad`` for the clean pass.

Medians of interleaved repeats in one process, CPU and wall time (:mod:`timing`); a ratio
< 1 means ours is faster.

    OMP_NUM_THREADS=1 .venv/bin/python bench/attack_speed.py --n 256 --batch-size 128
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torchattacks
from pyautoattack import AutoAttack
from timing import interleaved, ratios
from torch import Tensor, nn

from robust_sabn.adversarial.record import example_flags
from robust_sabn.attacks import pgd_attack
from robust_sabn.evaluate import evaluate_model
from robust_sabn.models import create_model
from robust_sabn.nn import fixed_branch


class Split:
    """Synthetic fashion-mnist-shaped images as an evaluation split."""

    name = "fashion-mnist"

    def __init__(self, n: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (n, 1, 28, 28), generator=generator,
                                    dtype=torch.uint8)
        self.labels = torch.randint(0, 10, (n,), generator=generator)


def torchattacks_pgd(view: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int,
                     batch: int, seed: int, *, clean: bool = False) -> list[bool]:
    """Robust flags of ``torchattacks.PGD`` per batch (seeded ``seed + b``); with ``clean``
    also the clean pass the evaluator makes (its flags are not returned)."""
    pgd = torchattacks.PGD(view, eps=eps, alpha=2.5 * eps / steps, steps=steps)
    flags: list[bool] = []
    for b, i in enumerate(range(0, len(x), batch)):
        if clean:
            with torch.no_grad():
                view(x[i:i + batch]).argmax(1).eq(y[i:i + batch]).tolist()
        torch.manual_seed(seed + b)
        x_adv = pgd(x[i:i + batch], y[i:i + batch])
        with torch.no_grad():
            flags += view(x_adv).argmax(1).eq(y[i:i + batch]).tolist()
    return flags


def pyautoattack_direct(view: nn.Module, x: Tensor, y: Tensor, eps: float, batch: int,
                        seed: int, attacks: list[str]) -> list[bool]:
    flags: list[bool] = []
    for b, i in enumerate(range(0, len(x), batch)):
        adversary = AutoAttack(view, eps=eps, version="custom", attacks=attacks, seed=seed + b,
                               device=x.device)
        _, y_adv = adversary.run_standard_evaluation(x[i:i + batch], y[i:i + batch],
                                                     batch_size=batch)
        flags += y_adv.eq(y[i:i + batch]).tolist()
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--aa-attacks", default="apgd-ce,apgd-t")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = create_model("small_cnn", norm="saauxbn", in_channels=1, width=args.width).eval()
    data = Split(args.n)
    x, y = data.images.float() / 255, data.labels
    eps, seed, bs = 0.1, 0, args.batch_size
    view = fixed_branch(model, "adv").eval()
    aa = args.aa_attacks.split(",")
    common = {"eps": eps, "n_examples": args.n, "batch_size": bs, "seed": seed,
              "device": "cpu", "branches": ["adv"]}

    def ours_pgd() -> list[bool]:
        record = evaluate_model(model, data, attacks=("pgd",), pgd_steps=args.steps, **common)
        return example_flags(record)[("adv", f"pgd-{args.steps}")]

    def ours_train_pgd() -> None:
        for b, i in enumerate(range(0, args.n, bs)):
            generator = torch.Generator().manual_seed(seed + b)
            pgd_attack(view, x[i:i + bs], y[i:i + bs], eps=eps, step_size=2.5 * eps / args.steps,
                       steps=args.steps, generator=generator)

    def ours_aa() -> list[bool]:
        record = evaluate_model(model, data, attacks=("autoattack",), version="custom",
                                autoattack_attacks=aa, **common)
        return example_flags(record)[("adv", "autoattack-custom")]

    def clean(mode: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            with mode():  # type: ignore[attr-defined]
                for i in range(0, args.n, bs):
                    view(x[i:i + bs]).argmax(1)
        return run

    assert ours_pgd() == torchattacks_pgd(view, x, y, eps, args.steps, bs, seed), "PGD flags"
    same_aa = ours_aa() == pyautoattack_direct(view, x, y, eps, bs, seed, aa)
    pairs = {
        "PGD eval pass / torchattacks.PGD + clean pass": (
            ours_pgd,
            lambda: torchattacks_pgd(view, x, y, eps, args.steps, bs, seed, clean=True)),
        "training pgd_attack / torchattacks.PGD": (
            ours_train_pgd, lambda: torchattacks_pgd(view, x, y, eps, args.steps, bs, seed)),
        "AutoAttack eval pass / pyautoattack": (
            ours_aa, lambda: pyautoattack_direct(view, x, y, eps, bs, seed, aa)),
        "clean pass inference_mode / no_grad": (
            clean(torch.inference_mode), clean(torch.no_grad)),
    }
    print(f"small_cnn width {args.width}, {args.n} points, batch {bs}, PGD-{args.steps}, "
          f"AutoAttack {'+'.join(aa)}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    print(f"AutoAttack per-example flags identical to pyautoattack: {same_aa}")
    for name, (ours, peer) in pairs.items():
        timings = interleaved({"ours": ours, "peer": peer}, args.repeats, warmup=0)
        print(f"{name:<46}: CPU {timings['ours'].cpu:7.3f} s vs {timings['peer'].cpu:7.3f} s; "
              f"ratio {ratios(timings['ours'], timings['peer'])}")


if __name__ == "__main__":
    main()
