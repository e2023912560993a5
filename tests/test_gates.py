"""Validity gates: parsed from a suite file's ``[[gates]]``, measured from fixture records by the
adversarial task, printed in the suite report, and turning a gated claim row into "not testable
at this scale" on the claims page.

Fixture (``gx``, written per test): BN and AuxBN under PGD-AT and a clean-only control arm
(plain BN, ``loss = "clean"``) at seeds 0-2, clean accuracy on 200 points. Control 90 %, AuxBN's
clean branch 89 % (seed 0), 88 % (seed 1), 87 % (seed 2), BN 80 %: the clean-branch gap is
2 points, the control is 10 points above BN. Validation PGD losses have their lowest epoch
1 epoch before the last for AuxBN (epochs after the best: 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robust_sabn.adversarial.record import evaluation_record
from robust_sabn.artifacts.result import new_result, write_result
from robust_sabn.errors import UserInputError
from robust_sabn.report.claims import NOT_TESTABLE, REPRODUCED, write_claims
from robust_sabn.suites import get_task, load_suite

N = 200
SEEDS = (0, 1, 2)
CLEAN = {"bn": 160, "auxbn": 178, "control": 180}  # correct of N, seed 0 (AuxBN: -2 per seed)
SUITE = """
task = "adversarial"
[runs]
dataset = "fashion-mnist"
model = "small_cnn"
norms = ["bn", "auxbn"]
seeds = [0, 1, 2]
[[evaluations]]
name = "clean"
eps = [0.1]
[comparison]
metrics = ["clean"]
eps = 0.1

[[gates]]
name = "auxbn-clean-branch"
metric = "clean_branch_gap"
params = { norm = "auxbn" }
compare = "<="
threshold = {gap}
guards = ["adv-clean-auxbn"]
why = "the clean branch specialised"

[[gates]]
name = "control-above-bn"
metric = "control_minus_bn"
compare = ">="
threshold = 5.0

