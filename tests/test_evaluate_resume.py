"""A killed evaluation resumes from its state file with the flags of an uninterrupted run, and
AutoAttack shows each attack of its cascade as it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from evaluation_helpers import synthetic_split, tiny_npz_checkpoint, train_tiny_model
from npz_helpers import rank_env
from pyautoattack import AutoAttack
from rich.console import Console
from torch import nn

from robust_sabn.adversarial.record import example_flags
from robust_sabn.artifacts.result import ResultRecord, read_result
from robust_sabn.attacks.autoattack_adapter import CascadeStep
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate import evaluate_checkpoint, evaluate_model
from robust_sabn.evaluate.journal import EvaluationJournal
from robust_sabn.evaluate.progress import EvaluationProgress

OPTIONS: dict[str, Any] = {
    "attacks": ("pgd", "autoattack"), "eps": 0.05, "n_examples": 8, "batch_size": 4,
    "version": "custom", "autoattack_attacks": ["apgd-ce", "apgd-t"], "pgd_steps": 3,
    "seed": 1, "branches": ["adv"],
}


class Killed(Exception):
    """Stands for the kill of a process, raised at a chosen point of an evaluation."""


@pytest.fixture(scope="module")
def model_and_data() -> tuple[nn.Module, Any]:
    """The tiny two-branch model and 12 synthetic images (the first 8 are evaluated)."""
    return train_tiny_model(), synthetic_split(12)


def _attacks_run(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record (attack, points) of every call into pyautoattack from now on."""
    calls: list[tuple[str, int]] = []
    original = AutoAttack.run_standard_evaluation

    def counted(self: AutoAttack, x: Any, y: Any, **kwargs: Any) -> Any:
        calls.append((self.attacks_to_run[0], len(y)))
        return original(self, x, y, **kwargs)

    monkeypatch.setattr(AutoAttack, "run_standard_evaluation", counted)
    return calls


def _cascades(record: ResultRecord) -> dict[str, Any]:
    return {b: entry["cascade"] for b, entry in record.extras["autoattack"].items()}


