"""Benchmark: 2 ranks against 1 on CPU (gloo), for a training run and an AutoAttack evaluation.

Each side is the ``robust-sabn`` command as a user runs it (``--nproc 2`` launches torchrun's
elastic agent), one thread per rank (``OMP_NUM_THREADS=1``), so the 2-rank run uses two cores
where the 1-rank run uses one. Wall time includes process start-up on both sides. Scaling
efficiency is ``t1 / (2 * t2)`` (1.0: perfect). Runs alternate 1-rank / 2-rank per repeat.

    .venv/bin/python bench/scaling.py --examples 2048 --eval-examples 256
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "robust_sabn", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2048)
    parser.add_argument("--eval-examples", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    train = ["train", "--dataset", "fashion-mnist", "--width", str(args.width), "--epochs", "1",
             "--batch-size", "128", "--max-train-examples", str(args.examples),
             "--val-examples", "256", "--attack-steps", "5", "--device", "cpu", "--quiet"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        run([*train, "--out", str(root / "model")])
        modes = {"train --sync-norm": [*train, "--sync-norm"], "train": train}
        evaluate = ["eval", str(root / "model" / "last.pt"), "--attacks", "autoattack",
                    "--version", "custom", "--aa-attacks", "apgd-ce,apgd-t", "--n-examples",
                    str(args.eval_examples), "--batch-size", "64", "--device", "cpu", "--quiet"]
        times: dict[tuple[str, int], list[float]] = {}
        for i in range(args.repeats):
            for nproc in (1, 2):
                for mode, command in modes.items():
                    times.setdefault((mode, nproc), []).append(run(
                        [*command, "--out", str(root / f"{mode}-{i}-{nproc}"), "--nproc",
                         str(nproc)]))
                key = ("AutoAttack", nproc)
                times.setdefault(key, []).append(run([*evaluate, "--nproc", str(nproc)]))
    print(f"CPU gloo, 1 thread per rank, median of {args.repeats}: training 1 epoch of "
          f"{args.examples} fashion-mnist images (small_cnn width {args.width}, PGD-5), with "
          f"and without --sync-norm; AutoAttack apgd-ce+apgd-t on {args.eval_examples} points")
    for task in ("train --sync-norm", "train", "AutoAttack"):
        one = statistics.median(times[(task, 1)])
        two = statistics.median(times[(task, 2)])
        print(f"{task:<17}: 1 rank {one:7.1f} s, 2 ranks {two:7.1f} s, speed-up "
              f"{one / two:.2f}x, scaling efficiency {one / (2 * two):.2f}")


if __name__ == "__main__":
    main()
