"""GAN training: hinge losses, exact resume after a kill, run folder and records, and the CLI's
one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from test_cli import assert_one_line_error, run_main

from robust_sabn.artifacts.result import read_result
from robust_sabn.gan.config import GANConfig
from robust_sabn.gan.train import discriminator_hinge_loss, generator_hinge_loss, train_gan
from robust_sabn.gan.workflow import sample_run, train_run

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
TINY = {"iterations": 4, "g_batch": 4, "d_batch": 4, "n_critic": 2, "g_width": 4,
        "d_width": 4, "latent_dim": 8, "checkpoint_every": 2, "eval_every": 1,
        "ema_decay": 0.5, "ema_start": 1, "max_train_examples": 32, "data_dir": FASHION_MNIST}


def tiny_config(**overrides: object) -> GANConfig:
    return GANConfig.from_preset(None, **{**TINY, **overrides})


def test_hinge_losses() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert float(discriminator_hinge_loss(real, fake)) == pytest.approx((0 + 0.5) / 2 + 1 / 2)
    assert float(generator_hinge_loss(fake)) == pytest.approx(1.0)


class Killed(Exception):
    """Stands for the process being killed mid-run."""


def test_resume_after_a_kill_reaches_the_same_weights(tmp_path: Path) -> None:
    config = tiny_config(norm="sabn")
    train_gan(config, tmp_path / "straight", quiet=True, probe=lambda g: {})

    def killing_probe(generator: torch.nn.Module) -> dict[str, float]:
        if len(calls) == 2:  # after iteration 2's checkpoint, during iteration 3
            raise Killed
        calls.append(1)
        return {}

    calls: list[int] = []
    with pytest.raises(Killed):
        train_gan(config, tmp_path / "resumed", quiet=True, probe=killing_probe)
    assert torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["iteration"] == 2
    train_gan(config, tmp_path / "resumed", resume=True, quiet=True, probe=lambda g: {})
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    for part in ("state_dict", "generator", "discriminator"):
        for name, tensor in straight[part].items():
            assert torch.equal(tensor, resumed[part][name]), (part, name)
    rows = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").open()]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert [r["loss_d"] for r in rows] == [r["loss_d"] for r in straight["history"]]


def test_a_finished_run_is_not_overwritten_and_options_must_match(tmp_path: Path) -> None:
    train_gan(tiny_config(iterations=2), tmp_path, quiet=True)
    with pytest.raises(ValueError, match="pass --resume"):
        train_gan(tiny_config(iterations=2), tmp_path, quiet=True)
    with pytest.raises(ValueError, match=r"options \['iterations'\] differ"):
        train_gan(tiny_config(iterations=3), tmp_path, resume=True, quiet=True)


def test_train_run_writes_the_record_and_ema_generator(tmp_path: Path) -> None:
    record = train_run(tiny_config(norm="ccbn"), tmp_path, reference=None, quiet=True)
    assert read_result(tmp_path / "train_record.json") == record
    assert record.task == "gan" and record.subject["norm"] == "ccbn"
    assert len(record.extras["loss_curve"]) == 4
    png = sample_run(tmp_path / "generator.pt", tmp_path / "grid.png", classes=[0, 5],
                     per_class=3)
    from PIL import Image

    cell = 3 * 28  # 28 px upscaled by 3, the least integer factor reaching 64 px
    with Image.open(png) as image:  # 2 rows x 3 columns, 2 px padding, labels 120 px, margins
        assert image.size == (3 * (cell + 2) + 2 + 120 + 6, 2 * (cell + 2) + 2 + 2 * 6)
        pixels = np.asarray(image.convert("L"))
    assert pixels[:, :110].min() < 100  # the class names are written left of the rows


@pytest.mark.parametrize("args,expected", [
    (["train", "--task", "gan", "--norm", "saauxbn"], "'saauxbn' makes no sense for the gan"),
    (["gan", "train", "--generator", "stylegan"], "unknown generator 'stylegan'"),
    (["gan", "train", "--preset", "huge"], "unknown GAN preset 'huge'"),
])
def test_bad_training_input_is_one_line(args: list[str], expected: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_main([*args, "--out", str(tmp_path / "run")], capsys, monkeypatch)
    assert_one_line_error(code, out, err, expected)


@pytest.fixture(scope="module")
def bn_and_sabn_generators(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gens")
    paths = {}
    for norm in ("bn", "sabn"):
        train_gan(tiny_config(norm=norm, iterations=1), folder / norm, quiet=True)
        paths[norm] = folder / norm / "generator.pt"
    return paths


def test_bad_sampling_and_evaluation_input_is_one_line(
        bn_and_sabn_generators: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    bn, sabn = bn_and_sabn_generators["bn"], bn_and_sabn_generators["sabn"]
    cases = [
        (["gan", "sample", str(bn), "-o", str(tmp_path / "g.png")],
         "class-conditional sampling needs a ccbn or sabn generator"),
        (["gan", "sample", str(sabn), "--classes", "0,12", "-o", str(tmp_path / "g.png")],
         "classes [12] out of range"),
        (["eval", "--task", "gan", str(sabn), "--reference", str(tmp_path / "ref.pt"),
          "-o", str(tmp_path / "e.json"), "--inception-weights", str(tmp_path / "no.pth")],
         "Inception weights not found"),
        (["gan", "eval", str(sabn), "--reference", str(tmp_path / "ref.pt"),
          "-o", str(tmp_path / "e.json")], "--reference"),
    ]
    for args, expected in cases:
        code, out, err = run_main(args, capsys, monkeypatch)
        assert_one_line_error(code, out, err, expected)
    code, out, err = run_main(["gan", "sample", str(sabn), "--classes", "1,2", "-n", "2",
                               "-o", str(tmp_path / "ok.png")], capsys, monkeypatch)
    assert code == 0 and (tmp_path / "ok.png").is_file(), err


def test_sample_writes_a_record_that_a_single_run_report_shows(
        bn_and_sabn_generators: dict[str, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = bn_and_sabn_generators["sabn"].parent
    code, out, err = run_main(["gan", "sample", str(run / "generator.pt"), "-n", "2",
                               "-o", str(run / "samples.png")], capsys, monkeypatch)
    assert code == 0 and f"record: {run / 'samples.json'}" in out, err
    record = read_result(run / "samples.json")
    assert record.kind == "sample" and record.extras["image"] == "samples.png"
    assert record.extras["classes"] == list(range(10))
    report = run.parent / "report.md"
    code, _, err = run_main(["report", str(run), "-o", str(report)], capsys, monkeypatch)
    assert code == 0, err
    text = report.read_text()
    assert "![SNGAN SaBN](report-sngan32-sabn.png)" in text
    assert (run.parent / "report-sngan32-sabn.png").read_bytes() == \
        (run / "samples.png").read_bytes()


def test_dump_writes_one_png_per_sample_and_their_labels(
        bn_and_sabn_generators: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from robust_sabn.gan.evaluate import load_generator
    from robust_sabn.gan.metrics import generate

    path = bn_and_sabn_generators["bn"]
    code, out, err = run_main(["gan", "dump", str(path), "-n", "12", "--seed", "3",
                               "--device", "cpu", "--out", str(tmp_path / "fakes")],
                              capsys, monkeypatch)
    assert code == 0 and "12 PNG files and labels.csv" in out, err
    files = sorted(p.name for p in (tmp_path / "fakes").glob("*.png"))
    assert files == [f"{i:06d}.png" for i in range(12)]
    images, labels = generate(load_generator(path)[0], 12, seed=3)
    lines = (tmp_path / "fakes" / "labels.csv").read_text().splitlines()
    assert lines == ["file,label"] + [f"{i:06d}.png,{k}" for i, k in enumerate(labels.tolist())]
    with Image.open(tmp_path / "fakes" / "000005.png") as image:
        assert image.mode == "RGB" and image.size == (28, 28)
        pixels = np.asarray(image, dtype=np.float64) / 255
    expected = ((images[5, 0] + 1) / 2).clamp(0, 1).numpy()
    assert np.abs(pixels[..., 0] - expected).max() <= 1 / 255 + 1e-9


def test_a_non_finite_loss_stops_training_with_a_diverged_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import robust_sabn.gan.train as gan_train
    from robust_sabn.runs.divergence import TrainingDiverged

    calls: list[int] = []
    real_loss = gan_train.discriminator_hinge_loss

    def loss_that_turns_nan(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        calls.append(1)  # 2 D steps per iteration: the 7th call is in the 4th iteration
        loss = real_loss(real, fake)
        return loss * float("nan") if len(calls) >= 7 else loss

    monkeypatch.setattr(gan_train, "discriminator_hinge_loss", loss_that_turns_nan)
    with pytest.raises(TrainingDiverged, match=r"at step 4: the loss is nan"):
        train_run(tiny_config(norm="sabn"), tmp_path, reference=None)
    record = read_result(tmp_path / "train_record.json")
    assert record.status == "diverged" and record.extras["diverged"]["value"] == "nan"
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["iteration"] == 2
    assert all(torch.isfinite(t).all() for t in last["generator"].values())
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    assert [r["iteration"] for r in rows] == [1, 2]
