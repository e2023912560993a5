"""Issue 13: a user's own npz trains end to end; diverged training stops; data that contradicts
the model, stray labels and ``--eps 8`` get one line and exit code 2.

Every test here failed on the code before the issue's fixes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from npz_helpers import TINY, assert_one_line_error, run_cli, write_image_npz

from robust_sabn.artifacts import load_checkpoint, load_model, read_result
from robust_sabn.data import get_dataset_info, load_split
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate import evaluate_model
from robust_sabn.models import create_model
from robust_sabn.nn import fixed_branch
from robust_sabn.runs.divergence import DivergenceGuard, TrainingDiverged
from robust_sabn.train import TrainConfig, train
from robust_sabn.train import loop as train_loop
from robust_sabn.zoo import load_model as load_zoo_model


def _values_of(node: object, key: str) -> list[object]:
    """Every value stored under ``key`` anywhere in a JSON document (records change shape)."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == key] + [
            found for v in node.values() for found in _values_of(v, key)]
    if isinstance(node, list):
        return [found for v in node for found in _values_of(v, key)]
    return []


def _strict_json_lines(path: Path) -> list[dict]:
    """Rows of a JSON-lines file, refusing NaN / Infinity (not JSON)."""
    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}, which is not JSON")
    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


# ------------------------------------------------------------- item 1: npz end to end


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3)])
def test_npz_trains_evaluates_reports_and_exports(tmp_path: Path, size: int, channels: int,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "mine.npz", size=size, channels=channels)
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), *TINY,
                              "--out", str(run)], capsys, monkeypatch)
    assert code == 0, err
    assert "Validation accuracy" in out
    record = read_result(run / "train_record.json")
    assert record.status == "ok" and record.extras["dataset"] == "npz"
    model = record.subject["model"]
    assert (model["num_classes"], model["in_channels"]) == (4, channels)
    assert len(_strict_json_lines(run / "metrics.jsonl")) == 1

    evaluation = tmp_path / "eval.json"
    code, _, err = run_cli(["eval", str(run / "best.pt"), "--attacks", "pgd",
                              "--n-examples", "16", "--pgd-steps", "2",
                              "-o", str(evaluation)], capsys, monkeypatch)
    assert code == 0, err
    eps_values = _values_of(json.loads(evaluation.read_text()), "eps")
    assert eps_values and all(v == pytest.approx(8 / 255) for v in eps_values)  # npz default

    code, _, err = run_cli(["report", str(tmp_path), "-o", str(tmp_path / "report.md")],
                             capsys, monkeypatch)
    assert code == 0, err
    assert (tmp_path / "report.md").read_text().strip()

    models = tmp_path / "models"
    code, _, err = run_cli(["zoo", "export", str(run / "best.pt"), "--name", "Mine2026_Npz",
                              "--model-dir", str(models), "--eps", "8/255"], capsys, monkeypatch)
    assert code == 0, err
    exported = load_zoo_model("Mine2026_Npz", models, "npz", "Linf")
    x = torch.rand(2, channels, size, size)
    model, _ = load_model(run / "best.pt")
    with torch.no_grad():
        torch.testing.assert_close(exported(x), fixed_branch(model, "adv")(x))


def test_evaluate_model_finds_the_npz_default_eps_without_a_data_dir(tmp_path: Path) -> None:
    data = load_split("npz", "test", data_dir=write_image_npz(tmp_path / "d.npz", size=8))
    model = create_model("small_cnn", norm="bn", num_classes=4, in_channels=1, num_branches=1,
                         mean=None, std=None, width=4)
    record = evaluate_model(model, data, attacks=(), n_examples=8)
    document = record if isinstance(record, dict) else record.model_dump(mode="json")
    eps_values = _values_of(document, "eps")
    assert eps_values and all(v == pytest.approx(8 / 255) for v in eps_values)


# ------------------------------------------------------------- item 2: divergence


def test_a_huge_learning_rate_stops_with_one_line_and_a_diverged_record(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "d.npz", size=8)
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), *TINY,
                              "--lr", "1e6", "--out", str(run)], capsys, monkeypatch)
    line = assert_one_line_error(code, out, err, "training diverged at epoch 1, step",
                                 "learning rate 1e+06 is likely too high", "--lr")
    assert "no epoch finished" in line
    record = read_result(run / "train_record.json")
    value = float(record.extras["diverged"]["value"])  # not finite, or exploded
    assert record.status == "diverged" and not (math.isfinite(value) and value < 1e4)
    assert _strict_json_lines(run / "metrics.jsonl") == []
    assert not (run / "last.pt").exists()


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_non_finite_learning_rate_is_refused_before_work(
        tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(["train", "--lr", value, "--out", str(tmp_path / "r")],
                             capsys, monkeypatch)
    assert_one_line_error(code, out, err, "lr must be a finite number")


def test_divergence_in_a_later_epoch_keeps_the_last_finite_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "d.npz", size=8, train=64)
    config = TrainConfig(dataset="npz", data_dir=str(data), model="small_cnn", width=4,
                         epochs=3, batch_size=16, val_examples=8, attack_steps=1)
    real_loss = train_loop.training_loss
    calls = {"n": 0}

    def poisoned_in_epoch_two(*args: object, **kwargs: object) -> tuple:
        calls["n"] += 1
        loss, clean, adv = real_loss(*args, **kwargs)
        return (loss * math.nan if calls["n"] == 5 else loss), clean, adv  # 3 steps per epoch

    monkeypatch.setattr(train_loop, "training_loss", poisoned_in_epoch_two)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="epoch 2, step 5") as caught:
        train(config, run, quiet=True)
    assert caught.value.checkpoint == run / "last.pt"
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(t).all() for t in ckpt["state_dict"].values()
               if t.is_floating_point())
    assert read_result(run / "train_record.json").status == "diverged"
    assert len(_strict_json_lines(run / "metrics.jsonl")) == 1


