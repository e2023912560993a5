"""Benchmark: a small adversarial suite with ``suite run --jobs 2`` (two worker processes, one
torch thread each) against ``--jobs 1`` (one process, two torch threads), on the same cores.

The suite (written to a temporary folder) trains ``--norms`` x ``--seeds`` small CNNs on
Fashion-MNIST (1 epoch, PGD-5) and evaluates each with AutoAttack's APGD-CE + APGD-T. Each side
is the ``robust-sabn`` command as a user runs it, from an empty output folder, so wall times
include process start-up (and, for ``--jobs 2``, the workers'). Then the evaluations alone: the
evaluation records are deleted and the suite run again, so only its AutoAttack steps run,
spread over the workers. Runs alternate ``--jobs 1`` / ``--jobs 2`` per repeat; the ratio is
``t(--jobs 1) / t(--jobs 2)`` (2.0: perfect). The machine's load average is printed with the
numbers: on a shared machine the other jobs take cores from both sides.

    .venv/bin/python bench/suite_jobs.py --seeds 2 --examples 1024 --eval-examples 64
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

SUITE = """task = "adversarial"
description = "bench/suite_jobs.py"
[runs]
dataset = "fashion-mnist"
model = "small_cnn"
norms = {norms}
seeds = {seeds}
[runs.train]
width = 16
epochs = 1
batch_size = 128
max_train_examples = {examples}
val_examples = 256
attack_steps = 5
eps = 0.1
step_size = 0.03
device = "cpu"
[[evaluations]]
name = "autoattack"
attacks = ["autoattack"]
eps = [0.1]
n_examples = {eval_examples}
batch_size = {eval_examples}
branches = ["adv"]
version = "custom"
autoattack_attacks = ["apgd-ce", "apgd-t"]
checkpoint = "last"
"""


def run_suite(suite: Path, out: Path, jobs: int) -> float:
    """Seconds of ``robust-sabn suite run SUITE --jobs JOBS``: two torch threads for the one
    process of ``--jobs 1``; ``--jobs 2`` gives each worker cores / 2 itself."""
    env = {**os.environ, "OMP_NUM_THREADS": "2" if jobs == 1 else "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "robust_sabn", "suite", "run", str(suite), "--out",
                    str(out), "--report", str(out / "report.md"), "--jobs", str(jobs),
                    "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--norms", default="bn,saauxbn")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--eval-examples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    norms = args.norms.split(",")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        suite = root / "bench-jobs.toml"
        suite.write_text(SUITE.format(norms=str(norms).replace("'", '"'),
                                      seeds=list(range(args.seeds)), examples=args.examples,
                                      eval_examples=args.eval_examples))
        times: dict[tuple[str, int], list[float]] = {}
        load_before = os.getloadavg()
        for i in range(args.repeats):
            for jobs in (1, 2):
                out = root / f"out-{i}-{jobs}"
                times.setdefault(("suite", jobs), []).append(run_suite(suite, out, jobs))
                for record in out.glob("bench-jobs/*/eval-*.json"):
                    record.unlink()
                times.setdefault(("AutoAttack steps", jobs), []).append(
                    run_suite(suite, out, jobs))
        load_after = os.getloadavg()
    steps = len(norms) * args.seeds
    print(f"suite of {steps} trainings (small_cnn width 16, 1 epoch of {args.examples} "
          f"fashion-mnist images, PGD-5) + {steps} AutoAttack evaluations (apgd-ce + apgd-t, "
          f"{args.eval_examples} points); median of {args.repeats}; {os.cpu_count()} cores; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    for part in ("suite", "AutoAttack steps"):
        one, two = (statistics.median(times[(part, jobs)]) for jobs in (1, 2))
        print(f"{part}: --jobs 1 (2 threads) {one:.1f} s, --jobs 2 (1 thread each) {two:.1f} s"
              f", throughput ratio {one / two:.2f}")


if __name__ == "__main__":
    main()
