"""Interleaved timing for the bench scripts: wall time and this process's CPU time.

On a machine shared with other jobs, wall time swings with their load; with one torch thread
(``OMP_NUM_THREADS=1``) the process's CPU time is the steadier measure of the work done, so
the scripts print ratios of both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Medians over repeats, in seconds."""

    wall: float
    cpu: float


def interleaved(fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1
                ) -> dict[str, Timing]:
    """Run every function once per round, ``warmup`` untimed rounds then ``repeats`` timed
    ones; returns each function's median wall and CPU seconds."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            if round_ >= warmup:
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)
    return {name: Timing(statistics.median(wall[name]), statistics.median(cpu[name]))
            for name in fns}


def ratios(ours: Timing, peer: Timing) -> str:
    """``CPU x (wall y)``: ours over peer (< 1: ours is faster)."""
    return f"CPU {ours.cpu / peer.cpu:.3f} (wall {ours.wall / peer.wall:.3f})"
