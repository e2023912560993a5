"""Suites: parsing and checking suite files, skip-if-done and resume with fake train/evaluate
functions, and `robust-sabn suite list`."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from robust_sabn.adversarial.record import evaluation_record
from robust_sabn.adversarial.suite_task import AdversarialTask
from robust_sabn.artifacts.result import ResultRecord, read_result
from robust_sabn.cli.suite import app as suite_app
from robust_sabn.errors import UserInputError
from robust_sabn.suites import get_task, load_suite, run_suite, suite_status, task_kinds

SUITES_DIR = Path(__file__).resolve().parents[1] / "suites"

SMALL_SUITE = """\
task = "adversarial"
description = "tiny test suite"

[runs]
dataset = "fashion-mnist"
model = "small_cnn"
norms = ["bn", "saauxbn"]
seeds = [0, 1]

[runs.train]
width = 4
epochs = 2
batch_size = 16
max_train_examples = 64
eps = "8/255"

[[runs.override]]
norms = ["bn"]
seeds = [1]
train = { lr = 0.02 }

[[evaluations]]
name = "pgd"
attacks = ["pgd"]
eps = [0.05, 0.1]
n_examples = 32

[[evaluations]]
name = "aa"
attacks = ["autoattack"]
eps = [0.1]
n_examples = 16
branches = ["adv"]

