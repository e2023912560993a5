"""RobustBench baselines in suites: parsing, skip-if-done with fake functions, report rows from
fixture records, and one suite run end to end through robustbench.utils.load_model (no network:
a tiny architecture registered as a RobustBench CIFAR-10 entry, fake CIFAR-10 files)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_cifar import write_fake_cifar10
from test_suites import SUITES_DIR, FakeEvaluator, FakeTrainer, write_suite
from torch import nn

from robust_sabn.adversarial.record import branch_results, evaluation_record, settings_of
from robust_sabn.adversarial.report import ReportOptions, collect_run_results, render_report
from robust_sabn.adversarial.report.baselines import baseline_label
from robust_sabn.adversarial.report.collect import relabel_baselines
from robust_sabn.artifacts import ModelSpec, file_sha256, save_checkpoint
from robust_sabn.artifacts.result import ResultRecord, read_result
from robust_sabn.compat import import_robustbench
from robust_sabn.errors import UserInputError
from robust_sabn.suites import load_suite, run_suite, suite_status
from robust_sabn.zoo import register_architecture

REPORT_FIXTURES = Path(__file__).parent / "fixtures" / "report"

BASELINE_SUITE = """\
task = "adversarial"

[runs]
dataset = "cifar10"
model = "small_cnn"
norms = ["bn", "saauxbn"]

[runs.train]
width = 4
epochs = 1
batch_size = 16
max_train_examples = 64
data_dir = "DATA_DIR"

[[evaluations]]
name = "pgd"
attacks = ["pgd"]
eps = [0.05, 0.1]
n_examples = 32
branches = ["adv"]

[[evaluations]]
name = "aa"
attacks = ["autoattack"]
eps = [0.1]
n_examples = 16
checkpoint = "last"

[comparison]
eps = 0.1

