"""The ``robust-sabn train`` and ``eval`` commands: results, help, and bad input -> exit code 2.

Every bad input must end in one line on stderr that names the problem and the fix, exit code 2,
no traceback and no lost work. Most cases run :func:`robust_sabn.cli.main` in-process with
``sys.argv`` patched (the console script's exact code path); a few run the installed
``robust-sabn`` script in a subprocess.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import typer.main
from evaluation_helpers import flat, single_torch_thread  # noqa: F401 (autouse fixture)
from npz_helpers import assert_one_line_error
from npz_helpers import run_cli as run_main
from typer.testing import CliRunner

from robust_sabn.artifacts import ModelSpec, file_sha256, load_model, save_checkpoint
from robust_sabn.artifacts.result import read_result
from robust_sabn.cli import app
from robust_sabn.data import load_split
from robust_sabn.evaluate import as_unit_float
from robust_sabn.nn import fixed_branch

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SCRIPT = Path(sys.executable).parent / "robust-sabn"
TINY_TRAIN = ["--dataset", "fashion-mnist", "--model", "small_cnn", "--width", "4",
              "--epochs", "1", "--batch-size", "32", "--max-train-examples", "64",
              "--val-examples", "16", "--attack-steps", "1", "--data-dir", str(FASHION_MNIST)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _script_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genuine robust-sabn checkpoint of an untrained two-branch small_cnn (Fashion-MNIST)."""
    spec = ModelSpec(name="small_cnn", norm="saauxbn", num_classes=10, in_channels=1,
                     mean=(0.286,), std=(0.353,), kwargs={"width": 4})
    path = tmp_path_factory.mktemp("ckpt") / "untrained.pt"
    save_checkpoint(path, {"model": spec.to_dict(), "state_dict": spec.build().state_dict(),
                           "dataset": "fashion-mnist",
                           "config": {"data_dir": str(FASHION_MNIST), "seed": 0}})
    return path


