"""The GPU epoch benchmark (bench/gpu_epoch.py) runs end to end on a CPU at a toy size."""

from __future__ import annotations

import json
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_epoch.py"
PEER = "hand-written (authors' style)"
OURS = ("robust-sabn (fp32)", "robust-sabn --amp (bf16)", "robust-sabn --tf32",
        "robust-sabn --fused-branches", "robust-sabn (all knobs)")


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def table_row(lines: list[str], name: str) -> list[float]:
    """The seven numbers after a row's name: whole, epoch, train s, img/s, three ratios."""
    (line,) = [line for line in lines if line.startswith(name)]
    return [float(value) for value in line[len(name):].split()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict]:
    out = tmp_path_factory.mktemp("gpu_epoch") / "result.json"
    done = run_bench("--device", "cpu", "--examples", "32", "--val", "16", "--batch-size", "16",
                     "--width", "4", "--attack-steps", "1", "--repeats", "1", "--amp", "--tf32",
                     "--fused-branches", "--json", str(out))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), json.loads(out.read_text())


def test_table_has_every_row_with_positive_finite_ratios(tiny_run: tuple[list[str], dict]
                                                          ) -> None:
    lines, result = tiny_run
    assert lines[0].startswith("torch ") and "device cpu" in lines[0]
    assert "2 steps of batch 16" in lines[1] and "PGD-1" in lines[1]
    assert table_row(lines, PEER)[4:] == [1.0, 1.0, 1.0]
    for name in OURS:
        row = table_row(lines, name)
        assert len(row) == 7
        assert all(math.isfinite(value) and value > 0 for value in row)
        train_s = result["times_s"][name]["train"][0]
        assert row[3] == pytest.approx(32 / train_s, abs=0.051)  # training images per second
    assert any("change the numbers" in line for line in lines)


def test_headline_ratio_is_the_peer_over_ours_fp32_whole_call(tiny_run: tuple[list[str], dict]
                                                             ) -> None:
    lines, result = tiny_run
    (headline,) = [line for line in lines if line.startswith("peer/ours (whole call")]
    ratio = float(headline.rsplit(":", 1)[1])
    times = result["times_s"]
    assert ratio > 0 and math.isfinite(ratio)
    expected = times[PEER]["whole"][0] / times[OURS[0]]["whole"][0]
    assert ratio == pytest.approx(expected, abs=5e-4)
    assert result["table"] == lines


def test_peer_and_every_variant_take_the_same_steps(tiny_run: tuple[list[str], dict]) -> None:
    _, result = tiny_run
    assert result["steps"] == dict.fromkeys((PEER, *OURS), 2)
    assert all(len(series) == 1 for row in result["times_s"].values() for series in row.values())


def test_too_few_examples_for_a_batch_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Run as a script, in this process: a refusal needs no new interpreter."""
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--device", "cpu", "--examples", "16",
                                      "--batch-size", "32"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exited.value.code == 2
    assert "--examples >= --batch-size" in capsys.readouterr().err
