"""The claims page from fixture records of every verdict kind, the per-example comparisons and
the power table of the adversarial report, and `robust-sabn claims` / `suite plan`.

Fixture (written per test into tmp_path): a suite ``fx`` of BN, AuxBN and SaAuxBN at seeds 0-4,
each with a clean record on 200 points (both branches) and a PGD-20 record on 200 points
(adversarial branch), flags included, and metrics.jsonl with a validation PGD loss per epoch.
AuxBN's clean branch beats BN by 10 points in every seed (reproduced); SaAuxBN's PGD-20 is 6
points below BN in every seed (contradicted); SaAuxBN minus AuxBN PGD-20 alternates +-1 point
(not resolved); GAN records give SaBN a lower FID in all three seeds (reproduced); no NAS or
style records (not run).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from npz_helpers import run_cli
from typer.testing import CliRunner

from robust_sabn.adversarial.record import evaluation_record
from robust_sabn.adversarial.report import collect_run_results, render_report
from robust_sabn.adversarial.report.paired import seed_comparisons
from robust_sabn.adversarial.report.power import power_rows
from robust_sabn.adversarial.report.tables import group_runs
from robust_sabn.artifacts.result import Metric, new_result, write_result
from robust_sabn.cli import app
from robust_sabn.report.claims import collect_findings, write_claims
from robust_sabn.report.findings import CONTRADICTED, NOT_RESOLVED, NOT_RUN, REPRODUCED

N = 200
FX_SUITE = """
task = "adversarial"
[runs]
dataset = "fashion-mnist"
model = "small_cnn"
norms = ["bn", "auxbn", "saauxbn"]
seeds = [0, 1, 2, 3, 4]
[[evaluations]]
name = "clean"
eps = [0.1]
[[evaluations]]
name = "pgd"
attacks = ["pgd"]
eps = [0.1]
[comparison]
metrics = ["clean", "pgd-20"]
eps = 0.1
"""
SEEDS = range(5)
# correct examples (out of N) per norm: clean on the clean branch, clean and PGD-20 on adv
CLEAN_BRANCH = {"bn": 160, "auxbn": 180, "saauxbn": 182}
PGD = {"bn": 100, "auxbn": 90}


def _pgd(norm: str, seed: int) -> int:
    """SaAuxBN: 6 points below BN; AuxBN: +-1 point around SaAuxBN, alternating by seed."""
    if norm == "saauxbn":
        return 88
    return PGD[norm] if norm == "bn" else 88 + (2 if seed % 2 else -2)


def _flags(correct: int, shift: int) -> list[bool]:
    """N flags, ``correct`` of them true, starting at ``shift`` (so runs differ per example)."""
    return [(i - shift) % N < correct for i in range(N)]


def _branches(norm: str, seed: int, attack: str | None) -> dict[str, dict]:
    names = ["shared"] if norm == "bn" else (["clean", "adv"] if attack is None else ["adv"])
    out = {}
    for branch in names:
        clean = CLEAN_BRANCH[norm] if branch != "adv" else 150
        entry: dict = {"clean_accuracy": clean / N, "robust_accuracy": {},
                       "flags": {"clean": _flags(clean, seed)}}
        if attack:
            k = _pgd(norm, seed)
            entry["robust_accuracy"][attack] = k / N
            entry["flags"][attack] = _flags(k, 3 * seed)
        out[branch] = entry
    return out


def write_adversarial_fixture(root: Path) -> Path:
    """The suite folder ``root/fx`` (see the module docstring)."""
    suite = root / "fx"
    for norm in CLEAN_BRANCH:
        for seed in SEEDS:
            run = suite / f"{norm}-seed{seed}"
            run.mkdir(parents=True)
            config = {"seed": seed, "eps": 0.1, "norm": norm}
            write_result(run / "train_record.json", new_result(
                "adversarial", "training", subject={"config": config}))
            losses = [1.5, 1.2, 1.3 if norm == "auxbn" else 1.25]
            rows = [{"epoch": e, "val": {("shared" if norm == "bn" else "adv"): {
                "pgd_loss": loss}}} for e, loss in enumerate(losses)]
            if norm != "bn":  # SaAuxBN: imbalance 0.1 lower every seed, cosine +-0.01 by seed
                for e, row in enumerate(rows):
                    row["grad_balance"] = {
                        "imbalance": (0.4 if norm == "auxbn" else 0.3) + 0.02 * seed + 0.01 * e,
                        "cosine": 0.5 + (0.01 * (-1) ** seed if norm == "saauxbn" else 0.0),
                        "steps": 10}
            (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
            for name, attack in (("clean", None), ("pgd", "pgd-20")):
                record = evaluation_record(
                    subject={"model": {"name": "small_cnn", "norm": norm}, "norm": norm,
                             "dataset": "fashion-mnist", "split": "test"},
                    settings={"eps": 0.1, "n_examples": N, "seed": 0, "threat_model": "Linf"},
                    branches=_branches(norm, seed, attack), wall_time_s=1.0)
                record.suite = {"name": "fx", "run": run.name}
                write_result(run / f"eval-{name}-eps0.1.json", record)
    return suite


def write_gan_fixture(root: Path) -> None:
    for norm, fid in (("ccbn", 30.0), ("sabn", 27.0)):
        for seed in range(3):
            run = root / "gx" / f"sngan32-{norm}-seed{seed}"
            run.mkdir(parents=True)
            record = new_result("gan", "evaluation", subject={
                "generator": "sngan32", "norm": norm, "seed": seed, "dataset": "fashion-mnist"},
                metrics=[Metric(name="fid", value=fid + 0.3 * seed, n=500,
                                condition={"features": "classifier"}),
                         Metric(name="is", value=2.0 + 0.1 * seed, n=500,
                                condition={"features": "classifier"})])
            record.suite = {"name": "gx", "run": run.name}
            write_result(run / "eval.json", record)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_adversarial_fixture(root)
    write_gan_fixture(root)
    return root


def _verdicts(root: Path) -> dict[str, list[tuple[str, str]]]:
    from robust_sabn.artifacts.result import collect_results as read_all

    records, _ = read_all([root])
    found: dict[str, list[tuple[str, str]]] = {}
    for f in collect_findings(records):
        found.setdefault(f.claim.key, []).append((f.verdict, f.ours))
    return found


def test_every_verdict_kind_from_fixture_records(runs: Path) -> None:
    found = _verdicts(runs)
    clean_gain = found["adv-clean-auxbn"]
    assert clean_gain[0] == (REPRODUCED, "+10.00 [+10.00, +10.00] (90.00 vs 80.00 %, 5 seeds)")
    assert clean_gain[1][0] == NOT_RUN and "needs a GPU and CIFAR-10" in clean_gain[1][1]
    assert found["adv-pgd-saauxbn-bn"][0] == (
        CONTRADICTED, "-6.00 [-6.00, -6.00] (44.00 vs 50.00 %, 5 seeds)")
    verdict, ours = found["adv-pgd-saauxbn-auxbn"][0]
    # differences +1, -1, +1, -1, +1 points: mean 0.2, t half-width 2.776 * 1.095 / sqrt(5)
    assert (verdict, ours) == (NOT_RESOLVED,
                               "+0.20 [-1.16, +1.56] not resolved (44.00 vs 43.80 %, 5 seeds)")
    # AuxBN's adversarial loss rises 0.1 nats from its lowest epoch, SaAuxBN's 0.05
    assert found["adv-overfitting"][0][0] == REPRODUCED
    assert found["adv-overfitting"][0][1].startswith("-0.050 [-0.050, -0.050]")
    assert found["adv-aa-saauxbn-bn"] == [(NOT_RUN, found["adv-aa-saauxbn-bn"][0][1])]
    assert found["adv-grad-imbalance"][0][0] == REPRODUCED  # lower for SaAuxBN
    assert found["adv-grad-imbalance"][0][1].startswith("-0.100 [-0.100, -0.100]")
    # cosine differences +0.01, -0.01, ...: mean 0.002 over 5 seeds, not resolved
    assert found["adv-grad-cosine"][0][0] == NOT_RESOLVED
    assert found["adv-grad-cosine"][0][1].startswith("+0.002 [")
    assert found["gan-fid"][0][0] == REPRODUCED and found["gan-is"][0][0] == NOT_RESOLVED
    for key in ("nas-mean", "nas-mean-affine", "nas-spread", "style-content", "style-style"):
        assert [v for v, _ in found[key]] == [NOT_RUN]
        assert "no " in found[key][0][1] and "needs" in found[key][0][1]


def test_claims_page_renders_through_the_cli(runs: Path, tmp_path: Path) -> None:
    output = tmp_path / "reports" / "claims.md"
    result = CliRunner().invoke(app, ["claims", str(runs), "-o", str(output)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert ("Tests: 10 (5 reproduced, 3 not resolved, 2 contradicted). Not tests: 0 not "
            "testable at this scale (a gate failed), 19 not run (no records).") in text
    row = next(line for line in text.splitlines()
               if line.startswith("|") and "AuxBN clean branch minus BN" in line)
    assert "fx: fashion-mnist, small_cnn, clean on 200 test points" in row
    assert "| **reproduced** |" in row
    assert text.count("**Many tests at once.** The page holds 10 tests") == 1
    assert f"robust-sabn claims {runs} -o {output}" in text


def test_claims_of_no_records_are_all_not_run(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    path = write_claims([tmp_path / "empty"], tmp_path / "claims.md")
    text = path.read_text()
    assert ("Tests: 0 (0 reproduced, 0 not resolved, 0 contradicted). Not tests: 0 not "
            "testable at this scale (a gate failed), 19 not run (no records).") in text


def test_per_example_comparison_pairs_runs_of_the_same_seed(runs: Path) -> None:
    groups = {g.norm: g for g in group_runs(collect_run_results([runs / "fx"]))}
    comparisons = seed_comparisons(groups["auxbn"], groups["bn"], "clean", "clean", None)
    assert [c.seed for c in comparisons] == list(SEEDS)
    for c in comparisons:  # 180 vs 160 of 200, nested: 20 discordant points, all for AuxBN
        assert c.interval.estimate == pytest.approx(0.10) and c.interval.resolved
        assert c.mcnemar == pytest.approx(2 * 0.5 ** 20)


def test_report_prints_pair_differences_and_what_it_can_resolve(runs: Path,
                                                                 tmp_path: Path) -> None:
    output = tmp_path / "fx.md"
    render_report([runs / "fx"], output)
    text = " ".join(output.read_text().split())
    assert ("| PGD-20 | adv | SaAuxBN | AuxBN | +0.20 [-1.16, +1.56] not resolved | 5 | "
            "0 of 5 (0 +, 0 -) |") in text
    assert ("| Clean accuracy | clean | AuxBN | BN | +10.00 [+10.00, +10.00] | 5 | "
            "5 of 5 (5 +, 0 -) |") in text
    assert "## Per-example differences within each seed" in text
    assert "## What this run can resolve" in text
    # robust overfitting: AuxBN's loss 1.5, 1.2, 1.3 rises 0.1 nats above its lowest epoch
    assert ("| AuxBN | 1.200 ± 0.000 | 1.300 ± 0.000 | 0.100 ± 0.000 | - | - | 3 |") in text


def test_power_rows_split_seed_and_test_noise(runs: Path) -> None:
    results = collect_run_results([runs / "fx"])
    rows = {(r.metric, r.row, r.minus): r for r in power_rows(
        results, ["clean", "pgd-20"], ["clean", "adv"], 0.1, 0.01)}
    same = rows[("clean", "AuxBN", "BN")]
    assert same.noise.seeds == 5 and same.noise.examples == N
    assert same.noise.example_var_from_flags and same.noise.seed_var == 0.0
    noisy = rows[("pgd-20", "SaAuxBN", "AuxBN")]
    assert noisy.noise.seed_var > 0 and noisy.resolvable > 0.01


def test_suite_plan_tables_a_finished_suite(runs: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    suite_file = tmp_path / "fx.toml"
    suite_file.write_text(FX_SUITE)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_cli(["suite", "plan", str(suite_file), "--out", str(runs)], capsys,
                             monkeypatch)
    assert code == 0, err
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert any(r.startswith("| PGD-20 | adv | SaAuxBN | AuxBN | 5 x 200 |") for r in rows)
    assert any(r.startswith("| Clean accuracy | clean | AuxBN | BN | 5 x 200 | 0 (clipped: "
                            "observed sd 0.00 is below the test-sample sd) |") for r in rows)


def test_suite_plan_needs_finished_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["suite", "plan", "adversarial-fmnist-quick", "--out",
                            str(tmp_path)], capsys, monkeypatch)
    assert code == 2 and "has no finished evaluations" in err
    code, _, err = run_cli(["suite", "plan", "adversarial-fmnist-quick", "--target", "0"],
                           capsys, monkeypatch)
    assert code == 2 and "--target 0 is out of range" in err


def test_style_claims_pair_each_seed_at_its_last_step(tmp_path: Path) -> None:
    """SaAdaIN's validation content loss is 0.5 below AdaIN's at the last step (20) in every
    seed, and 0.5 above it at step 10, which the claim must not read."""
    for norm, at_10, at_20 in (("adain", 2.5, 2.0), ("saadain", 3.0, 1.5)):
        for seed in range(3):
            run = tmp_path / "sx" / f"{norm}-seed{seed}"
            run.mkdir(parents=True)
            record = new_result("style", "evaluation", subject={
                "norm": norm, "seed": seed, "dataset": "tiny", "encoder": "random"},
                metrics=[Metric(name=name, value=value + 0.01 * seed, n=8, condition={
                    "split": "val", "step": step, "features": features})
                    for name in ("content_loss", "style_loss")
                    for step, value in ((20, at_20), (10, at_10))
                    for features in ("probe", "second encoder")])
            record.suite = {"name": "sx", "run": run.name}
            write_result(run / "eval.json", record)
    from robust_sabn.artifacts.result import collect_results as read_all

    content = [f for f in collect_findings(read_all([tmp_path])[0])
               if f.claim.key == "style-content"]
    assert [(f.setup, f.verdict, f.ours) for f in content[:1]] == [(
        "sx: tiny, probe (random)", REPRODUCED,
        "-0.5000 [-0.5000, -0.5000] (1.5100 vs 2.0100, 3 seeds)")]
    assert content[1].setup == (  # named as the encoder training never saw, not as "random"
        "sx: tiny, second encoder (a random-feature encoder training never saw; trained with "
        "random)")
    assert content[2].verdict == NOT_RUN  # the paper's own setup (COCO, VGG-19)


def test_gan_gradient_balance_claims_read_the_training_records(tmp_path: Path) -> None:
    """The class affines' gradient balance is a training-record metric (a mean over the run's
    iterations): SaBN's imbalance is 0.1 below CCBN's in every seed (reproduced), its cosine
    alternates +-0.02 around CCBN's (not resolved); an evaluation record's look-alike is not
    read."""
    for norm, imbalance, cosine in (("ccbn", 0.5, 0.3), ("sabn", 0.4, 0.3)):
        for seed in range(3):
            run = tmp_path / "gx" / f"sngan32-{norm}-seed{seed}"
            run.mkdir(parents=True)
            subject = {"run": run.name, "generator": "sngan32", "norm": norm, "seed": seed,
                       "dataset": "fashion-mnist"}
            shift = 0.02 * (-1) ** seed if norm == "sabn" else 0.0
            record = new_result("gan", "training", subject=subject, metrics=[
                Metric(name="grad_imbalance", value=imbalance + 0.01 * seed, n=40,
                       condition={"over": "training iterations"}),
                Metric(name="grad_cosine", value=cosine + shift, n=40,
                       condition={"over": "training iterations"})])
            record.suite = {"name": "gx", "run": run.name}
            write_result(run / "train_record.json", record)
            decoy = new_result("gan", "evaluation", subject=subject, metrics=[
                Metric(name="grad_imbalance", value=9.0, n=40)])
            decoy.suite = {"name": "gx", "run": run.name}
            write_result(run / "eval.json", decoy)
    from robust_sabn.artifacts.result import collect_results as read_all

    found = {f.claim.key: f for f in collect_findings(read_all([tmp_path])[0])
             if f.claim.key.startswith("gan-grad") and f.verdict != NOT_RUN}
    assert found["gan-grad-imbalance"].verdict == REPRODUCED
    assert found["gan-grad-imbalance"].ours.startswith("-0.100 [-0.100, -0.100] (0.410 vs 0.510")
    assert found["gan-grad-cosine"].verdict == NOT_RESOLVED
    assert (found["gan-grad-imbalance"].setup
            == "gx: fashion-mnist, sngan32, mean over 40 iterations")