@pytest.fixture(scope="module")
def trained_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A one-epoch run trained by the installed script, progress on (stderr is a pipe)."""
    run = tmp_path_factory.mktemp("train") / "run"
    result = subprocess.run([str(SCRIPT), "train", *TINY_TRAIN, "--out", str(run)],
                            capture_output=True, text=True, timeout=120, env=_script_env())
    return run, result


# ---------------------------------------------------------------------------- happy paths


def test_train_prints_a_result_table_and_plain_progress_when_not_a_terminal(trained_run) -> None:
    run, result = trained_run
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(rows) == 1 and rows[0].startswith("epoch 1: loss "), result.stderr
    assert "\x1b" not in result.stderr and "━" not in result.stderr  # no live bars in a pipe
    record = read_result(run / "train_record.json")
    assert "Validation accuracy" in result.stdout
    for branch, metrics in record.extras["final"]["val"].items():
        row = next(line for line in result.stdout.splitlines() if f" {branch} " in line)
        assert f"{100 * metrics['clean_acc']:.2f}%" in row
        assert f"{100 * metrics['pgd_acc']:.2f}%" in row
    assert f"checkpoints: {run / 'last.pt'}, {run / 'best.pt'}" in result.stdout


def test_train_quiet_prints_no_progress(tmp_path, capsys, monkeypatch) -> None:
    code, out, err = run_main(["train", *TINY_TRAIN, "--out", str(tmp_path / "q"), "--quiet"],
                              capsys, monkeypatch)
    assert code == 0, err
    assert err == ""
    assert "Validation accuracy" in out and "clean" in out and "adv" in out
    assert (tmp_path / "q" / "best.pt").is_file()


def test_eval_writes_the_record_and_prints_it_as_a_table(trained_run, tmp_path, capsys,
                                                         monkeypatch) -> None:
    run, _ = trained_run
    best = run / "best.pt"
    out_file = tmp_path / "records" / "rec.json"
    code, out, err = run_main(["eval", str(best), "--attacks", "pgd", "--n-examples", "16",
                               "--pgd-steps", "2", "--eps", "8/255", "-o", str(out_file)],
                              capsys, monkeypatch)
    assert code == 0, err
    rec = flat(read_result(out_file))
    assert rec["kind"] == "evaluation" and rec["dataset"] == "fashion-mnist"
    assert rec["split"] == "test" and rec["n_examples"] == 16 and rec["threat_model"] == "Linf"
    assert rec["eps"] == pytest.approx(8 / 255) and rec["norm"] == "saauxbn"
    assert rec["checkpoint"] == str(best) and rec["checkpoint_sha256"] == file_sha256(best)
    assert rec["model"]["name"] == "small_cnn"
    assert set(rec["branches"]) == {"clean", "adv"}
    # The clean accuracy is the model's, recomputed here on the same 16 test images.
    model, _ = load_model(best)
    data = load_split("fashion-mnist", "test", data_dir=FASHION_MNIST, max_examples=16)
    x, y = as_unit_float(data.images), data.labels
    for branch, entry in rec["branches"].items():
        with torch.no_grad():
            expected = fixed_branch(model, branch)(x).argmax(1).eq(y).float().mean().item()
        assert entry["clean_accuracy"] == pytest.approx(expected)
        assert set(entry["robust_accuracy"]) == {"pgd-2"}
        assert 0.0 <= entry["robust_accuracy"]["pgd-2"] <= 1.0
        row = next(line for line in out.splitlines() if f" {branch} " in line)
        assert f"{100 * entry['clean_accuracy']:.2f}%" in row
        assert f"{100 * entry['robust_accuracy']['pgd-2']:.2f}%" in row
    assert "PGD-2" in out and "small_cnn (saauxbn) on fashion-mnist test, n=16" in out
    assert "(8/255)" in out
    assert f"record written to {out_file}" in out


# ---------------------------------------------------------------------------------- help

REQUIRED = {
    "train": {"--dataset", "--model", "--norm", "--preset", "--epochs", "--batch-size",
              "--max-train-examples", "--seed", "--out", "--resume", "--quiet"},
    "eval": {"--attacks", "--eps", "--n-examples", "--branch", "--version", "--output"},
}


@pytest.mark.parametrize("command", ["train", "eval"])
def test_help_explains_every_option(command: str) -> None:
    root = typer.main.get_command(app)
    click_command = root.get_command(typer.Context(root), command)
    result = CliRunner().invoke(app, [command, "--help"], env={"TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    options = set()
    for param in click_command.params:
        assert param.help and len(param.help) > 10, param.name
        options.update(param.opts)
        first_words = " ".join(param.help.split()[:3])
        assert first_words in " ".join(result.output.split()), (param.name, first_words)
    for opt in options - {param.name for param in click_command.params}:
        assert opt in result.output, opt
    assert REQUIRED[command] <= options


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "nope"], ["unknown model 'nope'", "choose one of", "small_cnn"]),
        (["--dataset", "nope"], ["unknown dataset 'nope'", "choose one of", "fashion-mnist"]),
        (["--norm", "nope"], ["unknown norm 'nope'", "bn, ccbn, sabn, auxbn, saauxbn"]),
        (["--eps", "8"], ["eps 8.0 is outside [0, 1]", "8/255"]),
        (["--eps", "eight"], ["cannot read eps 'eight'", "8/255"]),
        (["--preset", "nope"], ["unknown preset 'nope'", "paper-cifar10, fmnist-quick"]),
        (["--epochs", "0"], ["--epochs 0 is out of range", "an integer from 1"]),
        (["--width", "0"], ["--width 0 is out of range", "an integer from 1"]),
        (["--device", "nope"], ["unknown device 'nope'", "use cpu"]),
    ],
)
def test_train_bad_input_is_one_line_and_exit_2(args, expected, tmp_path, capsys,
                                                monkeypatch) -> None:
    out_dir = tmp_path / "run"
    code, out, err = run_main(["train", *TINY_TRAIN, *args, "--out", str(out_dir)],
                              capsys, monkeypatch)
    assert_one_line_error(code, out, err, *expected)
    assert not out_dir.exists()


def test_train_refuses_to_overwrite_a_run_and_keeps_it(untrained_checkpoint, tmp_path, capsys,
                                                       monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(untrained_checkpoint.read_bytes())
    before = sha256(run / "last.pt")
    code, out, err = run_main(["train", *TINY_TRAIN, "--out", str(run)], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "already holds a training run", "pass --resume",
                          "choose another --out")
    assert sha256(run / "last.pt") == before
    assert sorted(p.name for p in run.iterdir()) == ["last.pt"]


def test_train_out_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    for out_dir in (a_file, a_file / "run"):
        code, out, err = run_main(["train", *TINY_TRAIN, "--out", str(out_dir)],
                                  capsys, monkeypatch)
        assert_one_line_error(code, out, err, "is a file, not a folder", "choose another --out")
    assert a_file.read_text() == "keep me"


def test_train_resume_with_changed_options_is_refused(trained_run, capsys, monkeypatch) -> None:
    run, _ = trained_run
    before = sha256(run / "last.pt")
    code, out, err = run_main(["train", *TINY_TRAIN, "--lr", "0.5", "--out", str(run),
                               "--resume"], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "cannot resume", "['lr'] differ", "new --out")
    assert sha256(run / "last.pt") == before


def test_train_option_the_model_does_not_take_is_refused(tmp_path, capsys, monkeypatch) -> None:
    code, out, err = run_main(["train", *TINY_TRAIN, "--model", "wrn34_10", "--out",
                               str(tmp_path / "run")], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "model 'wrn34_10' does not take", "width", "drop")


class _WritesMarker:
    """Unpickling this runs ``exec``: it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_eval_refuses_a_pickle_that_runs_code(tmp_path, capsys, monkeypatch) -> None:
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "robust-sabn-checkpoint", "payload": _WritesMarker(marker)}, evil)
    code, out, err = run_main(["eval", str(evil), "--attacks", "pgd"], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "refused to load", "could run code", "GLOBAL exec",
                          "only checkpoints written by robust-sabn")
    assert not marker.exists()
    # The payload is real: an unsafe load would have run it.
    torch.load(evil, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("missing", ["checkpoint not found", "give the path of a .pt file"]),
        ("random", ["cannot read checkpoint", "corrupt, truncated or not a PyTorch file",
                    "written by robust-sabn train"]),
        ("truncated", ["cannot read checkpoint", "corrupt, truncated", "zip archive"]),
        ("empty", ["cannot read checkpoint", "the file is empty"]),
        ("state_dict", ["is not a robust-sabn checkpoint", "robustbench:NAME"]),
        ("damaged", ["damaged robust-sabn checkpoint", "use another checkpoint"]),
    ],
)
def test_eval_bad_checkpoint_is_one_line_and_exit_2(make, expected, untrained_checkpoint,
                                                    tmp_path, capsys, monkeypatch) -> None:
    path = tmp_path / f"{make}.pt"
    if make == "random":
        path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    elif make == "truncated":
        path.write_bytes(untrained_checkpoint.read_bytes()[:3000])
    elif make == "empty":
        path.write_bytes(b"")
    elif make == "state_dict":
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    elif make == "damaged":
        torch.save({"format": "robust-sabn-checkpoint", "format_version": 1,
                    "dataset": "fashion-mnist"}, path)
    code, out, err = run_main(["eval", str(path), "--attacks", "pgd", "--n-examples", "4"],
                              capsys, monkeypatch)
    assert_one_line_error(code, out, err, *expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--eps", "8"], ["eps 8.0 is outside [0, 1]", "write 0.0314 or 8/255"]),
        (["--attacks", "pgd,nope"], ["unknown attack 'nope'", "pgd, pgd-l2, fgsm, cw"]),
        (["--attacks", "autoattack", "--version", "nope"],
         ["unknown AutoAttack version 'nope'", "standard, plus, rand, custom"]),
        (["--version", "nope"], ["unknown AutoAttack version 'nope'"]),
        (["--dataset", "cifar10"], ["trained on 'fashion-mnist', not 'cifar10'", "drop --dataset"]),
        (["--n-examples", "0"], ["--n-examples 0 is out of range", "an integer from 1"]),
        (["--device", "nope"], ["unknown device 'nope'", "use cpu"]),
        (["--n-examples", "four"], ["Invalid value for '--n-examples'",
                                    "see robust-sabn eval --help"]),
        (["--no-such-option"], ["No such option: --no-such-option"]),
        (["--attacks", "pgd-l2"], ["attack 'pgd-l2' works in L2, not 'Linf'",
                                   "--threat-model L2"]),
        (["--threat-model", "L2", "--attacks", "pgd-l2"],
         ["give eps for the L2 threat model"]),
    ],
)
def test_eval_bad_options_are_one_line_and_exit_2(args, expected, untrained_checkpoint, capsys,
                                                  monkeypatch) -> None:
    code, out, err = run_main(["eval", str(untrained_checkpoint), "--attacks", "pgd",
                               "--n-examples", "4", *args], capsys, monkeypatch)
    assert_one_line_error(code, out, err, *expected)