[effects]
adv-clean-auxbn = 3.0
"""


def _correct(arm: str, seed: int) -> int:
    return CLEAN[arm] - (2 * seed if arm == "auxbn" else 0)


def write_runs(root: Path) -> Path:
    """The suite folder ``root/gx`` (see the module docstring)."""
    suite = root / "gx"
    for arm in CLEAN:
        norm = "bn" if arm == "control" else arm
        for seed in SEEDS:
            run = suite / f"{arm}-seed{seed}"
            run.mkdir(parents=True)
            config = {"seed": seed, "eps": 0.1, "norm": norm,
                      "loss": "clean" if arm == "control" else "hybrid"}
            write_result(run / "train_record.json", new_result(
                "adversarial", "training", subject={"config": config}))
            branch = "shared" if norm == "bn" else "adv"
            (run / "metrics.jsonl").write_text("".join(
                json.dumps({"epoch": e, "val": {branch: {"pgd_loss": loss}}}) + "\n"
                for e, loss in enumerate([1.5, 1.2, 1.1, 1.3])))
            correct = _correct(arm, seed)
            branches = {b: {"clean_accuracy": correct / N, "robust_accuracy": {},
                            "flags": {"clean": [i < correct for i in range(N)]}}
                        for b in (["shared"] if norm == "bn" else ["clean", "adv"])}
            record = evaluation_record(
                subject={"model": {"name": "small_cnn", "norm": norm}, "norm": norm,
                         "dataset": "fashion-mnist", "split": "test"},
                settings={"eps": 0.1, "n_examples": N, "seed": 0, "threat_model": "Linf"},
                branches=branches, wall_time_s=1.0)
            record.suite = {"name": "gx", "run": run.name}
            write_result(run / "eval-clean-eps0.1.json", record)
    return suite


def suite_file(folder: Path, gap: float = 2.5, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gx.toml"
    path.write_text(SUITE.replace("{gap}", str(gap)) + extra)
    return path


def test_gates_are_parsed_with_their_metric_parameters(tmp_path: Path) -> None:
    suite = load_suite(suite_file(tmp_path))
    first, second = suite.gates
    assert (first.name, first.metric, first.params, first.compare, first.threshold,
            first.guards) == ("auxbn-clean-branch", "clean_branch_gap", {"norm": "auxbn"},
                              "<=", 2.5, ("adv-clean-auxbn",))
    assert second.guards is None and second.guards_claim("adv-pgd-saauxbn-bn")
    assert dict(suite.effects) == {"adv-clean-auxbn": 3.0}


@pytest.mark.parametrize(("extra", "message"), [
    ('[[gates]]\nname = "x"\nmetric = "fid"\ncompare = ">="\nthreshold = 1\n',
     "gates[2].metric: unknown gate metric 'fid'; choose one of clean_branch_gap, "
     "control_minus_bn, epochs_after_best"),
    ('[[gates]]\nname = "x"\nmetric = "clean_branch_gap"\ncompare = "=="\nthreshold = 1\n',
     "gates[2].compare: Input should be '>=', '>', '<=' or '<'"),
    ('[[gates]]\nname = "x"\nmetric = "clean_branch_gap"\ncompare = "<"\nthreshold = 1\n'
     'params = { nrom = "auxbn" }\n', "gates[2].params.nrom: unknown key; did you mean 'norm'?"),
    ('[[gates]]\nname = "x"\nmetric = "clean_branch_gap"\ncompare = "<"\nthreshold = 1\n'
     'guards = ["adv-clean"]\n', "gates[2].guards[0]: unknown claim 'adv-clean'"),
    ('[[gates]]\nname = "control-above-bn"\nmetric = "clean_branch_gap"\ncompare = "<"\n'
     'threshold = 1\n', "gates[2].name: 'control-above-bn' names another gate too"),
])
def test_bad_gates_are_refused_naming_the_key(tmp_path: Path, extra: str, message: str
                                              ) -> None:
    with pytest.raises(UserInputError, match=r"gx\.toml: ") as error:
        load_suite(suite_file(tmp_path, extra=extra))
    assert message in str(error.value)


def test_unknown_effect_claim_is_refused(tmp_path: Path) -> None:
    path = suite_file(tmp_path)
    path.write_text(path.read_text().replace("adv-clean-auxbn = 3.0", "adv-clean = 3.0"))
    with pytest.raises(UserInputError, match=r"effects\.adv-clean: unknown claim"):
        load_suite(path)


@pytest.mark.parametrize(("gap", "passed"), [(2.5, "**yes**"), (1.5, "**no**")])
def test_suite_report_prints_each_gate_with_its_measured_value(tmp_path: Path, gap: float,
                                                               passed: str) -> None:
    write_runs(tmp_path / "runs")
    suite = load_suite(suite_file(tmp_path / "suites", gap))
    report = get_task("adversarial").render_report(suite, tmp_path / "runs" / "gx",
                                                   tmp_path / "gx.md", "robust-sabn suite run gx")
    text = report.read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()
            if line.startswith("| auxbn-") or line.startswith("| control-")}
    # gap: control 90 % minus AuxBN clean branch 89, 88, 87 % -> 2 points
    assert (f"| auxbn-clean-branch | clean_branch_gap | <= {gap:g} points | 2 points | "
            f"{passed} | control 90.00 % vs auxbn clean branch 88.00 %, 3 seeds |"
            ) in rows["auxbn-clean-branch"]
    assert "| 10 points | **yes** |" in rows["control-above-bn"]
    assert text.index("## Validity gates") < text.index("## How this report was made")


@pytest.mark.parametrize(("gap", "verdict"), [(2.5, REPRODUCED), (1.5, NOT_TESTABLE)])
def test_failing_gate_makes_the_claim_not_testable(tmp_path: Path, gap: float, verdict: str
                                                   ) -> None:
    write_runs(tmp_path / "records")
    suites = tmp_path / "suites"
    suite_file(suites, gap)
    text = write_claims([tmp_path / "records"], tmp_path / "claims.md",
                        suites_dir=suites).read_text()
    row = next(line for line in text.splitlines()
               if line.startswith("| AuxBN clean branch minus BN") and "| gx:" in line)
    assert row.endswith(f"| **{verdict}** |")
    gate = "passed" if verdict == REPRODUCED else "FAILED"
    assert (f"| auxbn-clean-branch: {gate} (clean_branch_gap 2 points, needs <= {gap:g} "
            "points); control-above-bn: passed (control_minus_bn 10 points, needs >= 5 "
            "points) |") in row
    if verdict == NOT_TESTABLE:
        assert ("(gate: auxbn-clean-branch, clean_branch_gap <= 1.5 points, measured 2 "
                "points)") in row
    # AuxBN minus BN: +9, +8, +7 points, sd 1; power at the stated 3 points
    assert "at 3 points; 80 % at >= " in row and "(sd 1, 3 seeds)" in row
    tests = 1 if verdict == REPRODUCED else 0
    assert f"Tests: {tests} ({tests} reproduced" in text