[[baselines]]
robustbench = "Wong2020Fast"
label = "Fast-AT"
model_dir = "MODEL_DIR"
"""


def baseline_suite(tmp_path: Path, text: str = BASELINE_SUITE) -> Path:
    text = text.replace("MODEL_DIR", str(tmp_path / "models"))
    return write_suite(tmp_path / "suites", text.replace("DATA_DIR", str(tmp_path / "data")))


# ---------------------------------------------------------------- parsing


def test_baseline_parses_with_defaults(tmp_path: Path) -> None:
    plan = load_suite(baseline_suite(tmp_path)).plan
    (baseline,) = plan.baselines
    assert (baseline.name, baseline.threat_model, baseline.label) == ("Wong2020Fast", "Linf",
                                                                      "Fast-AT")
    assert baseline.model_dir == tmp_path / "models"
    assert (baseline.run_id, baseline.source) == ("baseline-Wong2020Fast",
                                                  "robustbench:Wong2020Fast")
    text = BASELINE_SUITE.replace('label = "Fast-AT"\nmodel_dir = "MODEL_DIR"\n', "")
    (plain,) = load_suite(baseline_suite(tmp_path, text)).plan.baselines
    assert (plain.label, plain.model_dir) == (None, Path("models"))


def test_shipped_cifar10_suite_has_a_resnet18_baseline() -> None:
    (baseline,) = load_suite(SUITES_DIR / "adversarial-cifar10.toml").plan.baselines
    from robustbench.model_zoo.cifar10 import PreActBlock, Wong2020FastNet

    assert baseline.name == "Wong2020Fast" and baseline.threat_model == "Linf"
    assert "RobustBench" in baseline_label(baseline.name, baseline.label)
    blocks = [m for m in Wong2020FastNet().modules() if isinstance(m, PreActBlock)]
    assert len(blocks) == 8, "PreAct ResNet-18: [2, 2, 2, 2] blocks"


BAD_BASELINES = [
    ("fashion-mnist", ('dataset = "cifar10"', 'dataset = "fashion-mnist"'),
     "baselines[0].robustbench: RobustBench has no models for runs.dataset 'fashion-mnist'; "
     "baselines need cifar10, cifar100, imagenet"),
    ("unknown key", ('label = "Fast-AT"', 'labl = "Fast-AT"'),
     "baselines[0].labl: unknown key; did you mean 'label'? allowed keys: robustbench, "
     "threat_model, label, model_dir"),
    ("missing name", ('robustbench = "Wong2020Fast"', ""),
     "baselines[0].robustbench: missing; add it to [baselines[0]]"),
    ("unknown model", ('robustbench = "Wong2020Fast"', 'robustbench = "Wong2020Fas"'),
     "baselines[0].robustbench: unknown RobustBench model 'Wong2020Fas' for cifar10/Linf; "
     "did you mean 'Wong2020Fast'?"),
    ("bad name", ('robustbench = "Wong2020Fast"', 'robustbench = "../x"'),
     "baselines[0].robustbench: invalid model name '../x'"),
    ("threat model", ('label = "Fast-AT"', 'threat_model = "L2"'),
     "baselines[0].threat_model: 'L2': suite evaluations attack in Linf"),
    ("empty label", ('label = "Fast-AT"', 'label = " "'), "baselines[0].label: must not be empty"),
    ("twice", ('model_dir = "MODEL_DIR"\n', 'model_dir = "MODEL_DIR"\n[[baselines]]\n'
                                            'robustbench = "Wong2020Fast"\n'),
     "baselines[1].robustbench: 'Wong2020Fast' is listed twice"),
]


@pytest.mark.parametrize(("what", "edit", "fragment"), BAD_BASELINES,
                         ids=[b[0] for b in BAD_BASELINES])
def test_bad_baseline_names_file_and_key(tmp_path: Path, what: str, edit: tuple[str, str],
                                         fragment: str) -> None:
    assert edit[0] in BASELINE_SUITE, what
    path = baseline_suite(tmp_path, BASELINE_SUITE.replace(edit[0], edit[1], 1))
    with pytest.raises(UserInputError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    assert fragment in str(info.value)


# ---------------------------------------------------------------- running with fakes


class BaselineFakeEvaluator(FakeEvaluator):
    """FakeEvaluator for the runs; for ``robustbench:NAME`` a one-branch record of that model."""

    def __init__(self) -> None:
        super().__init__()
        self.baseline_calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, checkpoint: Any, **settings: Any) -> ResultRecord:
        if not str(checkpoint).startswith("robustbench:"):
            record = super().__call__(checkpoint, **settings)
            record.subject["dataset"] = "cifar10"
            return record
        self.baseline_calls.append((checkpoint, settings))
        keys = {"pgd": f"pgd-{settings['pgd_steps']}",
                "autoattack": f"autoattack-{settings['version']}"}
        return evaluation_record(
            subject={"model": {"robustbench": checkpoint.split(":")[1]}, "checkpoint": None,
                     "checkpoint_sha256": None, "dataset": settings["dataset"], "split": "test",
                     "norm": None},
            settings={"n_examples": settings["n_examples"], "threat_model": "Linf",
                      "eps": settings["eps"], "seed": 0},
            branches={"shared": {"clean_accuracy": 0.95, "robust_accuracy": {
                keys[a]: 0.6 - settings["eps"] for a in settings["attacks"]}}},
            wall_time_s=1.0,
        )


def run_with_fakes(path: Path, out: Path) -> tuple[BaselineFakeEvaluator, Any]:
    evaluator = BaselineFakeEvaluator()
    result = run_suite(path, out_root=out, progress=False,
                       hooks={"train": FakeTrainer(), "evaluate": evaluator},
                       report_path=out / "report.md")
    return evaluator, result


def test_runner_evaluates_baselines_like_the_runs_and_skips_them_when_done(tmp_path: Path
                                                                           ) -> None:
    path = baseline_suite(tmp_path)
    out = tmp_path / "runs"
    evaluator, result = run_with_fakes(path, out)
    assert [c[0] for c in evaluator.baseline_calls] == ["robustbench:Wong2020Fast"] * 3
    assert result.executed[:3] == ["evaluate baseline-Wong2020Fast pgd eps 0.05",
                                   "evaluate baseline-Wong2020Fast pgd eps 0.1",
                                   "evaluate baseline-Wong2020Fast aa eps 0.1"]
    # same attack settings as the runs, one branch, RobustBench's dataset and model folder
    runs = {(s["attacks"][0], eps): s for name, eps, s in evaluator.calls
            if name == "saauxbn-seed0"}
    for _, settings in evaluator.baseline_calls:
        run_settings = runs[(settings["attacks"][0], settings["eps"])]
        for key in ("attacks", "eps", "n_examples", "batch_size", "version", "seed",
                    "pgd_steps", "split", "data_dir", "device"):
            assert settings[key] == run_settings[key], key
        assert settings["branches"] is None
        assert (settings["dataset"], settings["model_dir"], settings["threat_model"]) == (
            "cifar10", str(tmp_path / "models"), "Linf")
    folder = out / "tiny" / "baseline-Wong2020Fast"
    assert sorted(p.name for p in folder.iterdir()) == [
        "eval-aa-eps0.1.json", "eval-pgd-eps0.05.json", "eval-pgd-eps0.1.json"]
    record = read_result(folder / "eval-pgd-eps0.1.json")
    assert record.suite["baseline"] == {"robustbench": "Wong2020Fast", "label": "Fast-AT",
                                           "weights_sha256": {}}
    assert "| Fast-AT (RobustBench) | 95.00 | 95.00 |" in result.report.read_text()
    status = suite_status(path, out_root=out)
    assert status.complete and status.counts["evaluate"][1] == 2 * 3 + 3

    again, result = run_with_fakes(path, out)
    assert again.baseline_calls == [] and again.calls == [] and result.executed == []

    # weights appear (RobustBench downloaded them): the records were not made from them
    weights = tmp_path / "models" / "cifar10" / "Linf" / "Wong2020Fast.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights v1")
    third, _ = run_with_fakes(path, out)
    assert len(third.baseline_calls) == 3 and third.calls == []
    record = read_result(folder / "eval-pgd-eps0.1.json")
    assert record.suite["baseline"]["weights_sha256"] == {
        "Wong2020Fast.pt": file_sha256(weights)}
    assert run_with_fakes(path, out)[0].baseline_calls == []
    weights.write_bytes(b"weights v2")
    assert len(run_with_fakes(path, out)[0].baseline_calls) == 3
    # without the file, the settings alone decide
    weights.unlink()
    assert run_with_fakes(path, out)[0].baseline_calls == []
    # a changed evaluation setting reruns the baseline too
    path.write_text(path.read_text().replace("n_examples = 16", "n_examples = 24"))
    changed, _ = run_with_fakes(path, out)
    assert [s["eps"] for _, s in changed.baseline_calls] == [0.1]
    assert sorted(name for name, _, _ in changed.calls) == ["bn-seed0", "saauxbn-seed0"]


# ---------------------------------------------------------------- report


def cifar_records_with_baseline(tmp_path: Path) -> Path:
    """The suite fixture records, relabelled CIFAR-10, beside the Wong2020Fast baseline's."""
    root = tmp_path / "suite"
    shutil.copytree(REPORT_FIXTURES / "suite", root)
    for path in root.glob("*/eval-*.json"):
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "dataset": "cifar10"}))
    shutil.copytree(REPORT_FIXTURES / "baseline" / "baseline-Wong2020Fast",
                    root / "baseline-Wong2020Fast")
    return root