def test_the_guard_names_the_step_and_a_moderate_lr_cause(tmp_path: Path) -> None:
    guard = DivergenceGuard(lr=0.1, checkpoint=tmp_path / "last.pt")
    guard.check(torch.tensor(2.5), epoch=0, step=0)
    with pytest.raises(TrainingDiverged, match=r"epoch 4, step 12: the loss is inf; likely a "
                                               r"learning rate too high for this data"):
        guard.check(torch.tensor(math.inf), epoch=3, step=11)
    with pytest.raises(TrainingDiverged, match=r"^training diverged at step 100: the loss is "
                                               r"nan; .* \(no epoch finished"):
        guard.check(torch.tensor(math.nan), step=99)  # an iteration-based trainer (a GAN's)


# ------------------------------------------------------------- item 4: data vs model


@pytest.fixture(scope="module")
def grey_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run trained on a 4-class 28x28 grey npz."""
    folder = tmp_path_factory.mktemp("grey")
    data = write_image_npz(folder / "grey.npz", size=28, train=64, test=16)
    config = TrainConfig(dataset="npz", data_dir=str(data), model="small_cnn", width=4,
                         epochs=1, batch_size=32, val_examples=8, attack_steps=1)
    train(config, folder / "run", quiet=True)
    return folder / "run" / "best.pt"


@pytest.mark.parametrize(("kind", "expected"), [
    ("rgb", "have 3 channel(s) but"),
    ("labels", "hold label 5 but"),
    ("small", "too small for"),
])
def test_data_that_contradicts_the_checkpoint_gets_one_line(
        grey_run: Path, tmp_path: Path, kind: str, expected: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    other = {"rgb": lambda p: write_image_npz(p, size=28, channels=3, train=16, test=8),
             "labels": lambda p: write_image_npz(p, size=28, classes=6, train=24, test=12),
             "small": lambda p: write_image_npz(p, size=2, classes=2, train=16, test=8),
             }[kind](tmp_path / "other.npz")
    code, out, err = run_cli(["eval", str(grey_run), "--attacks", "pgd", "--n-examples", "12",
                              "--data-dir", str(other)], capsys, monkeypatch)
    assert_one_line_error(code, out, err, expected)


def test_training_on_images_too_small_for_the_model_is_refused_before_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "tiny.npz", size=3, classes=3, train=96)
    code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), *TINY,
                              "--out", str(tmp_path / "run")], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "3x3 pixels, too small for small_cnn",
                          "at least 4x4 pixels")
    assert not (tmp_path / "run" / "last.pt").exists()


# ------------------------------------------------------------- item 5: stray labels


def test_one_stray_label_is_named_instead_of_adding_classes(tmp_path: Path) -> None:
    path = tmp_path / "stray.npz"
    write_image_npz(path, size=8, classes=10)
    arrays = dict(np.load(path))
    arrays["y_train"][7] = 1000
    np.savez(path, **arrays)
    with pytest.raises(UserInputError, match=r"go up to 1000 but 990 of the classes 0..1000 "
                                             r"never occur in y_train \(10, 11, 12, 13, 14 "):
        get_dataset_info("npz", data_dir=path)


def test_declared_classes_set_the_task_and_bound_the_labels(tmp_path: Path) -> None:
    names = np.array([f"class{k}" for k in range(12)])
    declared = write_image_npz(tmp_path / "named.npz", size=8, classes=4, names=names)
    assert get_dataset_info("npz", data_dir=declared).num_classes == 12
    counted = write_image_npz(tmp_path / "count.npz", size=8, classes=4,
                              num_classes=np.array(3))
    with pytest.raises(UserInputError, match="holds label 3 but the file declares 3 classes"):
        get_dataset_info("npz", data_dir=counted)


# ------------------------------------------------------------- item 6: --eps 8


@pytest.mark.parametrize("command", ["report", "zoo"])
def test_eps_8_is_refused_by_report_and_zoo_export(
        grey_run: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    args = (["report", str(grey_run.parent), "-o", str(tmp_path / "r.md"), "--eps", "8"]
            if command == "report" else
            ["zoo", "export", str(grey_run), "--name", "Mine2026_Grey", "--model-dir",
             str(tmp_path / "models"), "--eps", "8"])
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert_one_line_error(code, out, err, "eps 8.0 is outside [0, 1]", "8/255")
    assert not (tmp_path / "models").exists() and not (tmp_path / "r.md").exists()
