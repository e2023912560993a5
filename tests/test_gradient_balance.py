"""The branch-affine gradient balance (imbalance of norms, cosine of directions) against hand
computations, and its logging by the adversarial training loop."""

from __future__ import annotations

import json
import math

import pytest
import torch

from robust_sabn.nn import CCBN, SaAuxBN
from robust_sabn.nn.gradient_balance import (
    GradientBalanceMeter,
    balance_of,
    branch_affine_gradients,
)


def test_balance_of_two_rows_matches_hand_computation() -> None:
    gradient = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # norms 5 and 1, cosine 4/5
    imbalance, cosine = balance_of(gradient)
    assert imbalance == pytest.approx((5 - 1) / (5 + 1))
    assert cosine == pytest.approx(0.8)


def test_balance_of_ignores_rows_without_gradient() -> None:
    gradient = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])  # row 1: class not in batch
    imbalance, cosine = balance_of(gradient)
    norms = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert imbalance == pytest.approx(float(norms.std(correction=0) / norms.mean()))
    assert cosine == pytest.approx(0.0)
    assert balance_of(torch.tensor([[1.0, 1.0], [0.0, 0.0]])) is None


def test_balance_of_three_rows_is_the_mean_pairwise_cosine() -> None:
    rows = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    unit = rows / rows.norm(dim=1, keepdim=True)
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = sum(float(unit[i] @ unit[j]) for i, j in pairs) / 3
    assert balance_of(rows)[1] == pytest.approx(expected)


def test_meter_sees_each_branch_gradient_of_a_layer() -> None:
    torch.manual_seed(0)
    layer = CCBN(4, num_branches=3)
    x = torch.randn(12, 4, 2, 2)
    y = torch.tensor([0, 1, 2] * 4)
    (layer(x, branch=y) * torch.randn(12, 4, 2, 2)).sum().backward()
    [(_, gradient)] = branch_affine_gradients(layer)
    assert gradient.shape == (3, 8)
    meter = GradientBalanceMeter()
    meter.update(layer)
    meter.update(layer)
    summary = meter.summary()
    imbalance, cosine = balance_of(gradient)
    assert summary == {"imbalance": pytest.approx(imbalance), "cosine": pytest.approx(cosine),
                       "steps": 2}


def test_meter_skips_models_without_branch_affines() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    net(torch.randn(2, 1, 2, 2)).sum().backward()
    meter = GradientBalanceMeter()
    meter.update(net)
    assert meter.summary() is None


def test_saauxbn_branch_gradients_come_from_their_own_inputs() -> None:
    """Only the clean batch reaches the clean row: with the adversarial loss alone, the clean
    branch's gradient is zero and the meter has no pair to compare."""
    layer = SaAuxBN(3)
    layer(torch.randn(8, 3, 2, 2), branch="adv").pow(2).sum().backward()
    [(_, gradient)] = branch_affine_gradients(layer)
    assert gradient[0].abs().sum() == 0 and gradient[1].abs().sum() > 0
    assert balance_of(gradient) is None


def test_training_logs_the_gradient_balance_per_epoch(tmp_path) -> None:
    from test_train import _quick_config

    from robust_sabn.train import train

    train(_quick_config(norm="saauxbn", epochs=1), tmp_path / "run", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    balance = rows[-1]["grad_balance"]
    assert balance["steps"] >= 1
    assert 0.0 <= balance["imbalance"] <= 1.0  # K = 2: |n1 - n2| / (n1 + n2)
    assert -1.0 <= balance["cosine"] <= 1.0 and math.isfinite(balance["cosine"])


def test_clean_loss_trains_without_attacking(tmp_path, monkeypatch) -> None:
    """The control arm: cross-entropy on clean images through the clean branch; the attack is
    never called and the adversarial branch's affine receives no gradient."""
    from test_train import _quick_config

    import robust_sabn.train.objective as objective
    from robust_sabn.train import train
    from robust_sabn.train.loop import model_spec_for

    def no_attack(*args: object, **kwargs: object) -> None:
        raise AssertionError("the clean loss attacked")

    monkeypatch.setattr(objective, "adversarial_examples", no_attack)
    seen: list[int] = []
    original = objective.training_loss

    def spy(model, x, y, config, generator, **kwargs):
        loss, clean_logits, adv_logits = original(model, x, y, config, generator, **kwargs)
        assert adv_logits is None and clean_logits is not None
        seen.append(len(y))
        return loss, clean_logits, adv_logits

    monkeypatch.setattr("robust_sabn.train.loop.training_loss", spy)
    config = _quick_config(norm="auxbn", loss="clean", epochs=1, weight_decay=0.0)
    train(config, tmp_path / "run", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert seen and rows[-1]["train_adv_acc"] is None
    assert 0.0 <= rows[-1]["train_clean_acc"] <= 1.0
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["state_dict"]
    torch.manual_seed(config.seed)
    initial = model_spec_for(config.resolved()).build().state_dict()
    tables = [k for k in trained if k.endswith("branch_affine")]
    assert tables
    for key in tables:
        assert torch.equal(trained[key][1], initial[key][1])  # adv row: no gradient, no decay
        assert not torch.equal(trained[key][0], initial[key][0])  # clean row trained


def test_report_shows_the_gradient_balance_table_and_curves(tmp_path) -> None:
    from test_claims import write_adversarial_fixture

    from robust_sabn.adversarial.report import render_report

    suite = write_adversarial_fixture(tmp_path / "runs")
    report = render_report([suite], tmp_path / "report.md")
    text = report.path.read_text()
    section = text.split("## Gradient balance of the branch affines")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines()
            if line.startswith("| ") and "imbalance" not in line}
    # AuxBN: run means 0.41 + 0.02 * seed over seeds 0..4 -> 0.450; SaAuxBN 0.1 lower
    assert "0.450 ±" in rows["AuxBN"] and "0.350 ±" in rows["SaAuxBN"]
    assert "BN" not in rows  # no branch affines, nothing logged
    image = tmp_path / "report-gradient-balance.png"
    assert image.is_file() and image.name in section