def test_eval_threat_model_l2_runs_pgd_l2(untrained_checkpoint, tmp_path, capsys,
                                         monkeypatch) -> None:
    out_file = tmp_path / "l2.json"
    code, _, err = run_main(["eval", str(untrained_checkpoint), "--threat-model", "L2",
                             "--attacks", "pgd-l2", "--eps", "0.5", "--n-examples", "4",
                             "--pgd-steps", "1", "--out", str(out_file)], capsys, monkeypatch)
    assert code == 0, err
    rec = flat(read_result(out_file))
    assert (rec["threat_model"], rec["eps"]) == ("L2", 0.5)
    assert all(set(entry["robust_accuracy"]) == {"pgd-l2-1"}
               for entry in rec["branches"].values()), rec["branches"]


def test_eval_unwritable_out_is_refused_before_evaluating(untrained_checkpoint, tmp_path, capsys,
                                                          monkeypatch) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    for out_file, expected in ((tmp_path, "is a folder"), (a_file / "rec.json", "cannot write")):
        code, out, err = run_main(["eval", str(untrained_checkpoint), "--attacks", "pgd",
                                   "-o", str(out_file)], capsys, monkeypatch)
        assert_one_line_error(code, out, err, expected, "-o")
    assert a_file.read_text() == "keep me"


