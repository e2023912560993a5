"""Style transfer end to end: a tiny suite (train, evaluate, grid, report), the CLI's train,
eval and stylize commands, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import assert_one_line_error, run_main

from robust_sabn.artifacts.result import read_result
from robust_sabn.style.encoder import RANDOM_ENCODER_LABEL
from robust_sabn.suites import load_suite, run_suite

TINY = ["--crop", "16", "--resize", "24", "--iterations", "2", "--batch-size", "2",
        "--val-pairs", "2", "--val-every", "1", "--quiet"]

TINY_SUITE = """\
task = "style"
description = "tiny"

[runs]
norms = ["adain", "saadain"]
seeds = [0, 1]

[runs.train]
iterations = 2
batch_size = 2
crop = 16
resize = 24
log_every = 1
val_every = 1
val_pairs = 2
checkpoint_every = 1

[grid]
contents = 2
styles = 1
size = 16
seed = 1
"""


def test_a_tiny_suite_runs_end_to_end_and_then_skips_everything(tmp_path: Path) -> None:
    suite_file = tmp_path / "style-tiny.toml"
    suite_file.write_text(TINY_SUITE)
    report = tmp_path / "reports" / "style-tiny.md"
    first = run_suite(suite_file, out_root=tmp_path / "runs", progress=False,
                      report_path=report)
    assert len(first.executed) == 4 + 4 + 1 and not first.skipped
    text = report.read_text()
    assert RANDOM_ENCODER_LABEL in text
    assert "## SaAdaIN - AdaIN, paired over seeds" in text
    assert text.count("| SaAdaIN | AdaIN |") == 4  # one difference row per metric
    assert "(style-tiny-curves.png)" in text and "(style-tiny-grid.png)" in text
    grid = Image.open(report.with_name("style-tiny-grid.png"))
    # 1 + 1 style x 2 norms columns, 1 + 2 content rows, 16 px cells with 2 px padding
    assert grid.size == (3 * 18 + 2, 3 * 18 + 2)
    record = read_result(tmp_path / "runs" / "style-tiny" / "saadain-seed1" / "eval.json")
    assert record.subject["encoder"].startswith(RANDOM_ENCODER_LABEL)
    assert record.value("style_loss", features="second encoder") > 0
    again = run_suite(load_suite(suite_file), out_root=tmp_path / "runs", progress=False,
                      report_path=report)
    assert again.executed == [] and len(again.skipped) == 9


def test_suite_errors_name_the_file_and_key(tmp_path: Path) -> None:
    from robust_sabn.errors import UserInputError

    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_SUITE.replace('norms = ["adain", "saadain"]', 'norms = ["bn"]'))
    with pytest.raises(UserInputError, match=r"bad\.toml: runs\.norms\[0\]: unknown norm 'bn'"):
        load_suite(bad)
    bad.write_text(TINY_SUITE.replace("crop = 16", "crop = 16\ncrops = 3"))
    with pytest.raises(UserInputError, match=r"runs\.train\.crops: unknown key; did you mean"):
        load_suite(bad)


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from robust_sabn.style.config import make_config
    from robust_sabn.style.trainer import train_style

    out = tmp_path_factory.mktemp("style") / "run"
    train_style(make_config(None, iterations=2, batch_size=2, crop=16, resize=24, val_pairs=2,
                            val_every=1, norm="saadain"), out, quiet=True)
    return out / "last.pt"


def _image(path: Path, height: int, width: int) -> Path:
    rng = np.random.default_rng(height * width)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_cli_train_prints_losses_and_the_encoder(tmp_path, capsys, monkeypatch) -> None:
    code, out, err = run_main(["style", "train", "--out", str(tmp_path / "r"), *TINY],
                              capsys, monkeypatch)
    assert code == 0, err
    assert "content_loss" in out and RANDOM_ENCODER_LABEL in out
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").open()]
    assert [r["split"] for r in rows if r["iteration"] == 2] == ["train", "val"]
    grid = read_result(tmp_path / "r" / "grid.json")
    assert grid.kind == "sample" and grid.extras["image"] == "grid.png"
    with Image.open(tmp_path / "r" / "grid.png") as image:  # (1 + 2) x (1 + 2) cells of 128 px
        assert image.size[0] >= 3 * 128 and image.size[1] >= 3 * 128

    report = tmp_path / "report.md"
    code, _, err = run_main(["report", str(tmp_path / "r"), "-o", str(report)], capsys,
                            monkeypatch)
    assert code == 0, err
    text = report.read_text()
    shown = text.split("## What this shows\n\n")[1].split("\n\n")[0].splitlines()
    assert shown[0].startswith("- 1 run of SaAdaIN (1 seed): validation content loss ")
    assert shown[-3].startswith("- There is no AdaIN run to compare with")
    assert shown[-2].startswith("- SaAdaIN's shared affine along training (RMS distance from "
                                "the identity, seed 0): iteration 1: ")
    assert shown[-1].startswith("- One image for every pair: saadain-seed0 ")  # 2 iterations
    assert "paired over seeds" not in text  # no empty comparison table
    assert "![stylization grid](report-grid.png)" in text
    assert "![training and validation losses](report-curves.png)" in text
    assert (tmp_path / "report-grid.png").read_bytes() == (tmp_path / "r" / "grid.png"
                                                           ).read_bytes()


def test_cli_stylize_writes_an_image_of_the_content_size(trained_checkpoint, tmp_path, capsys,
                                                         monkeypatch) -> None:
    content, style = _image(tmp_path / "c.jpg", 21, 30), _image(tmp_path / "s.png", 40, 40)
    out = tmp_path / "out" / "x.png"
    code, _, err = run_main(["style", "stylize", str(trained_checkpoint), "--content",
                             str(content), "--style", str(style), "--alpha", "0.5",
                             "--size", "0", "-o", str(out)], capsys, monkeypatch)
    assert_one_line_error(code, "", err, "--size 0 is out of range: use 1 to")
    code, _, err = run_main(["style", "stylize", str(trained_checkpoint), "--content",
                             str(content), "--style", str(style), "--alpha", "0.5",
                             "--size", "21", "-o", str(out)], capsys, monkeypatch)
    assert code == 0, err
    assert Image.open(out).size == (30, 21)


def test_cli_eval_writes_a_record(trained_checkpoint, tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "eval.json"
    code, stdout, err = run_main(["style", "eval", str(trained_checkpoint), "-o", str(out)],
                                 capsys, monkeypatch)
    assert code == 0, err
    record = read_result(out)
    # content and style loss by two encoders, and SaAdaIN's affine shift
    assert record.kind == "evaluation" and len(record.metrics) == 6
    assert [m.name for m in record.metrics][-2:] == ["output_spread", "affine_shift"]
    assert f"{record.value('content_loss', features='training encoder'):.5f}" in stdout
    assert "None" not in stdout  # metrics without an encoder (affine_shift, spread) show "-"


def test_cli_bad_input_is_one_line_and_exit_2(trained_checkpoint, tmp_path, capsys,
                                             monkeypatch) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "small").mkdir()
    for i in range(3):
        _image(tmp_path / "small" / f"{i}.png", 12, 40)
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(64, 1, 3, 3)}, wrong)
    image = _image(tmp_path / "c.png", 32, 32)
    cases = [
        (["style", "train", "--out", str(tmp_path / "a"), "--content-dir", str(tmp_path / "empty"),
          "--style-dir", str(tmp_path / "empty"), *TINY], "holds no image files"),
        (["style", "train", "--out", str(tmp_path / "b"), "--content-dir", str(tmp_path / "small"),
          "--style-dir", str(tmp_path / "small"), *TINY], "smaller than the 16 px crop"),
        (["style", "train", "--out", str(tmp_path / "c"), "--encoder-weights", str(wrong),
          *TINY], "'features.0.weight' of shape (64, 1, 3, 3)"),
        (["style", "stylize", str(trained_checkpoint), "--content", str(image), "--style",
          str(image), "--alpha", "1.5", "-o", str(tmp_path / "o.png")],
         "--alpha 1.5 is out of range"),
        (["style", "stylize", str(image), "--content", str(image), "--style", str(image),
          "-o", str(tmp_path / "o.png")], "cannot read checkpoint"),
    ]
    for args, expected in cases:
        assert_one_line_error(*run_main(args, capsys, monkeypatch), expected)


def test_report_says_which_differences_the_intervals_resolve(tmp_path: Path) -> None:
    from robust_sabn.artifacts.result import Metric, new_result
    from robust_sabn.style.report import render_style_report

    records = []
    # SaAdaIN's content loss is lower by 0.1 +- 0.01 on every seed; its style loss is not
    for seed, (noise, style_diff) in enumerate(((0.0, 0.5), (0.01, -0.4), (-0.01, 0.1))):
        for norm, content, style in (("adain", 1.0, 2.0),
                                     ("saadain", 0.9 + noise, 2.0 + style_diff)):
            metrics = [Metric(name=name, value=value, n=8,
                              condition={"split": "val", "features": "training encoder",
                                         "step": 10})
                       for name, value in (("content_loss", content), ("style_loss", style))]
            record = new_result("style", "evaluation", metrics=metrics, subject={
                "run": f"{norm}-seed{seed}", "norm": norm, "seed": seed,
                "encoder": RANDOM_ENCODER_LABEL, "dataset": "test images"})
            records.append((tmp_path / f"{norm}-{seed}.json", record))
    text = render_style_report(records, tmp_path / "r.md", title="t", command="c").read_text()
    assert "| content loss | SaAdaIN | AdaIN | -0.1000 [-0.1248, -0.0752] | 3 |" in text
    assert "SaAdaIN - AdaIN = -0.1000 over 3 seeds; SaAdaIN is lower (better)" in text
    assert "style loss: SaAdaIN - AdaIN = +0.0667 over 3 seeds; the difference is not " \
           "resolved" in text
    assert "| AdaIN | 1.0000 ± 0.0000 | **2.0000 ± 0.0000** |" in text


def test_report_follows_saadains_affine_along_training_per_seed() -> None:
    from robust_sabn.style.report import affine_sentences

    def rows(shifts: list[float]) -> list[dict[str, object]]:
        return [{"iteration": 100 * (i + 1), "split": "val", "affine_shift": shift}
                for i, shift in enumerate(shifts)] + [{"iteration": 5, "split": "train"}]

    curves = {"SaAdaIN": {0: rows([0.01 * i for i in range(1, 9)]),
                          1: rows([0.005 * i for i in range(1, 9)])},
              "AdaIN": {0: [{"iteration": 100, "split": "val", "loss": 1.0}]}}
    assert affine_sentences(curves) == [
        "SaAdaIN's shared affine along training (RMS distance from the identity, seeds 0, 1): "
        "iteration 200: 2.00 / 1.00 %; iteration 400: 4.00 / 2.00 %; iteration 600: "
        "6.00 / 3.00 %; iteration 800: 8.00 / 4.00 %."]
    assert affine_sentences({"AdaIN": curves["AdaIN"]}) == []
    assert affine_sentences({"SaAdaIN": {0: [{"iteration": 5, "split": "val"}]}}) == []
