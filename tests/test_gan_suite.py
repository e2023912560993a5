"""A tiny GAN suite end to end: reference classifier, training with probe FID, evaluation,
sample grids, report; a second run skips every step; report and eval from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from test_cli import assert_one_line_error, run_main
from test_gan_metrics import random_inception_weights  # noqa: F401 (fixture)

from robust_sabn.artifacts.result import read_result
from robust_sabn.errors import UserInputError
from robust_sabn.gan.names import CLASSIFIER_LABEL
from robust_sabn.suites.runner import run_suite
from robust_sabn.suites.spec import load_suite

TINY_SUITE = """\
# A tiny GAN suite for the tests.
task = "gan"
description = "tiny"

[runs]
dataset = "fashion-mnist"
generators = ["sngan32"]
norms = ["ccbn", "sabn"]
seeds = [0, 1]

[runs.train]
iterations = 4
g_batch = 8
d_batch = 8
n_critic = 1
g_width = 4
d_width = 4
latent_dim = 8
eval_every = 2
probe_samples = 20
checkpoint_every = 2
max_train_examples = 100
data_dir = "/usr/share/datasets/fashion-mnist"

[reference]
epochs = 1
max_train_examples = 256
width = 4

[evaluation]
n_samples = 40

[report]
grid_per_class = 2
"""


@pytest.fixture(scope="module")
def finished_suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("suite")
    suite_file = folder / "tiny-gan.toml"
    suite_file.write_text(TINY_SUITE)
    report = folder / "reports" / "tiny-gan.md"
    result = run_suite(suite_file, out_root=folder / "runs", progress=False, report_path=report)
    assert len(result.executed) == 1 + 4 * 2 + 2
    return suite_file, folder / "runs" / "tiny-gan", report


def test_suite_runs_end_to_end_and_reports(finished_suite: tuple[Path, Path, Path]) -> None:
    suite_file, suite_dir, report = finished_suite
    text = report.read_text()
    assert CLASSIFIER_LABEL in text
    assert "| SNGAN | CCBN | 2 |" in text and "| SNGAN | SaBN | 2 |" in text
    assert "SaBN | CCBN |" in text  # the difference-with-CI rows
    assert "| real test images | - | - |" in text and "Scale: real test images" in text
    # the classifier's test accuracy sits in the conditional-accuracy column, KID and
    # intra-FID have no real-image value
    real = next(line for line in text.splitlines() if line.startswith("| real test images"))
    cells = [c.strip() for c in real.strip("|").split("|")]
    assert cells[5:7] == ["-", "-"] and float(cells[7]) > 0
    assert "## What it shows" in text and "SNGAN SaBN vs CCBN over 2 seeds" in text
    for png in ("tiny-gan-fid-curve.png", "tiny-gan-sngan32-ccbn.png",
                "tiny-gan-sngan32-sabn.png"):
        assert (report.parent / png).is_file() and f"]({png})" in text
    evaluation = read_result(suite_dir / "sngan32-sabn-seed1" / "eval.json")
    assert {m.name for m in evaluation.metrics} == {"fid", "is", "is_std", "kid", "kid_std",
                                                    "cond_acc", "intra_fid"}
    assert all(m.n == 40 and m.condition == {"features": "classifier"}
               for m in evaluation.metrics)
    training = read_result(suite_dir / "sngan32-sabn-seed1" / "train_record.json")
    assert [m.condition["step"] for m in training.find("probe_fid")] == [2, 4]
    curve = training.extras["grad_balance_curve"]  # [iteration, imbalance, cosine] per G step
    assert [row[0] for row in curve] == [1, 2, 3, 4]
    assert training.value("grad_imbalance") == pytest.approx(sum(r[1] for r in curve) / 4)
    assert training.value("grad_cosine") == pytest.approx(sum(r[2] for r in curve) / 4)
    assert all(0 <= r[1] and -1 <= r[2] <= 1 for r in curve)
    assert "## Gradient balance of the class affines" in text
    for png in ("tiny-gan-grad-imbalance.png", "tiny-gan-grad-cosine.png"):
        assert (report.parent / png).is_file() and f"]({png})" in text
    again = run_suite(suite_file, out_root=suite_dir.parent, progress=False, report_path=report)
    assert again.executed == [] and len(again.skipped) == 11


def test_report_and_eval_from_the_cli(finished_suite: tuple[Path, Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _, suite_dir, _ = finished_suite
    code, _, err = run_main(["report", str(suite_dir), "-o", str(tmp_path / "r.md")], capsys,
                            monkeypatch)
    assert code == 0, err
    assert "| SNGAN | SaBN | 2 |" in (tmp_path / "r.md").read_text()
    generator = suite_dir / "sngan32-ccbn-seed0" / "generator.pt"
    reference = suite_dir / "reference" / "classifier.pt"
    code, out, err = run_main(["gan", "eval", str(generator), "--reference", str(reference),
                               "--n-samples", "20", "-o", str(tmp_path / "e.json")],
                              capsys, monkeypatch)
    assert code == 0, err
    assert CLASSIFIER_LABEL in out and read_result(tmp_path / "e.json").value("fid") is not None
    code, out, err = run_main(["gan", "eval", str(generator), "--reference", str(reference),
                               "--n-samples", "20000", "-o", str(tmp_path / "e2.json")],
                              capsys, monkeypatch)
    assert_one_line_error(code, out, err, "--n-samples 20000 is above what FID uses")


def test_adversarial_norm_in_a_gan_suite_names_file_and_key(tmp_path: Path) -> None:
    suite_file = tmp_path / "bad.toml"
    suite_file.write_text(TINY_SUITE.replace('["ccbn", "sabn"]', '["ccbn", "saauxbn"]'))
    with pytest.raises(UserInputError, match=r"bad.toml: runs.norms\[1\]: unknown GAN norm"):
        load_suite(suite_file)


@pytest.mark.slow
def test_eval_with_standard_inception_weights(finished_suite: tuple[Path, Path, Path],
                                              request: pytest.FixtureRequest,
                                              tmp_path: Path) -> None:
    """The Inception path end to end (random weights in torch-fidelity's file format)."""
    from robust_sabn.gan.workflow import evaluate_run

    _, suite_dir, _ = finished_suite
    weights = request.getfixturevalue("random_inception_weights")
    record = evaluate_run(suite_dir / "sngan32-sabn-seed0" / "generator.pt",
                          suite_dir / "reference" / "classifier.pt", tmp_path / "e.json",
                          n_samples=20, inception_weights=weights)
    assert {m.condition["features"] for m in record.metrics} == {"inception"}
    assert {m.name for m in record.metrics} >= {"fid", "is", "cond_acc", "intra_fid"}
    assert "Inception" in record.extras["features_label"]


def test_reference_schedule_and_augmentation_reach_the_trainer(tmp_path: Path) -> None:
    suite_file = tmp_path / "cosine.toml"
    suite_file.write_text(TINY_SUITE.replace("\nwidth = 4\n", '\nwidth = 4\nschedule = "cosine"\n'
                                             "augment = false\n")
                          .replace("n_critic = 1\n", "n_critic = 1\naux_weight = 0.5\n"))
    plan = load_suite(suite_file).plan
    assert (plan.reference["schedule"], plan.reference["augment"]) == ("cosine", False)
    assert {run.config["aux_weight"] for run in plan.runs} == {0.5}
    # without them the settings are as before (a cached reference classifier stays valid)
    assert "schedule" not in load_suite(_write(tmp_path / "plain.toml", TINY_SUITE)
                                        ).plan.reference
    for bad, message in (('schedule = "step"', r"reference.schedule: .*'step'"),
                         ('augment = "no"', r"reference.augment: expected true or false")):
        broken = _write(tmp_path / "bad.toml", TINY_SUITE.replace("\nwidth = 4\n",
                                                                  f"\nwidth = 4\n{bad}\n"))
        with pytest.raises(UserInputError, match=message):
            load_suite(broken)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_suite_note_drops_command_lines_but_keeps_prose_that_names_a_command(tmp_path: Path
                                                                             ) -> None:
    from types import SimpleNamespace

    from robust_sabn.gan.suite_task import suite_note

    path = tmp_path / "s.toml"
    path.write_text(
        "# A confirmatory run.\n#\n#   robust-sabn suite run s --jobs 2   # resumable\n"
        "# Sizing (`robust-sabn suite plan s --pilot records/x`, paired t,\n"
        "# alpha = 0.05).\ntask = \"gan\"\n")
    assert suite_note(SimpleNamespace(path=path)) == (  # type: ignore[arg-type]
        "A confirmatory run. Sizing (`robust-sabn suite plan s --pilot records/x`, paired t, "
        "alpha = 0.05).")