def test_eval_unknown_branch_names_the_models_branches(untrained_checkpoint, capsys,
                                                       monkeypatch) -> None:
    code, out, err = run_main(["eval", str(untrained_checkpoint), "--attacks", "pgd",
                               "--n-examples", "4", "--branch", "nope"], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "unknown branch 'nope'", "branches are clean, adv")


def test_interrupted_training_exits_130_and_points_to_resume(tmp_path, capsys,
                                                             monkeypatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr("robust_sabn.cli.train.train", interrupted)
    code, _, err = run_main(["train", "--out", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 130
    assert "--resume" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # slow: the same main() and message in-process is
        # test_eval_bad_checkpoint_is_one_line_and_exit_2[missing]
        pytest.param(["eval", "missing.pt", "--attacks", "pgd"],
                     "checkpoint not found: missing.pt", marks=pytest.mark.slow),
        (["train", "--epochs", "ten"], "Invalid value for '--epochs'"),
    ],
)
def test_installed_script_exits_2_with_one_line_and_no_traceback(args, expected,
                                                                 tmp_path) -> None:
    """The console script as installed, in a new process (a few seconds each)."""
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=_script_env())
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert expected in result.stderr


@pytest.mark.parametrize("command", [
    ["gan", "train", "--out", "{tmp}/gan"],
    ["gan", "eval", "{tmp}/g.pt", "--reference", "{tmp}/r.pt", "-o", "{tmp}/e.json"],
    ["nas", "train", "--out", "{tmp}/nas"], ["nas", "eval", "{tmp}/nas"],
    ["style", "train", "--out", "{tmp}/st"], ["style", "eval", "{tmp}/st.pt"],
    ["style", "stylize", "{tmp}/st.pt", "--content", "{tmp}/c.png", "--style", "{tmp}/s.png",
     "-o", "{tmp}/o.png"],
])
def test_every_task_command_checks_its_device_like_train(command: list[str], tmp_path,
                                                         capsys, monkeypatch) -> None:
    """--device takes auto (the default), cpu, cuda[:N], mps; a GPU this machine lacks gets
    one line before any work."""
    from npz_helpers import assert_one_line_error, run_cli

    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    code, out, err = run_cli([*args, "--device", f"cuda:{count}"], capsys, monkeypatch)
    assert_one_line_error(code, out, err, f"cuda:{count}")
    assert not any(tmp_path.iterdir())