[comparison]
metrics = ["clean", "pgd-20", "autoattack-standard"]
eps = 0.1
"""


def write_suite(folder: Path, text: str = SMALL_SUITE, name: str = "tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- parsing


def test_valid_suite_expands_norms_times_seeds_with_overrides(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path))
    plan = suite.plan
    assert suite.name == "tiny" and suite.task == "adversarial"
    assert [r.run_id for r in plan.runs] == ["bn-seed0", "bn-seed1", "saauxbn-seed0",
                                             "saauxbn-seed1"]
    configs = {r.run_id: r.config for r in plan.runs}
    assert configs["bn-seed0"] == {
        "dataset": "fashion-mnist", "model": "small_cnn", "norm": "bn", "seed": 0, "width": 4,
        "epochs": 2, "batch_size": 16, "max_train_examples": 64, "eps": 8 / 255,
    }
    assert configs["bn-seed1"]["lr"] == 0.02
    assert all("lr" not in configs[r] for r in ("bn-seed0", "saauxbn-seed0", "saauxbn-seed1"))
    pgd, aa = plan.evaluations
    assert (pgd.name, pgd.eps, pgd.n_examples, pgd.branches) == ("pgd", (0.05, 0.1), 32, None)
    assert pgd.metrics() == ["pgd-20"] and aa.metrics() == ["autoattack-standard"]
    assert aa.branches == ("adv",)
    assert plan.comparison.metrics == ("clean", "pgd-20", "autoattack-standard")
    assert plan.comparison.eps == 0.1


def test_shipped_suites_parse() -> None:
    fmnist = load_suite(SUITES_DIR / "adversarial-fmnist.toml")
    assert len(fmnist.plan.runs) == 12  # 3 norms and the clean-trained control, 3 seeds
    assert {r.norm for r in fmnist.plan.runs} == {"bn", "auxbn", "saauxbn"}
    controls = [r for r in fmnist.plan.runs if r.run_id.startswith("control-")]
    assert len(controls) == 3 and {r.config["loss"] for r in controls} == {"clean"}
    assert sum(len(e.eps) for e in fmnist.plan.evaluations) == 3
    assert fmnist.plan.evaluations[2].autoattack_attacks == ("apgd-ce",)
    gates = {"auxbn-clean-branch", "saauxbn-clean-branch", "control-above-bn",
             "training-adversarial", "room-to-overfit", "fits-training-set"}
    assert {g.name for g in fmnist.gates} == gates
    quick = load_suite(SUITES_DIR / "adversarial-fmnist-quick.toml")
    assert len(quick.plan.runs) == 9 and quick.plan.evaluations[0].attacks == ()
    cifar = load_suite(SUITES_DIR / "adversarial-cifar10.toml")
    assert {r.config["preset"] for r in cifar.plan.runs} == {"paper-cifar10"}
    assert {g.name for g in cifar.gates} == gates  # the paper's recipe carries the same gates
    assert len([r for r in cifar.plan.runs if r.run_id.startswith("control-")]) == 3
    assert cifar.plan.comparison.eps == pytest.approx(8 / 255)


@pytest.mark.parametrize(("cpu", "paper", "gates"), [
    ("gan-fmnist", "gan-cifar10", {"ccbn-conditional", "judge-accuracy"}),
    ("nas-fmnist", "nas-cifar", {"alpha-moved"}),
    ("style-fmnist", "style-coco-wikiart", {"affine-moved", "decoders-alive",
                                            "validation-settled", "training-settled"}),
])
def test_paper_recipes_carry_the_cpu_suites_gates(cpu: str, paper: str, gates: set) -> None:
    ours, theirs = (load_suite(SUITES_DIR / f"{name}.toml") for name in (cpu, paper))
    assert gates <= {g.name for g in ours.gates}
    assert {(g.name, g.metric, g.threshold) for g in theirs.gates} <= {
        (g.name, g.metric, g.threshold) for g in ours.gates}
    assert gates <= {g.name for g in theirs.gates}


BAD_FILES = [
    # (description, edit of SMALL_SUITE, expected message fragments)
    ("toml syntax", ("norms = [", "norms = [[", 1), ["invalid TOML", "line 8"]),
    ("unknown norm", ('norms = ["bn", "saauxbn"]', 'norms = ["bn", "saauxbn", "sa-aux"]', 1),
     ["runs.norms[2]: unknown norm 'sa-aux'; choose one of bn, ccbn, sabn, auxbn, saauxbn"]),
    ("unknown dataset", ('dataset = "fashion-mnist"', 'dataset = "mnist"', 1),
     ["runs.dataset: unknown dataset 'mnist'; choose one of", "fashion-mnist"]),
    ("unknown model", ('model = "small_cnn"', 'model = "resnet50"', 1),
     ["runs.model: unknown model 'resnet50'; choose one of", "small_cnn"]),
    ("unknown key", ("seeds = [0, 1]", "seed = [0, 1]", 1),
     ["runs.seed: unknown key; did you mean 'seeds'?"]),
    ("wrong type", ("seeds = [0, 1]", 'seeds = "0"', 1),
     ["runs.seeds: expected a list, got a string"]),
    ("wrong item type", ("width = 4", "width = 4.5", 1),
     ["runs.train.width: expected an integer, got a number"]),
    ("bad choice", ("epochs = 2", 'epochs = 2\nschedule = "linear"', 1),
     ["runs.train.schedule: unknown value 'linear'; choose one of multistep, cosine"]),
    ("matrix key in train", ("epochs = 2", "epochs = 2\nseed = 3", 1),
     ["runs.train.seed: set seed in [runs]"]),
    ("task kind", ('task = "adversarial"', 'task = "quantum"', 1),
     ["task: unknown suite task kind 'quantum'; choose one of adversarial"]),
    ("unknown attack", ('attacks = ["pgd"]', 'attacks = ["pdg"]', 1),
     ["evaluations[0].attacks[0]: unknown attack 'pdg'"]),
    ("bad eps", ("eps = [0.05, 0.1]", 'eps = [0.05, "8/0"]', 1),
     ["evaluations[0].eps[1]: cannot read eps '8/0'"]),
    ("override seed", ("seeds = [1]", "seeds = [7]", 1),
     ["runs.override[0].seeds[0]: seed 7 is not in runs.seeds"]),
    ("unmeasured metric", ('metrics = ["clean", "pgd-20", "autoattack-standard"]',
                           'metrics = ["clean", "pgd-10"]', 1),
     ["comparison.metrics[1]: unknown metric 'pgd-10'; choose one of clean, pgd-20, "
      "autoattack-standard"]),
    ("eps not evaluated", ("eps = 0.1\n", "eps = 0.2\n", -1),
     ["comparison.eps: 0.2 is in no evaluation's eps list"]),
    ("twice measured", ("eps = [0.05, 0.1]", "eps = [0.05, 0.1]\n[[evaluations]]\nname = 'p2'\n"
                        "attacks = ['pgd']\neps = [0.1]", 1),
     ["evaluations[1].eps: pgd-20 at eps 0.1 is already measured by evaluations[0]"]),
    ("train config check", ("max_train_examples = 64", "max_train_examples = 8", 1),
     ["runs (bn-seed0): max_train_examples 8 is below one batch"]),
]


@pytest.mark.parametrize(("what", "edit", "fragments"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_suite_file_names_file_and_key(tmp_path: Path, what: str,
                                           edit: tuple[str, str, int], fragments: list[str]
                                           ) -> None:
    old, new, count = edit
    assert old in SMALL_SUITE, what
    if count == -1:
        head, _, tail = SMALL_SUITE.rpartition(old)
        text = head + new + tail
    else:
        text = SMALL_SUITE.replace(old, new, count)
    path = write_suite(tmp_path, text)
    with pytest.raises(UserInputError) as info:
        load_suite(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_sections_are_named(tmp_path: Path) -> None:
    path = write_suite(tmp_path, 'task = "adversarial"\n[runs]\ndataset = "fashion-mnist"\n'
                                 'model = "small_cnn"\nnorms = ["bn"]\n')
    with pytest.raises(UserInputError, match=r"evaluations: missing; add at least one"):
        load_suite(path)
    path = write_suite(tmp_path, 'description = "no task"\n')
    with pytest.raises(UserInputError, match=r"task: missing; add it to the top level"):
        load_suite(path)


def test_the_installed_task_kinds_are_the_four_built_in_ones() -> None:
    assert task_kinds() == ["adversarial", "gan", "nas", "style"]
    assert isinstance(get_task("adversarial"), AdversarialTask)
    with pytest.raises(UserInputError, match=r"unknown task 'nope'; choose one of adversarial"):
        get_task("nope")


# ---------------------------------------------------------------- running with fakes


class FakeTrainer:
    """Writes a run folder as robust_sabn.train does; can stop after writing last.pt."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.kill: str | None = None

    def __call__(self, fields: dict[str, Any], out_dir: Path, *, resume: bool,
                 quiet: bool) -> dict[str, Any]:
        self.calls.append((out_dir.name, resume))
        if not resume:
            assert not (out_dir / "last.pt").exists(), "fresh training needs an empty folder"
        weights = json.dumps(fields, sort_keys=True).encode()
        (out_dir / "config.json").write_text(json.dumps({"config": {**fields, "gamma": 0.1}}))
        (out_dir / "last.pt").write_bytes(weights)
        if self.kill == out_dir.name:
            self.kill = None
            raise KeyboardInterrupt
        (out_dir / "best.pt").write_bytes(weights)
        rows = [{"epoch": e, "train_loss": 1.0 / (e + 1),
                 "val": {"adv": {"clean_acc": 0.5, "pgd_acc": 0.3}}} for e in range(2)]
        (out_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        record = {"kind": "training", "wall_time_s": 12.0}
        (out_dir / "train_record.json").write_text(json.dumps(record))
        return record


class FakeEvaluator:
    """Returns an evaluation record with accuracies derived from the eps."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, dict[str, Any]]] = []

    def __call__(self, checkpoint: Path, **settings: Any) -> ResultRecord:
        self.calls.append((checkpoint.parent.name, settings["eps"], settings))
        norm = checkpoint.parent.name.split("-")[0]
        branches = ["shared"] if norm == "bn" else settings["branches"] or ["clean", "adv"]
        keys = {"pgd": f"pgd-{settings['pgd_steps']}",
                "autoattack": f"autoattack-{settings['version']}"}
        return evaluation_record(
            subject={"model": {"name": "small_cnn", "norm": norm, "kwargs": {}}, "norm": norm,
                     "checkpoint": str(checkpoint),
                     "checkpoint_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
                     "dataset": "fashion-mnist", "split": "test"},
            settings={"n_examples": settings["n_examples"], "threat_model": "Linf",
                      "eps": settings["eps"], "seed": 0},
            branches={b: {"clean_accuracy": 0.9, "robust_accuracy": {
                keys[a]: 0.5 - settings["eps"] for a in settings["attacks"]}} for b in branches},
            wall_time_s=1.0,
        )


def trained(trainer: FakeTrainer) -> list[str]:
    return [name for name, _ in trainer.calls]


def run_fake(path: Path, out: Path, trainer: FakeTrainer, evaluator: FakeEvaluator,
             **kwargs: Any) -> Any:
    return run_suite(path, out_root=out, progress=False,
                     hooks={"train": trainer, "evaluate": evaluator},
                     report_path=out / "report.md", **kwargs)


def test_second_run_skips_everything_and_changed_config_reruns_one_run(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    trainer, evaluator = FakeTrainer(), FakeEvaluator()
    result = run_fake(path, out, trainer, evaluator)
    assert trained(trainer) == ["bn-seed0", "bn-seed1", "saauxbn-seed0", "saauxbn-seed1"]
    assert all(resume is False for _, resume in trainer.calls)
    assert len(evaluator.calls) == 4 * 3
    assert (out / "tiny" / "saauxbn-seed1" / "eval-pgd-eps0.05.json").is_file()
    assert (out / "tiny" / "saauxbn-seed1" / "eval-aa-eps0.1.json").is_file()
    # plain-BN runs are evaluated on their one branch; the others on the listed branches
    aa_calls = {name: s["branches"] for name, _, s in evaluator.calls
                if s["attacks"] == ["autoattack"]}
    assert aa_calls == {"bn-seed0": None, "bn-seed1": None, "saauxbn-seed0": ["adv"],
                        "saauxbn-seed1": ["adv"]}
    assert result.report == out / "report.md"
    report = result.report.read_text()
    assert "| SaAuxBN |" in report and "robust-sabn suite run" in report
    assert suite_status(path, out_root=out).complete

    trainer2, evaluator2 = FakeTrainer(), FakeEvaluator()
    again = run_fake(path, out, trainer2, evaluator2)
    assert trainer2.calls == [] and evaluator2.calls == []
    assert len(again.skipped) == 4 + 12 and again.executed == []

    changed = SMALL_SUITE.replace("train = { lr = 0.02 }", "train = { lr = 0.03 }")
    path.write_text(changed)
    trainer3, evaluator3 = FakeTrainer(), FakeEvaluator()
    run_fake(path, out, trainer3, evaluator3)
    assert trainer3.calls == [("bn-seed1", False)]
    assert sorted({name for name, _, _ in evaluator3.calls}) == ["bn-seed1"]
    assert len(evaluator3.calls) == 3


def test_changed_evaluation_settings_rerun_evaluations_only(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    run_fake(path, out, FakeTrainer(), FakeEvaluator())
    path.write_text(SMALL_SUITE.replace("n_examples = 32", "n_examples = 48"))
    trainer, evaluator = FakeTrainer(), FakeEvaluator()
    run_fake(path, out, trainer, evaluator)
    assert trainer.calls == []
    assert sorted((name, eps) for name, eps, _ in evaluator.calls) == [
        (run, eps) for run in ("bn-seed0", "bn-seed1", "saauxbn-seed0", "saauxbn-seed1")
        for eps in (0.05, 0.1)]


def test_a_changed_batch_size_reruns_the_evaluations_it_seeds(tmp_path: Path) -> None:
    """Batch b's attacks are seeded with seed + b, so the batch size decides the flags."""
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    run_fake(path, out, FakeTrainer(), FakeEvaluator())
    path.write_text(SMALL_SUITE.replace('name = "aa"', 'name = "aa"\nbatch_size = 8'))
    trainer, evaluator = FakeTrainer(), FakeEvaluator()
    run_fake(path, out, trainer, evaluator)
    assert trainer.calls == []
    assert sorted(name for name, _, _ in evaluator.calls) == [
        "bn-seed0", "bn-seed1", "saauxbn-seed0", "saauxbn-seed1"]
    assert {s["batch_size"] for _, _, s in evaluator.calls} == {8}


def test_records_made_before_per_batch_seeding_are_not_done(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    run_fake(path, out, FakeTrainer(), FakeEvaluator())
    older = out / "tiny" / "bn-seed0" / "eval-pgd-eps0.1.json"
    document = json.loads(older.read_text())
    assert document["suite"]["settings"]["seeding"] == "seed + batch index"
    del document["suite"]["settings"]["seeding"]
    older.write_text(json.dumps(document))
    evaluator = FakeEvaluator()
    run_fake(path, out, FakeTrainer(), evaluator)
    assert [(name, eps) for name, eps, _ in evaluator.calls] == [("bn-seed0", 0.1)]


def test_killed_suite_resumes_the_half_trained_run(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    trainer, evaluator = FakeTrainer(), FakeEvaluator()
    trainer.kill = "saauxbn-seed0"
    with pytest.raises(KeyboardInterrupt):
        run_fake(path, out, trainer, evaluator)
    assert trained(trainer) == ["bn-seed0", "bn-seed1", "saauxbn-seed0"]
    status = suite_status(path, out_root=out)
    assert status.counts == {"train": (2, 4), "evaluate": (6, 12)}
    assert status.summary() == "train 2/4, evaluate 6/12"

    trainer2, evaluator2 = FakeTrainer(), FakeEvaluator()
    run_fake(path, out, trainer2, evaluator2)
    assert trainer2.calls == [("saauxbn-seed0", True), ("saauxbn-seed1", False)]
    assert sorted({name for name, _, _ in evaluator2.calls}) == ["saauxbn-seed0",
                                                                 "saauxbn-seed1"]


def test_force_recomputes_everything_from_scratch(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    run_fake(path, out, FakeTrainer(), FakeEvaluator())
    trainer, evaluator = FakeTrainer(), FakeEvaluator()
    run_fake(path, out, trainer, evaluator, force=True)
    assert trainer.calls == [(r, False) for r in ("bn-seed0", "bn-seed1", "saauxbn-seed0",
                                                  "saauxbn-seed1")]
    assert len(evaluator.calls) == 12


def test_suite_runs_by_name_from_the_suites_folder(tmp_path: Path) -> None:
    write_suite(tmp_path / "suites")
    trainer = FakeTrainer()
    result = run_suite("tiny", suites_dir=tmp_path / "suites", out_root=tmp_path / "runs",
                       progress=False, hooks={"train": trainer, "evaluate": FakeEvaluator()},
                       report_path=tmp_path / "r.md")
    assert result.suite_dir == tmp_path / "runs" / "tiny" and len(trainer.calls) == 4
    with pytest.raises(UserInputError, match=r"no suite 'nope' .*known suites: .*tiny"):
        run_suite("nope", suites_dir=tmp_path / "suites")


# ---------------------------------------------------------------- suite list


def row(table: str, name: str) -> str:
    """The line of a rich table whose first cell is ``name``."""
    return next(line for line in table.splitlines() if line.strip("│ ").startswith(name + " "))


def test_suite_list_shows_status(tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    path = write_suite(suites)
    write_suite(suites, 'task = "gan"\n', name="broken")
    out = tmp_path / "runs"
    runner = CliRunner(env={"COLUMNS": "200"})
    args = ["list", "--suites-dir", str(suites), "--out", str(out)]
    before = runner.invoke(suite_app, args)
    assert before.exit_code == 0, before.output
    tiny = row(before.output, "tiny")
    assert "train 0/4, evaluate 0/12" in tiny and "adversarial" in tiny
    assert "invalid" in row(before.output, "broken")

    trainer = FakeTrainer()
    trainer.kill = "saauxbn-seed1"
    with pytest.raises(KeyboardInterrupt):
        run_fake(path, out, trainer, FakeEvaluator())
    after = runner.invoke(suite_app, args)
    assert "train 3/4, evaluate 9/12" in row(after.output, "tiny")


class DivergingTrainer(FakeTrainer):
    """Writes what robust_sabn.train leaves when the loss becomes NaN in the first epoch."""

    def __call__(self, fields: dict[str, Any], out_dir: Path, *, resume: bool,
                 quiet: bool) -> dict[str, Any]:
        self.calls.append((out_dir.name, resume))
        (out_dir / "config.json").write_text(json.dumps({"config": {**fields, "gamma": 0.1}}))
        message = "training diverged at epoch 0, step 3: the loss is nan; lower --lr"
        record = {"kind": "training", "schema_version": 1, "status": "diverged",
                  "diverged": {"epoch": 0, "step": 3, "loss": "nan", "message": message}}
        (out_dir / "train_record.json").write_text(json.dumps(record))
        raise UserInputError(message)


def test_a_diverged_run_is_not_evaluated_and_stops_the_suite_with_its_message(
        tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    trainer, evaluator = DivergingTrainer(), FakeEvaluator()
    with pytest.raises(UserInputError, match="diverged at epoch 0, step 3"):
        run_fake(path, out, trainer, evaluator)
    assert evaluator.calls == []
    assert suite_status(path, out_root=out).counts["train"] == (0, 4)
    # running again does not retrain the diverged run: it names it and what to do
    with pytest.raises(UserInputError, match=r"bn-seed0 diverged: .*change its options"):
        run_fake(path, out, trainer, evaluator)
    assert trainer.calls == [("bn-seed0", False)]
    # a version-1 record (robust-sabn 0.1) stays readable (the adversarial task upgrades it)
    record = read_result(out / "tiny" / "bn-seed0" / "train_record.json")
    assert record.status == "diverged"


def test_a_temporary_file_left_by_a_killed_write_is_removed_by_the_next_suite_run(
        tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    torn = out / "tiny" / "bn-seed0" / ".eval-pgd-eps0.1.json.x1y2z3ab.tmp"
    torn.parent.mkdir(parents=True)
    torn.write_text("{")
    run_fake(path, out, FakeTrainer(), FakeEvaluator())
    assert not torn.exists()


def _first_seeds(table: dict[str, Any]) -> list[int] | None:
    """The first ``seeds`` list in a suite file's table, depth first in file order."""
    if isinstance(table.get("seeds"), list):
        return table["seeds"]
    for value in table.values():
        found = _first_seeds(value) if isinstance(value, dict) else None
        if found is not None:
            return found
    return None


def test_the_suites_readme_lists_every_suite_with_its_seed_count() -> None:
    suites = Path(__file__).resolve().parents[1] / "suites"
    rows = re.findall(r"^\| `([\w-]+)` \| (\w+) \| [^|]+ \| (\d+) \|",
                      (suites / "README.md").read_text(), re.MULTILINE)
    listed = {name: (task, int(seeds)) for name, task, seeds in rows}
    files = {path.stem: tomllib.loads(path.read_text()) for path in suites.glob("*.toml")}
    assert set(listed) == set(files)
    for name, table in files.items():
        seeds = _first_seeds(table)
        assert seeds is not None, name
        assert listed[name] == (table["task"], len(seeds)), name