def test_report_renders_a_baseline_row_without_std_or_bold(tmp_path: Path) -> None:
    root = cifar_records_with_baseline(tmp_path)
    results = collect_run_results([root])
    (baseline,) = [run for run in results.runs if run.baseline]
    assert (baseline.name, baseline.evaluations, baseline.label) == (
        "Wong2020Fast", 3, "Wong2020Fast (RobustBench)")
    report = render_report(results, tmp_path / "r.md", options=ReportOptions(eps=0.1))
    text = report.path.read_text()
    assert text.count("RobustBench baseline row") == 1
    assert "4 trained models in 2 groups (cifar10)" in text
    # our rows keep their labels and bold; the baseline is one plain value in every column
    assert "| BN | 81.50 ± 2.12 | **81.50 ± 2.12** |" in text
    assert "| SaAuxBN | **91.00 ± 1.41** | 79.00 ± 1.41 |" in text
    assert "| Wong2020Fast (RobustBench) | 83.00 | 83.00 |" in text
    assert "| SaAuxBN | 6.00 ± 1.41 | **46.00 ± 1.41** |" in text
    assert "| Wong2020Fast (RobustBench) | 48.00 | 48.00 |" in text
    assert "| Wong2020Fast (RobustBench) | 44.00 | 44.00 |" in text
    # the row comes after ours; eps table, cascade and runs table include it
    assert text.index("| SaAuxBN | 6.00") < text.index("| Wong2020Fast (RobustBench) | 48.00")
    assert "| Wong2020Fast (RobustBench) | 60.00 | 48.00 |" in text
    assert "| Wong2020Fast (RobustBench) | shared | 83.00 | 46.00 | 44.00 |" in text
    assert "| Wong2020Fast | Wong2020Fast (RobustBench) | 3 | - | 1m 00s |" in text

    relabel_baselines(results, {"Wong2020Fast": "Fast-AT"})
    render_report(results, tmp_path / "r2.md", options=ReportOptions(eps=0.1, rows="branch"))
    text = (tmp_path / "r2.md").read_text()
    assert "| branch | BN | SaAuxBN | Fast-AT (RobustBench) |" in text
    assert "| adv | **81.50 ± 2.12** | 79.00 ± 1.41 | 83.00 |" in text
    assert "| adv | 41.50 ± 2.12 | **46.00 ± 1.41** | 48.00 |" in text


