"""Issue 23 items 2, 4 and 6: numbers, sizes and paths are checked in one place before any
work; a symbolic link inside a run folder is never followed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bad_option_trainers import TASK_TRAINERS
from npz_helpers import assert_one_line_error, run_cli, tiny_suite, write_image_npz

from robust_sabn.artifacts.checkpoint import save_checkpoint
from robust_sabn.artifacts.lock import LOCK_NAME, folder_lock
from robust_sabn.artifacts.records import append_jsonl
from robust_sabn.artifacts.result import collect_results
from robust_sabn.cli.limits import MAX_GRID_COLUMNS, MAX_IMAGE_SIDE, check_path_length
from robust_sabn.errors import UserInputError
from robust_sabn.suites import load_suite
from robust_sabn.zoo.layout import MAX_NAME_LENGTH, check_model_name

LONG = "a" * 300


@pytest.mark.parametrize(("args", "expected"), [
    (["train", "--seed", str(2**64)], "--seed 18446744073709551616 is out of range"),
    (["train", "--seed", "-1"], "--seed -1 is out of range: use an integer from 0"),
    (["train", "--nproc", "0"], "--nproc 0 is out of range: use an integer from 1"),
    (["eval", "x.pt", "--n-examples", "0"], "--n-examples 0 is out of range"),
    (["gan", "reference", "--out", "r", "--width", "0"], "--width 0 is out of range"),
    (["gan", "reference", "--out", "r", "--epochs", "0"], "--epochs 0 is out of range"),
    (["style", "train", "--lr", "inf"], "--lr must be a finite number, not inf"),
    (["style", "train", "--lr", "nan"], "--lr must be a finite number, not nan"),
    (["style", "train", "--lr", "0"], "--lr 0 is out of range: use a value in (0, inf]"),
    (["style", "eval", "c.pt", "--val-pairs", "0"], "--val-pairs 0 is out of range"),
    (["nas", "train", "--out", "n", "--resolution", "2"], "--resolution 2 is too small"),
    (["nas", "eval", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
      "nor_conv_3x3~1|skip_connect~2|", "--resolution", "1", "--retrain-seeds", "0"],
     "--resolution 1 is too small"),
    (["nas", "eval", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
      "nor_conv_3x3~1|skip_connect~2|", "--search-examples", "5", "--retrain-seeds", "0"],
     "--search-examples 5 is less than one batch"),
    (["sample", "g.pt", "-n", "1000000000", "-o", "s.png"],
     f"-n 1000000000 is out of range: use at most {MAX_GRID_COLUMNS:,}"),
    (["stylize", "c.pt", "--content", "c.png", "--style", "s.png", "--size", "100000",
      "-o", "o.png"], f"--size 100000 is out of range: use at most {MAX_IMAGE_SIDE:,}"),
    (["sample", "g.pt", "-o", "s.txt"], "-o s.txt: this command writes .png files"),
    (["stylize", "c.pt", "--content", "c.png", "--style", "s.png", "-o", "o.xyz"],
     "this command writes .png files"),
    (["train", "--out", f"runs/{LONG}"], "is 300 bytes long; this file system allows"),
    (["eval", "x.pt", "-o", f"{LONG}.json"], "--output: the name"),
    (["report", "runs", "-o", f"{LONG}.md"], "the name"),
    (["report", f"runs/{LONG}/x", "-o", "r.md"], "RESULTS: the name"),
    (["schema", "--output", "."], "--output . is a folder"),
    (["gan", "reference", "--out", "r", "--data-dir", LONG], "--data-dir: the name"),
    (["eval", f"{LONG}.pt"], "CHECKPOINT: the name"),
])
def test_out_of_range_inputs_are_refused_before_any_work(
        tmp_path: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert_one_line_error(code, out, err, expected)
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_a_zoo_name_too_long_for_a_file_name_is_refused() -> None:
    check_model_name("A" * MAX_NAME_LENGTH)
    with pytest.raises(UserInputError, match=f"at most {MAX_NAME_LENGTH} characters"):
        check_model_name("A" * (MAX_NAME_LENGTH + 1))


def test_the_path_check_measures_bytes_and_the_whole_path(tmp_path: Path) -> None:
    check_path_length(tmp_path / ("é" * 127), "--out")  # 254 bytes: allowed
    with pytest.raises(UserInputError, match="is 256 bytes long"):
        check_path_length(tmp_path / ("é" * 128), "--out")
    with pytest.raises(UserInputError, match="the path is"):
        check_path_length(tmp_path.joinpath(*["d" * 200] * 25), "--out")


def _train(out: Path) -> None:
    from robust_sabn.train import TrainConfig, train

    data = write_image_npz(out.parent / "data.npz", train=8, test=8)
    train(TrainConfig(dataset="npz", data_dir=str(data)), out)


def _suite(out: Path) -> None:
    with folder_lock(out):
        pass


@pytest.mark.parametrize("writer", [_train, *TASK_TRAINERS.values(), _suite],
                         ids=["train", *TASK_TRAINERS, "suite"])
def test_a_lock_file_that_is_a_symlink_is_never_followed(
        writer: Callable[[Path], None], tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).symlink_to(target)
    with pytest.raises(UserInputError, match="is a symbolic link; robust-sabn never follows"):
        writer(run)
    assert target.read_text() == "precious\n"
    assert (run / LOCK_NAME).is_symlink()


def test_appended_metrics_never_write_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    (tmp_path / "metrics.jsonl").symlink_to(target)
    with pytest.raises(UserInputError, match="symbolic link"):
        append_jsonl(tmp_path / "metrics.jsonl", {"epoch": 1})
    assert target.read_text() == "precious\n"
    append_jsonl(tmp_path / "plain.jsonl", {"epoch": 1})
    append_jsonl(tmp_path / "plain.jsonl", {"epoch": 2})
    assert (tmp_path / "plain.jsonl").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    assert not os.path.islink(tmp_path / "plain.jsonl")


# ------------------------------------------------------ foreign JSON, TOML, npz, checkpoints


def test_report_names_non_utf8_list_shaped_and_deep_json_and_skips_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "latin1.json").write_bytes(b'{"kind": "caf\xe9"}')
    (tmp_path / "list.json").write_text('[{"kind": "evaluation", "schema_version": 2}]')
    (tmp_path / "deep.json").write_text('{"kind": ' + "[" * 100_000 + "]" * 100_000 + "}")
    records, warnings = collect_results(tmp_path)
    assert records == []
    assert sorted(warnings) == sorted([
        f"skipped {tmp_path / 'latin1.json'} is not UTF-8 text (byte 0xe9 at offset 13), so "
        "not a result record",
        f"skipped {tmp_path / 'list.json'} holds a JSON list, not an object, so not a result "
        "record",
        f"skipped {tmp_path / 'deep.json'} nests JSON too deeply to be a result record"])
    code, out, err = run_cli(["report", str(tmp_path), "-o", str(tmp_path / "r.md")], capsys,
                             monkeypatch)
    assert_one_line_error(code, out, err, "no result records found", "3 unreadable")


def test_one_unreadable_suite_file_does_not_break_suite_list(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "binary.toml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    tiny_suite(tmp_path, write_image_npz(tmp_path / "d.npz", train=8, test=8))
    with pytest.raises(UserInputError, match="is not UTF-8 text"):
        load_suite(tmp_path / "binary.toml")
    monkeypatch.setenv("COLUMNS", "1000")  # one table row per line
    code, out, err = run_cli(["suite", "list", "--suites-dir", str(tmp_path), "--out",
                              str(tmp_path / "runs")], capsys, monkeypatch)
    assert code == 0, err
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert "invalid" in rows["binary"] and "is not UTF-8 text" in rows["binary"]
    assert "adversarial" in rows["tiny-faults"]  # the other suites are still listed


@pytest.mark.parametrize(("value", "expected"), [
    ('"many"', "iterations must be an integer, got 'many'"),
    ("2.5", "iterations must be an integer, got 2.5"),
    ("-3", "iterations must be at least 1, got -3"),
    ("nan", "iterations must be an integer, got nan"),
])
def test_gan_suite_values_of_the_wrong_type_are_named(tmp_path: Path, value: str,
                                                      expected: str) -> None:
    suite = tmp_path / "g.toml"
    suite.write_text('task = "gan"\n[runs]\ngenerators = ["sngan32"]\nnorms = ["ccbn"]\n'
                     f"seeds = [0]\n[runs.train]\niterations = {value}\n")
    with pytest.raises(UserInputError, match=expected):
        load_suite(suite)


def test_gan_config_refuses_nan_where_a_number_belongs() -> None:
    from robust_sabn.gan.config import GANConfig

    with pytest.raises(UserInputError, match="lr_g must be a finite number, got nan"):
        GANConfig.from_preset(None, lr_g=float("nan"))


@pytest.mark.parametrize("text", ["{ torn", "[]", '{"model": {}}', '{"config": [1]}'])
def test_resume_with_a_broken_config_json_is_one_line(
        tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "d.npz", train=8, test=8)
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"x")
    (run / "config.json").write_text(text)
    code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), "--resume",
                              "--out", str(run), "--quiet"], capsys, monkeypatch)
    assert_one_line_error(code, out, err, str(run / "config.json"))
    code, out, err = run_cli(["gan", "train", "--resume", "--out", str(run)], capsys,
                             monkeypatch)
    assert_one_line_error(code, out, err, str(run / "config.json"))


def test_empty_and_huge_label_npz_files_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    huge = write_image_npz(tmp_path / "huge.npz", train=8, test=8)
    with np.load(huge) as arrays:
        fields = dict(arrays)
    fields["y_train"] = fields["y_train"].astype(np.int64)
    fields["y_train"][0] = 2**40
    np.savez(huge, **fields)
    declared = write_image_npz(tmp_path / "declared.npz", train=8, test=8,
                               num_classes=np.array(2**40))
    for path, expected in ((empty, "is empty, not an .npz file; an .npz holds x_train"),
                           (huge, "holds label 1099511627776; labels must be below 100,000"),
                           (declared, "integer from 2 to 100,000")):
        code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(path),
                                  "--quiet", "--out", str(tmp_path / "run")], capsys,
                                 monkeypatch)
        assert_one_line_error(code, out, err, expected)


@pytest.mark.parametrize(("model", "expected"), [
    ({"name": "small_cnn", "norm": "bn", "num_classes": -5, "in_channels": 1},
     "num_classes is -5; it must be from 1 to 100,000"),
    ({"family": "generator", "generator": "sngan32"}, "checkpoint of a generator, not of a "
                                                      "classifier"),
    ({"name": "nb201_supernet", "norm": "bn"}, "checkpoint of a nb201_supernet"),
])
def test_checkpoints_that_are_no_classifier_are_named(
        tmp_path: Path, model: dict, expected: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "c.pt", {"model": model, "state_dict": {}})
    for args in (["eval", str(path)], ["zoo", "export", str(path), "--name", "X",
                                       "--model-dir", str(tmp_path / "m")]):
        code, out, err = run_cli(args, capsys, monkeypatch)
        assert_one_line_error(code, out, err, expected)


def test_gan_training_on_images_too_small_for_the_generator_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "small.npz", size=8, train=8, test=8)
    code, out, err = run_cli(["gan", "train", "--dataset", "npz", "--data-dir", str(data),
                              "--out", str(tmp_path / "run")], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "images of 8 x 8 pixels are too small",
                          "at least 16 pixels")


def test_resume_of_a_folder_never_trained_says_it_starts_a_new_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "d.npz", train=64, test=8)
    run = tmp_path / "never-trained"
    code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), "--model",
                              "small_cnn", "--width", "4", "--epochs", "1", "--batch-size", "32",
                              "--val-examples", "8", "--attack-steps", "1", "--quiet",
                              "--resume", "--out", str(run)], capsys, monkeypatch)
    assert code == 0, err
    assert f"--resume: {run} holds no last.pt; starting a new run there" in " ".join(err.split())
    said = " ".join(out.split())
    assert "attack eps 8/255, PGD-1" in said and "validation on" in said


def test_style_config_refuses_a_non_finite_number_from_a_suite_too() -> None:
    from robust_sabn.style.config import make_config

    with pytest.raises(UserInputError, match="lr: Input should be a finite number"):
        make_config("cpu", lr=float("inf"))
