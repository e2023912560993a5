"""Issue 23 items 2, 4 and 6: numbers, sizes and paths are checked in one place before any
work; a symbolic link inside a run folder is never followed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from npz_helpers import assert_one_line_error, run_cli, write_image_npz

from robust_sabn.artifacts.lock import LOCK_NAME, folder_lock
from robust_sabn.artifacts.records import append_jsonl
from robust_sabn.cli.limits import MAX_GRID_IMAGES, MAX_IMAGE_SIDE, check_path_length
from robust_sabn.errors import UserInputError
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
    (["nas", "train", "--out", "n", "--resolution", "2"], "--resolution 2 is out of range: "
                                                          "use an integer from 8"),
    (["nas", "eval", "cell", "--resolution", "1"], "--resolution 1 is out of range"),
    (["sample", "g.pt", "-n", "1000000000", "-o", "s.png"],
     f"-n 1000000000 is out of range: use at most {MAX_GRID_IMAGES:,}"),
    (["stylize", "c.pt", "--content", "c.png", "--style", "s.png", "--size", "100000",
      "-o", "o.png"], f"--size 100000 is out of range: use at most {MAX_IMAGE_SIDE:,}"),
    (["train", "--out", f"runs/{LONG}"], "is 300 bytes long; this file system allows"),
    (["eval", "x.pt", "--out", f"{LONG}.json"], "--out: the name"),
    (["report", "runs", "-o", f"{LONG}.md"], "the name"),
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


def _gan(out: Path) -> None:
    from robust_sabn.gan.config import GANConfig
    from robust_sabn.gan.train import train_gan

    train_gan(GANConfig(iterations=0), out)


def _style(out: Path) -> None:
    from robust_sabn.style.config import make_config
    from robust_sabn.style.trainer import train_style

    train_style(make_config("cpu", content_dir=str(out / "absent"),
                            style_dir=str(out / "absent")), out)


def _nas(out: Path) -> None:
    from robust_sabn.nas.config import SearchConfig
    from robust_sabn.nas.search import run_search

    run_search(SearchConfig(dataset="cifar10", data_dir=str(out / "absent")), out)


def _suite(out: Path) -> None:
    with folder_lock(out):
        pass


@pytest.mark.parametrize("writer", [_train, _gan, _style, _nas, _suite],
                         ids=["train", "gan", "style", "nas", "suite"])
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