def test_baseline_labels_are_marked() -> None:
    assert baseline_label("Wong2020Fast") == "Wong2020Fast (RobustBench)"
    assert baseline_label("Wong2020Fast", "Fast AT") == "Fast AT (RobustBench)"
    assert baseline_label("Wong2020Fast", "Fast AT [RobustBench]") == "Fast AT [RobustBench]"


# ---------------------------------------------------------------- end to end, no network


class CheckpointTrainer:
    """Writes a run folder with a real (untrained) small_cnn checkpoint, as training would."""

    def __call__(self, fields: dict[str, Any], out_dir: Path, *, resume: bool,
                 quiet: bool) -> dict[str, Any]:
        spec = ModelSpec("small_cnn", fields["norm"], 10, 3, 2, (0.5,) * 3, (0.25,) * 3,
                         {"width": fields["width"]})
        torch.manual_seed(fields["seed"])
        payload = {"model": spec.to_dict(), "state_dict": spec.build().state_dict(),
                   "dataset": "cifar10", "config": fields}
        save_checkpoint(out_dir / "best.pt", payload)
        (out_dir / "config.json").write_text(json.dumps({"config": fields}))
        record = {"kind": "training", "wall_time_s": 1.0}
        (out_dir / "train_record.json").write_text(json.dumps(record))
        return record


def tiny_zoo_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))


E2E_SUITE = """\
task = "adversarial"

[runs]
dataset = "cifar10"
model = "small_cnn"
norms = ["saauxbn"]

[runs.train]
width = 4
epochs = 1
batch_size = 4
max_train_examples = 4
data_dir = "DATA_DIR"

[[evaluations]]
name = "pgd"
attacks = ["pgd"]
eps = ["8/255"]
n_examples = 4
pgd_steps = 3
batch_size = 4

[[baselines]]
robustbench = "SabnTest_Baseline"
model_dir = "MODEL_DIR"
"""


def test_suite_evaluates_a_registered_robustbench_model_end_to_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "SabnTest_Baseline"
    register_architecture(name, tiny_zoo_model, dataset="cifar10")
    reference = tiny_zoo_model().eval()
    weights = tmp_path / "models" / "cifar10" / "Linf" / f"{name}.pt"
    weights.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), weights)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        labels = reference(images.float() / 255).argmax(1)
    labels[3] = (labels[3] + 1) % 10  # three of four right: clean accuracy 0.75
    write_fake_cifar10(tmp_path / "data", images, labels)
    # The fake files cannot match torchvision's MD5 sums; everything else is real.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity",
                        lambda path, md5=None: os.path.isfile(path))
    robustbench = import_robustbench()
    loads: list[str] = []
    real_load = robustbench.utils.load_model

    def spy(model_name: str, **kwargs: Any) -> nn.Module:
        loads.append(model_name)
        return real_load(model_name, **kwargs)

    monkeypatch.setattr(robustbench.utils, "load_model", spy)
    path = baseline_suite(tmp_path, E2E_SUITE)
    out = tmp_path / "runs"
    result = run_suite(path, out_root=out, progress=False, hooks={"train": CheckpointTrainer()},
                       report_path=out / "report.md")

    assert loads == [name]
    record = read_result(out / "tiny" / f"baseline-{name}" / "eval-pgd-eps8-255.json")
    assert record.subject["model"] == {"robustbench": name}
    assert record.subject["dataset"] == "cifar10"
    settings = settings_of(record)
    assert settings["n_examples"] == 4 and settings["eps"] == pytest.approx(8 / 255)
    (branch,) = branch_results(record).values()
    assert branch["clean_accuracy"] == 0.75
    assert 0.0 <= branch["robust_accuracy"]["pgd-3"] <= 0.75
    assert record.suite["baseline"]["weights_sha256"] == {f"{name}.pt": file_sha256(weights)}
    assert (out / "tiny" / "saauxbn-seed0" / "eval-pgd-eps8-255.json").is_file()
    assert f"| {name} (RobustBench) | 75.00 | 75.00 |" in result.report.read_text()

    again = run_suite(path, out_root=out, progress=False, hooks={"train": CheckpointTrainer()},
                      report_path=out / "report.md")
    assert again.executed == [] and loads == [name]
