"""Benchmark: the CPU speed knobs, each against the default, on our hybrid PGD-AT step.

Knobs: flushing denormals to zero (``torch.set_flush_denormal``), channels_last memory format
for the model and batches, and the thread count (2 against 1). Each knob is timed against the
plain setting (contiguous tensors, 1 thread, denormals kept) on the same model, batch and seed,
interleaved, median of repeats; a ratio below 1 means the knob is faster. A knob becomes a
default only when it wins here: channels_last did, and CPU training uses it
(``robust_sabn.parallel.devices.training_memory_format``).

    .venv/bin/python bench/cpu_knobs.py --width 16 --batch-size 128 --attack-steps 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from robust_sabn.models import create_model
from robust_sabn.train import TrainConfig, training_loss


@contextmanager
def flush_denormal() -> Iterator[None]:
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@contextmanager
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def nothing() -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--attack-steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.rand(args.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch_size,))
    config = TrainConfig(dataset="fashion-mnist", model="small_cnn", norm="saauxbn",
                         width=args.width, eps=0.1, step_size=0.025,
                         attack_steps=args.attack_steps, device="cpu").resolved()

    def step_of(channels_last: bool) -> Callable[[], None]:
        torch.manual_seed(0)
        model = create_model("small_cnn", norm="saauxbn", in_channels=1, width=args.width)
        batch = x
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            batch = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step() -> None:
            loss, _, _ = training_loss(model, batch, y, config, None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    default = step_of(False)
    knobs = {"flush denormals": (flush_denormal, default),
             "channels_last": (nothing, step_of(True)),
             "2 threads (vs 1)": (two_threads, default)}
    print(f"hybrid PGD-{args.attack_steps} step, small_cnn width {args.width}, batch "
          f"{args.batch_size}, 1 thread by default, median of {args.repeats}")
    for name, (context, step) in knobs.items():
        base, knob = [], []
        for i in range(args.repeats + 2):
            start = time.perf_counter()
            default()
            base_s = time.perf_counter() - start
            with context():
                start = time.perf_counter()
                step()
                knob_s = time.perf_counter() - start
            if i >= 2:
                base.append(base_s)
                knob.append(knob_s)
        ratio = statistics.median(knob) / statistics.median(base)
        print(f"{name:<18}: {1000 * statistics.median(knob):8.1f} ms vs default "
              f"{1000 * statistics.median(base):8.1f} ms  ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
