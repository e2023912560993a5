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
import math
from pathlib import Path

import pytest

from robust_sabn.adversarial.record import evaluation_record
from robust_sabn.adversarial.report.collect import collect_run_results
from robust_sabn.adversarial.report.tables import group_runs
from robust_sabn.artifacts.result import Metric, new_result, read_result, write_result
from robust_sabn.artifacts.result import collect_results as read_all
from robust_sabn.errors import UserInputError
from robust_sabn.report.claims import write_claims
from robust_sabn.report.findings import NOT_TESTABLE, REPRODUCED
from robust_sabn.suites import get_task, load_suite
from robust_sabn.suites.gates import GateSpec, evaluate_gates

N = 200
SEEDS = (0, 1, 2)
CLEAN = {"bn": 160, "auxbn": 178, "control": 180}  # correct of N, seed 0 (AuxBN: -2 per seed)
PGD20 = {"bn": 0.55, "auxbn": 0.6, "control": 0.05}  # robust accuracy (write_runs(robust=True))
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


def write_runs(root: Path, robust: bool = False) -> Path:
    """The suite folder ``root/gx`` (see the module docstring); ``robust`` adds PGD-20
    accuracies at eps 0.1 (``PGD20``) to every branch."""
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
            pgd = {"pgd-20": PGD20[arm]} if robust else {}
            branches = {b: {"clean_accuracy": correct / N, "robust_accuracy": pgd,
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
     "control_minus_bn, adversarial_gain, epochs_after_best, robust_fit_gap"),
    ('[[gates]]\nname = "x"\nmetric = "clean_branch_gap"\ncompare = "=="\nthreshold = 1\n',
     "gates[2].compare: Input should be '>=', '>', '<=' or '<'"),
    ('[[gates]]\nname = "x"\nmetric = "clean_branch_gap"\ncompare = "<"\nthreshold = 1\n'
     'params = { nrom = "auxbn" }\n', "gates[2].params.nrom: unknown key; did you mean 'norm'?"),
    ('[[gates]]\nname = "x"\nmetric = "clean_branch_gap"\ncompare = "<"\nthreshold = 1\n'
     'guards = ["adv-clean"]\n', "gates[2].guards[0]: unknown claim 'adv-clean'"),
    ('[[gates]]\nname = "x"\nmetric = "epochs_after_best"\ncompare = "<"\nthreshold = 1\n'
     'params = { norms = "auxbn" }\n',
     "gates[2].params.norms: expected list like ['auxbn', 'saauxbn'], got 'auxbn'"),
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


def _gate(metric: str, compare: str, threshold: float, **params: object) -> GateSpec:
    return GateSpec(name="g", metric=metric, compare=compare, threshold=threshold,
                    params=dict(params))


def _measure(task: str, records: list, gate: GateSpec) -> tuple[float | None, bool]:
    result, = evaluate_gates([gate], get_task(task), [(Path(f"r{i}.json"), r)
                                                      for i, r in enumerate(records)])
    return result.measured.value, result.passed


@pytest.mark.parametrize(("threshold", "passed"), [(40.0, True), (60.0, False)])
def test_adversarial_gain_is_bn_pgd_accuracy_above_the_control(tmp_path: Path,
                                                              threshold: float,
                                                              passed: bool) -> None:
    records = _on_disk(write_runs(tmp_path, robust=True))
    result, = evaluate_gates([_gate("adversarial_gain", ">=", threshold)],
                             get_task("adversarial"), records)
    assert result.measured.value == pytest.approx(100 * (PGD20["bn"] - PGD20["control"]))
    assert result.passed is passed  # 50 points
    assert "pgd-20 at eps 0.1: control 5.00 % vs bn adv branch 55.00 %, 3 seeds" == (
        result.measured.detail)
    result, = evaluate_gates([_gate("adversarial_gain", ">=", 1.0, norm="auxbn")],
                             get_task("adversarial"), records)
    value = result.measured.value
    assert value == pytest.approx(100 * (PGD20["auxbn"] - PGD20["control"]))  # 55 points


def test_adversarial_gain_is_not_measurable_without_robust_accuracy(tmp_path: Path) -> None:
    result, = evaluate_gates([_gate("adversarial_gain", ">=", 1.0)], get_task("adversarial"),
                             _on_disk(write_runs(tmp_path)))
    assert result.measured.value is None and not result.passed
    assert "no control arm with pgd-20" in result.measured.detail


@pytest.mark.parametrize(("threshold", "passed"), [(5.0, True), (10.0, False)])
def test_robust_fit_gap_is_training_minus_validation_robust_accuracy(tmp_path: Path,
                                                                   threshold: float,
                                                                   passed: bool) -> None:
    """AuxBN's last epoch: training adversarial accuracy 70 / 62 / 55 % against validation PGD
    accuracy 55 % (seeds 0-2; earlier epochs 30 and 20 %): gaps +15, +7 and 0 points, median 7;
    BN and the control are not among the default norms."""
    suite = write_runs(tmp_path)
    for seed, train_adv in zip(SEEDS, (0.70, 0.62, 0.55), strict=True):
        (suite / f"auxbn-seed{seed}" / "metrics.jsonl").write_text("".join(
            json.dumps({"epoch": e, "train_adv_acc": train_adv if e == 2 else 0.3,
                        "val": {"adv": {"pgd_loss": 1.0, "pgd_acc": 0.55 if e == 2 else 0.2}}})
            + "\n" for e in range(3)))
    result, = evaluate_gates([_gate("robust_fit_gap", ">=", threshold)],
                             get_task("adversarial"), _on_disk(suite))
    assert result.measured.value == pytest.approx(7.0)
    assert result.passed is passed
    assert result.measured.detail == ("last epoch's training adversarial minus validation PGD "
                                      "accuracy (adv branch), per run: auxbn-seed0 +15.0, "
                                      "auxbn-seed1 +7.0, auxbn-seed2 +0.0")


def test_robust_fit_gap_is_not_measurable_without_training_accuracy(tmp_path: Path) -> None:
    result, = evaluate_gates([_gate("robust_fit_gap", ">=", 1.0)], get_task("adversarial"),
                             _on_disk(write_runs(tmp_path)))
    assert result.measured.value is None and not result.passed
    assert result.measured.detail.startswith("no auxbn, saauxbn run logged")


def _on_disk(suite: Path) -> list:
    return [(p, read_result(p)) for p in sorted(suite.glob("*/*.json"))]


def test_gan_gates_read_conditional_and_reference_accuracy() -> None:
    records = [new_result("gan", "reference", subject={},
                          metrics=[Metric(name="test_accuracy", value=0.92)])]
    for seed, acc in enumerate([0.84, 0.80, 0.79]):
        records.append(new_result("gan", "evaluation", subject={
            "run": f"ccbn-seed{seed}", "norm": "ccbn", "seed": seed}, metrics=[
            Metric(name="cond_acc", value=acc, condition={"features": "classifier"})]))
    records.append(new_result("gan", "evaluation", subject={"run": "sabn", "norm": "sabn"},
                              metrics=[Metric(name="cond_acc", value=0.1,
                                              condition={"features": "classifier"})]))
    value, passed = _measure("gan", records, _gate("conditional_accuracy", ">=", 80.0))
    assert value == pytest.approx(81.0) and passed  # (84 + 80 + 79) / 3, SaBN's 10 % apart
    assert _measure("gan", records, _gate("conditional_accuracy", ">=", 82.0))[1] is False
    value, passed = _measure("gan", records, _gate("reference_accuracy", ">=", 90.0))
    assert value == pytest.approx(92.0) and passed
    assert _measure("gan", records[1:], _gate("reference_accuracy", ">=", 90.0)) == (None,
                                                                                  False)


def _search(norm: str, seed: int, entropies: list[float], genotypes: list[str]) -> object:
    metrics = [Metric(name="alpha_entropy", value=h, condition={"epoch": e, "edge": str(k)})
               for e in range(len(genotypes)) for k, h in enumerate(entropies)]
    return new_result("nas", "search", subject={"run": f"{norm}-{seed}", "norm": norm,
                                                "seed": seed},
                      metrics=metrics, extras={"genotypes": genotypes})


def test_nas_gates_read_alpha_entropy_and_argmax_stability() -> None:
    uniform = math.log(5)
    records = [_search("bn", 0, [uniform - 0.2, uniform - 0.4], ["a", "b", "b", "b"]),
               _search("saauxbn", 0, [uniform - 1e-4] * 2, ["a", "b", "a", "c"])]
    value, passed = _measure("nas", records, _gate("alpha_entropy_drop", ">=", 0.1))
    assert value == pytest.approx(1e-4) and not passed  # the SaAuxBN search did not move
    value, passed = _measure("nas", records, _gate("alpha_entropy_drop", ">=", 0.1,
                                                   norms=["bn"]))
    assert value == pytest.approx(0.3) and passed
    assert _measure("nas", records, _gate("argmax_stable_epochs", ">=", 3.0,
                                          norms=["bn"])) == (3.0, True)
    assert _measure("nas", records, _gate("argmax_stable_epochs", ">=", 3.0)) == (1.0, False)


def test_nas_alpha_moved_share_gates_each_search_not_the_smallest() -> None:
    uniform = math.log(5)
    drops = {("bn", 0): 0.3, ("bn", 1): 0.12, ("bn", 2): 0.081, ("saauxbn", 0): 0.5}
    records = [_search(norm, seed, [uniform - drop + 0.01, uniform - drop - 0.01], ["a"])
               for (norm, seed), drop in drops.items()]
    gate = _gate("alpha_moved_share", ">=", 75.0)
    result, = evaluate_gates([gate], get_task("nas"), [(Path(f"r{i}.json"), r)
                                                       for i, r in enumerate(records)])
    assert result.measured.value == pytest.approx(75.0) and result.passed  # 3 of 4 >= 0.1
    assert "3 of 4 searches" in result.measured.detail
    assert "below: bn-2 0.081" in result.measured.detail
    assert _measure("nas", records, _gate("alpha_moved_share", ">=", 90.0)) == (75.0, False)
    assert _measure("nas", records, _gate("alpha_moved_share", ">=", 90.0, norms=["bn"],
                                          min_drop=0.05)) == (100.0, True)
    value, passed = _measure("nas", records, _gate("alpha_moved_share", ">=", 50.0,
                                                   norms=["bn"], min_drop=0.2))
    assert value == pytest.approx(100 / 3) and not passed  # only bn-0's 0.3 reaches 0.2
    assert _measure("nas", [], gate) == (None, False)


def test_style_gates_read_affine_shift_and_loss_flattening() -> None:
    records = [new_result("style", "evaluation", subject={"run": "saadain-seed0",
                                                          "norm": "saadain"},
                          metrics=[Metric(name="affine_shift", value=0.011)])]
    curve = [{"split": "train", "loss": loss} for loss in (9, 8, 4, 4, 2.0, 2.0, 1.9, 1.9)]
    records.append(new_result("style", "training", subject={"run": "adain-seed0"},
                              extras={"curves": curve}))
    value, passed = _measure("style", records, _gate("affine_shift", ">=", 5.0))
    assert value == pytest.approx(1.1) and not passed
    value, passed = _measure("style", records, _gate("loss_still_falling", "<=", 10.0))
    assert value == pytest.approx(5.0) and passed  # 2.0 -> 1.9 over the last two quarters
    assert _measure("style", records, _gate("output_spread", ">=", 0.01)) == (None, False)


def test_style_loss_change_gates_the_size_of_the_change_either_way_on_either_split() -> None:
    train = [{"split": "train", "loss": loss} for loss in (9, 9, 8, 8, 0.6, 0.6, 1.2, 1.2)]
    val = [{"split": "val", "loss": loss} for loss in (14.0, 11.0, 10.2, 10.1)]
    records = [new_result("style", "training", subject={"run": "adain-seed1"},
                          extras={"curves": train + val})]
    value, passed = _measure("style", records, _gate("loss_still_falling", "<=", 5.0))
    assert value == pytest.approx(-100.0) and passed  # a loss that doubled "has not fallen"
    value, passed = _measure("style", records, _gate("loss_change", "<=", 5.0))
    assert value == pytest.approx(100.0) and not passed  # 0.6 -> 1.2: it doubled
    value, passed = _measure("style", records, _gate("loss_change", "<=", 5.0, split="val"))
    assert value == pytest.approx(100 * 0.1 / 10.2) and passed  # 10.2 -> 10.1 (one row each)
    result, = evaluate_gates([_gate("loss_change", "<=", 5.0, split="test")],
                             get_task("style"), [(Path("r.json"), records[0])])
    assert not result.passed and "split 'test' is not one of train, val" in (
        result.measured.detail)
    short = [new_result("style", "training", subject={"run": "r"}, extras={"curves": val[:3]})]
    assert _measure("style", short, _gate("loss_change", "<=", 5.0, split="val")) == (None,
                                                                                     False)


def test_style_output_spread_gate_and_report_name_the_collapsed_decoder() -> None:
    from robust_sabn.style.report import collapse_sentences

    records = {run: new_result("style", "evaluation", subject={"run": run},
                               metrics=[Metric(name="output_spread", value=value)])
               for run, value in (("adain-seed0", 0.12), ("saadain-seed0", 0.0004),
                                  ("saadain-seed1", 0.09))}
    gate = _gate("output_spread", ">=", 0.01)
    result, = evaluate_gates([gate], get_task("style"), [(Path(f"{run}.json"), r)
                                                         for run, r in records.items()])
    assert result.measured.value == pytest.approx(0.0004) and not result.passed
    assert "saadain-seed0 0.0004" in result.measured.detail
    assert collapse_sentences(records) == [
        "One image for every pair: saadain-seed0 0.0004 (output spread, the pixel sd over the "
        "validation pairs of the stylized images, [0, 1] scale; the other runs' 0.090-0.120): "
        "this decoder collapsed or never learned to stylize, so its losses do not measure "
        "stylization."]
    del records["saadain-seed0"]
    assert collapse_sentences(records) == []


def test_affine_shift_is_the_rms_distance_from_identity() -> None:
    from types import SimpleNamespace

    import torch

    from robust_sabn.nn.norm import AdaIN, SaAdaIN
    from robust_sabn.style.evaluate import affine_shift_metrics

    layer = SaAdaIN(4)
    with torch.no_grad():
        layer.shared_weight.copy_(torch.tensor([1.0, 1.0, 1.2, 0.8]))
        layer.shared_bias.copy_(torch.tensor([0.0, 0.1, 0.0, 0.0]))
    shift, = affine_shift_metrics(SimpleNamespace(transfer=layer), step=7)  # type: ignore[arg-type]
    assert shift.value == pytest.approx(math.sqrt((0.04 + 0.04 + 0.01) / 4))
    assert shift.condition == {"step": 7}
    assert affine_shift_metrics(SimpleNamespace(transfer=AdaIN(4)), step=7) == []  # type: ignore[arg-type]


def test_report_grouping_and_gates_take_the_same_runs_for_the_control(tmp_path: Path) -> None:
    """The report's clean-trained group and the gates' control (loss "clean") are the same
    runs of the fixture, and no hybrid-trained run is among them."""
    results = collect_run_results([write_runs(tmp_path)])
    controls = {f"control-seed{seed}" for seed in SEEDS}
    assert {run.name for run in results.runs if run.clean_trained} == controls
    assert {run.name for run in results.runs if run.is_control("clean")} == controls
    hybrid = {run.name for run in results.runs if run.is_control("hybrid")}
    assert hybrid == {f"{norm}-seed{seed}" for norm in ("bn", "auxbn") for seed in SEEDS}
    groups = group_runs(results)
    assert [{r.name for r in g.runs} for g in groups if g.norm is None] == [controls]
    # the gate's control arm: 90 % clean, 10 points above BN's 80 % in every seed
    gate = _gate("control_minus_bn", ">=", 5.0, reference="bn", control_loss="clean")
    result, = evaluate_gates([gate], get_task("adversarial"), read_all([tmp_path])[0])
    assert result.measured.value == pytest.approx(10.0) and result.passed


def test_suites_readme_lists_every_gate_metric_of_every_task() -> None:
    from robust_sabn.suites.gates import task_gate_metrics
    from robust_sabn.suites.tasks import task_kinds

    text = (Path(__file__).parents[1] / "suites" / "README.md").read_text()
    rows = {(line.split("|")[1].strip(), line.split("|")[2].strip().strip("`"))
            for line in text.splitlines() if line.startswith("| ") and "`" in line}
    for kind in task_kinds():
        for name, metric in task_gate_metrics(get_task(kind)).items():
            assert (kind, name) in rows, f"suites/README.md has no row for {kind} {name}"
            row = next(line for line in text.splitlines() if f"| `{name}` |" in line)
            assert f"| {metric.unit} |" in row, f"{name}: unit {metric.unit!r} not in its row"
