"""Writing a user's own ``.npz`` dataset for tests, and running the CLI in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robust_sabn.artifacts.lock import LOCK_NAME, folder_lock
from robust_sabn.cli import main
from robust_sabn.errors import UserInputError


def write_image_npz(path: Path, *, size: int = 28, channels: int = 1, train: int = 160,
                    test: int = 40, classes: int = 4, seed: int = 0,
                    names: np.ndarray | None = None, **extra: np.ndarray) -> Path:
    """A learnable toy classification set: class k lights up the k-th horizontal band.

    Images are uint8 (N, H, W) for one channel, channels-last (N, H, W, C) otherwise; labels
    cycle through 0..classes-1, so every class occurs. ``names`` is stored as the ``classes``
    entry (class names); ``extra`` arrays are stored as given.
    """
    rng = np.random.default_rng(seed)

    def images(labels: np.ndarray) -> np.ndarray:
        x = rng.integers(0, 60, (len(labels), size, size, channels)).astype(np.uint8)
        band = max(1, size // classes)
        for i, label in enumerate(labels):
            x[i, label * band:(label + 1) * band] = 230
        return x[..., 0] if channels == 1 else x

    y_train, y_test = np.arange(train) % classes, np.arange(test) % classes
    if names is not None:
        extra["classes"] = names
    np.savez(path, x_train=images(y_train), y_train=y_train, x_test=images(y_test),
             y_test=y_test, **extra)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Run the console script's ``main()`` on ``args`` in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["robust-sabn", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, *expected: str) -> str:
    """Exit code 2, one ``error:`` line on stderr holding each ``expected`` part; the line."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    line = err.strip()
    assert "\n" not in line, err
    assert line.startswith("error: "), err
    for part in expected:
        assert part in line, line
    return line


TINY = ["--model", "small_cnn", "--width", "4", "--epochs", "1", "--batch-size", "32",
        "--val-examples", "16", "--attack-steps", "1", "--quiet"]


def tiny_suite(folder: Path, data: Path) -> Path:
    """A suite of 4 tiny runs (BN and SaAuxBN, seeds 0 and 1) on ``data``, one PGD evaluation
    each; its report goes to ``folder/report.md``."""
    path = folder / "tiny-faults.toml"
    path.write_text(f"""
task = "adversarial"
[runs]
dataset = "npz"
model = "small_cnn"
norms = ["bn", "saauxbn"]
seeds = [0, 1]
[runs.train]
data_dir = "{data}"
width = 4
epochs = 2
batch_size = 16
val_examples = 8
attack_steps = 1
[[evaluations]]
name = "pgd"
attacks = ["pgd"]
eps = ["8/255"]
n_examples = 8
pgd_steps = 2
[comparison]
metrics = ["clean", "pgd-2"]
output = "{folder / 'report.md'}"
""")
    return path


def rank_env(timeout_s: int = 120, **extra: str) -> dict[str, str]:
    """The environment of a ``--nproc`` / torchrun test process: this checkout importable, one
    thread per rank, collectives that fail after ``timeout_s`` instead of hanging."""
    src = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src,
            "ROBUST_SABN_DIST_TIMEOUT": str(timeout_s), **extra}


def kill_job(process: subprocess.Popen[str], run_folder: Path, timeout: float = 60.0) -> None:
    """SIGKILL a ``--nproc`` job started with ``start_new_session=True``, as a crash would kill
    every process of it: its process group, then the rank still holding the run folder's lock
    (torchrun's ranks may outlive their agent for a moment); returns once the lock is free."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + timeout
    while True:
        holder = (run_folder / LOCK_NAME).read_text().split() if (
            run_folder / LOCK_NAME).exists() else []
        if holder[:1] == ["PID"]:
            try:
                os.kill(int(holder[1]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            with folder_lock(run_folder):
                return
        except UserInputError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