def test_an_evaluation_killed_inside_an_autoattack_batch_resumes_with_the_same_flags(
        model_and_data: tuple[nn.Module, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    tiny, data = model_and_data
    calls = _attacks_run(monkeypatch)
    whole = evaluate_model(tiny, data, **OPTIONS)
    uninterrupted_calls = list(calls)
    calls.clear()

    state = tmp_path / "eval.state.jsonl"
    add_step = EvaluationJournal.add_step
    steps_written: list[CascadeStep] = []

    def killed_after_three_steps(self: EvaluationJournal, *where: Any) -> None:
        add_step(self, *where)
        steps_written.append(where[-1])
        if len(steps_written) == 3:  # batch 0: apgd-ce, apgd-t; batch 1: apgd-ce, then killed
            raise Killed

    monkeypatch.setattr(EvaluationJournal, "add_step", killed_after_three_steps)
    with pytest.raises(Killed):
        evaluate_model(tiny, data, state_path=state, **OPTIONS)
    before_kill = list(calls)
    entries = [json.loads(line) for line in state.read_text().splitlines() if line]
    assert {(e["key"], e["batch"]) for e in entries if "flags" in e} == {
        ("clean", 0), ("clean", 1), ("pgd-3", 0), ("pgd-3", 1), ("autoattack-custom", 0)}

    monkeypatch.setattr(EvaluationJournal, "add_step", add_step)
    calls.clear()
    resumed = evaluate_model(tiny, data, state_path=state, **OPTIONS)

    assert example_flags(resumed) == example_flags(whole)
    assert resumed.metrics == whole.metrics
    assert _cascades(resumed) == _cascades(whole)
    # every attack ran once over the two runs: batch 1 continued at apgd-t
    assert before_kill + calls == uninterrupted_calls
    assert not state.exists()


def test_a_state_file_of_another_evaluation_is_refused(model_and_data: tuple[nn.Module, Any],
                                                         tmp_path: Path) -> None:
    tiny, data = model_and_data
    state = tmp_path / "eval.state.jsonl"
    EvaluationJournal(state, {"seed": 2}).add_batch("adv", "clean", 0, [True] * 4, None, 0.1)
    with pytest.raises(UserInputError, match=r"state file .* \(line 2\) belongs to a different "
                                             r"evaluation \(other model, data or settings\); "
                                             r"delete it, or give another --state"):
        evaluate_model(tiny, data, state_path=state, **{**OPTIONS, "attacks": ()})


def test_a_line_cut_short_by_a_kill_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    journal = EvaluationJournal(path, {"model": "m"})
    journal.add_batch("adv", "clean", 0, [True, False], None, 1.5)
    with path.open("a") as file:
        file.write('{"id": "' + journal.digest + '", "branch": "adv", "key": "cl')
    journal.add_step("adv", "aa", 1, CascadeStep("apgd-ce", (True, True), 2.0, ("flag",)))
    again = EvaluationJournal(path, {"model": "m"})
    assert again.batch("adv", "clean", 0) is not None
    assert again.batch("adv", "clean", 0).flags == [True, False]  # type: ignore[union-attr]
    assert again.steps("adv", "aa", 1) == [CascadeStep("apgd-ce", (True, True), 2.0, ("flag",))]
    assert again.finished_batches == 1 and again.finished_steps == 1


def test_autoattack_progress_names_each_attack_and_the_robust_accuracy_so_far() -> None:
    out = StringIO()
    with EvaluationProgress(True, Console(file=out, force_terminal=False, width=300)) as shown:
        with shown.stage("adv", "autoattack-standard", 2, steps_per_batch=2) as stage:
            stage.attack_started("apgd-ce", 0, 2)
            stage.attack_finished(CascadeStep("apgd-ce", (True, True, False, True), 3.0))
            stage.attack_finished(CascadeStep("apgd-t", (True, False, False, True), 1.0))
            stage.advance(2, 4)
            stage.attack_finished(CascadeStep("apgd-ce", (False, True), 2.0))
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "adv / autoattack-standard batch 1/2 apgd-ce: robust so far  75.0% of 4 (3.0 s)",
        "adv / autoattack-standard batch 1/2 apgd-t: robust so far  50.0% of 4 (1.0 s)",
        "adv / autoattack-standard batch 2/2 apgd-ce: robust so far  50.0% of 6 (2.0 s)",
    ]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_npz_checkpoint(tmp_path_factory.mktemp("resume"))


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [1, 2])
def test_a_killed_eval_command_continues_where_it_stopped(checkpoint: Path, tmp_path: Path,
                                                          nproc: int) -> None:
    """A real SIGKILL of ``robust-sabn eval`` (one process, or two ranks), then the same
    command again: the record's flags are those of an uninterrupted evaluation."""
    options = {key: value for key, value in OPTIONS.items() if key != "branches"}
    whole = evaluate_checkpoint(checkpoint, data_dir=checkpoint.parent, device="cpu", **options)
    out = tmp_path / "eval.json"
    state = tmp_path / "eval.state.jsonl"
    command = [sys.executable, "-m", "robust_sabn", "eval", str(checkpoint),
               "--data-dir", str(checkpoint.parent), "--attacks", "pgd,autoattack",
               "--eps", "0.05", "--n-examples", "8", "--batch-size", "4", "--version", "custom",
               "--aa-attacks", "apgd-ce,apgd-t", "--pgd-steps", "3", "--seed", "1",
               "--device", "cpu", "--quiet", "-o", str(out), "--nproc", str(nproc)]
    process = subprocess.Popen(command, env=rank_env(120), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (state.is_file() and '"step"' in state.read_text()):
        assert process.poll() is None, process.stderr.read()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "no AutoAttack step was written"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not out.exists()
    written = state.read_text()

    done = subprocess.run(command, env=rank_env(120), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = read_result(out)
    assert example_flags(resumed) == example_flags(whole)
    assert resumed.metrics == whole.metrics
    assert _cascades(resumed) == _cascades(whole)
    assert not state.exists()
    assert '"step"' in written
