"""Evaluation: records per branch, agreement with the libraries, modes, bad input, tables."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchattacks
from evaluation_helpers import (
    flat,
    single_torch_thread,  # noqa: F401 (autouse fixture)
    synthetic_split,
    train_tiny_model,
)
from hypothesis import given
from hypothesis import strategies as st
from pyautoattack import AutoAttack
from rich.console import Console
from torch import nn

from robust_sabn.adversarial.record import (
    branch_results,
    decode_flags,
    encode_flags,
    example_flags,
)
from robust_sabn.artifacts import ModelSpec, file_sha256, save_checkpoint
from robust_sabn.artifacts.result import (
    ResultRecord,
    read_result,
    record_json_schema,
    write_result,
)
from robust_sabn.data import load_split
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate import (
    as_unit_float,
    evaluate_checkpoint,
    evaluate_model,
    format_eps,
    parse_eps,
    render_cascade_table,
    render_evaluation_table,
)
from robust_sabn.nn import fixed_branch

EPS = 0.05
OPTIONS: dict[str, Any] = {
    "attacks": ("pgd", "autoattack"), "eps": EPS, "n_examples": 12, "batch_size": 8,
    "version": "custom", "autoattack_attacks": ["apgd-ce", "apgd-dlr"], "pgd_steps": 5,
    "seed": 1,
}
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    return train_tiny_model()


@pytest.fixture(scope="module")
def data() -> Any:
    return synthetic_split(20)


@pytest.fixture(scope="module")
def result(tiny: nn.Module, data: Any) -> ResultRecord:
    return evaluate_model(tiny, data, model_info={"name": "small_cnn", "norm": "saauxbn"},
                          **OPTIONS)


@pytest.fixture(scope="module")
def record(result: ResultRecord) -> dict[str, Any]:
    return flat(result)


def test_record_round_trips_through_a_file_and_the_schema(result: ResultRecord,
                                                         tmp_path: Path) -> None:
    path = write_result(tmp_path / "eval.json", result)
    again = read_result(path)
    assert again == result
    data = json.loads(path.read_text())
    assert data["task"] == "adversarial" and data["schema_version"] == 2
    jsonschema_keys = record_json_schema()["properties"].keys()
    assert set(data) == set(jsonschema_keys)
    clean = again.value("accuracy", "adv", attack="clean")
    assert clean == branch_results(result)["adv"]["clean_accuracy"]


def test_record_fields(record: dict[str, Any]) -> None:
    assert record["kind"] == "evaluation"
    assert record["model"] == {"name": "small_cnn", "norm": "saauxbn"}
    assert record["norm"] == "saauxbn"
    assert record["checkpoint"] is None and record["checkpoint_sha256"] is None
    assert (record["dataset"], record["split"], record["n_examples"]) == ("synthetic", "test", 12)
    assert (record["threat_model"], record["eps"], record["seed"]) == ("Linf", EPS, 1)
    assert record["attack_settings"]["pgd-5"] == {
        "attack": "pgd", "steps": 5, "step_size": pytest.approx(2.5 * EPS / 5),
        "random_start": True,
    }
    assert record["attack_settings"]["autoattack-custom"] == {
        "attack": "autoattack", "version": "custom", "attacks": ["apgd-ce", "apgd-dlr"]}
    assert record["wall_time_s"] > 0
    assert {"created", "command", "versions", "hardware"} <= record.keys()
    assert list(record["branches"]) == ["clean", "adv"]
    for entry in record["branches"].values():
        assert set(entry["robust_accuracy"]) == {"pgd-5", "autoattack-custom"}
        assert set(entry["time_s"]) == {"clean", "pgd-5", "autoattack-custom"}
        for acc in [entry["clean_accuracy"], *entry["robust_accuracy"].values()]:
            assert 0 <= acc <= 1 and acc * 12 == pytest.approx(round(acc * 12))


def test_cascade_is_non_increasing_and_ends_at_the_reported_accuracy(
    record: dict[str, Any]
) -> None:
    for entry in record["branches"].values():
        auto = entry["autoattack"]
        assert auto["version"] == "custom" and auto["attacks"] == ["apgd-ce", "apgd-dlr"]
        assert [step["attack"] for step in auto["cascade"]] == ["apgd-ce", "apgd-dlr"]
        accs = [entry["clean_accuracy"]] + [step["robust_accuracy"] for step in auto["cascade"]]
        assert accs == sorted(accs, reverse=True)
        assert accs[-1] == entry["robust_accuracy"]["autoattack-custom"]
        assert auto["flags"] == []
    adv = record["branches"]["adv"]
    assert adv["clean_accuracy"] > adv["robust_accuracy"]["autoattack-custom"] > 0


@pytest.mark.parametrize("branch", ["clean", "adv"])
def test_agrees_with_the_libraries_called_directly(
    branch: str, tiny: nn.Module, data: Any, record: dict[str, Any], result: ResultRecord
) -> None:
    x, y = as_unit_float(data.images[:12]), data.labels[:12]
    # a new view is in train mode, and torchattacks restores the mode it finds: eval() first
    view = fixed_branch(tiny, branch).eval()
    entry = record["branches"][branch]
    flags = example_flags(result)
    with torch.no_grad():
        assert entry["clean_accuracy"] == view(x).argmax(1).eq(y).sum().item() / 12
        assert flags[(branch, "clean")] == view(x).argmax(1).eq(y).tolist()

    robust: list[bool] = []  # batch b of 8 examples: its own cascade, seed 1 + b
    for b, i in enumerate(range(0, 12, 8)):
        adversary = AutoAttack(view, eps=EPS, version="custom", attacks=["apgd-ce", "apgd-dlr"],
                               seed=1 + b)
        _, y_adv = adversary.run_standard_evaluation(x[i:i + 8], y[i:i + 8], batch_size=8)
        robust += y_adv.eq(y[i:i + 8]).tolist()
    assert entry["robust_accuracy"]["autoattack-custom"] == sum(robust) / 12
    assert flags[(branch, "autoattack-custom")] == robust

    pgd = torchattacks.PGD(view, eps=EPS, alpha=2.5 * EPS / 5, steps=5, random_start=True)
    correct = 0
    for b, i in enumerate(range(0, 12, 8)):
        torch.manual_seed(1 + b)
        x_adv = pgd(x[i:i + 8], y[i:i + 8])
        with torch.no_grad():
            correct += view(x_adv).argmax(1).eq(y[i:i + 8]).sum().item()
    assert entry["robust_accuracy"]["pgd-5"] == correct / 12
    assert sum(flags[(branch, "pgd-5")]) == correct


def test_every_branch_and_attack_stores_its_per_example_flags(result: ResultRecord,
                                                              tmp_path: Path) -> None:
    again = read_result(write_result(tmp_path / "eval.json", result))
    flags = example_flags(again)
    assert set(flags) == {(b, a) for b in ("clean", "adv")
                          for a in ("clean", "pgd-5", "autoattack-custom")}
    for (branch, attack), bits in flags.items():
        assert len(bits) == 12
        assert again.value("accuracy", branch, attack=attack) == sum(bits) / 12
    assert again.extras["flags"]["encoding"] == "packbits-msb-base64"


@given(st.lists(st.booleans(), max_size=70))
def test_flags_round_trip_exactly(bits: list[bool]) -> None:
    assert decode_flags(encode_flags(bits), len(bits)) == bits


def test_flags_use_the_numpy_packbits_layout() -> None:
    bits = [True, False, False, False, False, False, False, True, True, True]
    assert encode_flags(bits) == base64.b64encode(np.packbits(bits).tobytes()).decode()
    assert encode_flags(bits) == "gcA="


@pytest.mark.parametrize(("text", "n", "message"), [
    ("gcA=", 17, "hold 2 bytes, not the 3 of 17 examples"),
    ("not base64!", 8, "not base64"),
])
def test_malformed_flags_are_named(text: str, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_flags(text, n)


def test_train_mode_and_running_stats_survive_evaluation(data: Any) -> None:
    model = train_tiny_model(steps=5).train()
    before = copy.deepcopy(model.state_dict())
    seen: list[bool] = []
    for module in model.modules():
        module.register_forward_hook(lambda m, i, o: seen.append(m.training))
    evaluate_model(model, data, **{**OPTIONS, "n_examples": 4, "pgd_steps": 2,
                                   "autoattack_attacks": ["apgd-ce"]})
    assert seen and not any(seen)
    assert all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_plain_bn_model_has_one_shared_branch(data: Any) -> None:
    model = train_tiny_model(norm="bn", steps=5)
    rec = flat(evaluate_model(model, data, attacks=["fgsm"], eps=EPS, n_examples=8))
    assert list(rec["branches"]) == ["shared"]
    assert set(rec["branches"]["shared"]["robust_accuracy"]) == {"fgsm"}
    assert rec["model"] == {"class": "SmallCNN"} and rec["norm"] is None
    with pytest.raises(UserInputError, match=r"^unknown branch 'adv'; this model's branches "
                                             r"are shared$"):
        evaluate_model(model, data, attacks=["fgsm"], eps=EPS, branches=["adv"])


def test_l2_threat_model_takes_radii_above_one(tiny: nn.Module, data: Any) -> None:
    rec = flat(evaluate_model(tiny, data, attacks=["pgd-l2"], eps=1.5, threat_model="L2",
                              n_examples=8, pgd_steps=2, branches=["adv"]))
    assert (rec["threat_model"], rec["eps"]) == ("L2", 1.5)
    assert set(rec["branches"]["adv"]["robust_accuracy"]) == {"pgd-l2-2"}
    assert rec["attack_settings"]["pgd-l2-2"]["step_size"] == pytest.approx(2.5 * 1.5 / 2)


def test_branches_can_be_chosen(tiny: nn.Module, data: Any) -> None:
    rec = flat(evaluate_model(tiny, data, attacks=[], eps=EPS, n_examples=8, branches=["adv"]))
    assert list(rec["branches"]) == ["adv"]
    assert rec["branches"]["adv"]["robust_accuracy"] == {}


@pytest.mark.parametrize(("text", "value"), [
    ("8/255", 8 / 255), (" 8 / 255 ", 8 / 255), ("0.0314", 0.0314), ("3e-2", 0.03), ("0", 0.0),
])
def test_parse_eps(text: str, value: float) -> None:
    assert parse_eps(text) == pytest.approx(value)


@pytest.mark.parametrize(("eps", "text"), [(8 / 255, "0.03137 (8/255)"), (0.1, "0.1"),
                                           (0.0, "0")])
def test_format_eps(eps: float, text: str) -> None:
    assert format_eps(eps) == text


def test_parse_eps_rejects_garbage() -> None:
    with pytest.raises(UserInputError, match=r"^cannot read eps 'eight': write a number such as "
                                             r"0.0314 or a fraction such as 8/255$"):
        parse_eps("eight")
    with pytest.raises(UserInputError, match="cannot read eps '8/0'"):
        parse_eps("8/0")


@pytest.mark.parametrize(("options", "message"), [
    ({"eps": 8.0}, r"^eps 8.0 is outside \[0, 1\]: eps is on the \[0, 1\] pixel scale; "
                   r"for 8/255 write 0.0314 or 8/255$"),
    ({"eps": -0.1}, r"^eps -0.1 is negative or not finite"),
    ({"attacks": ["pgd", "deepfool"]},
     r"^unknown attack 'deepfool'; choose from pgd, pgd-l2, fgsm, cw, autoattack$"),
    ({"attacks": ["pgd-l2"]}, r"^attack 'pgd-l2' works in L2, not 'Linf'"),
    ({"branches": ["robust"]}, r"^unknown branch 'robust'; this model's branches are clean, adv$"),
    ({"version": "fast"},
     r"^unknown AutoAttack version 'fast'; choose one of standard, plus, rand, custom$"),
    ({"version": "custom", "attacks": ["autoattack"]},
     r"^AutoAttack version 'custom' needs a list of attacks from apgd-ce"),
    ({"version": "standard", "autoattack_attacks": ["apgd-ce"], "attacks": ["autoattack"]},
     r"^an AutoAttack attack list needs version 'custom'"),
    ({"n_examples": 0}, r"^n_examples \(--n-examples\) must be a positive whole number, got 0$"),
    ({"batch_size": 2.5},
     r"^batch_size \(--batch-size\) must be a positive whole number, got 2.5$"),
    ({"threat_model": "L3"}, r"^unknown threat model 'L3'; choose one of Linf, L2$"),
    ({"threat_model": "L2", "attacks": ["pgd-l2"], "eps": None},
     r"^give eps for the L2 threat model \(no default\)$"),
])
def test_bad_input_is_refused_with_its_message(tiny: nn.Module, data: Any,
                                               options: dict[str, Any], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        evaluate_model(tiny, data, **{"eps": EPS, "attacks": ["pgd"], **options})



def test_tables_show_percentages_per_branch_and_attack(record: dict[str, Any],
                                                       result: ResultRecord) -> None:
    table = render_evaluation_table(result)
    assert table.title == "small_cnn (saauxbn) on synthetic test, n=12, Linf eps=0.05"
    console = Console(record=True, width=200)
    console.print(table)
    console.print(render_cascade_table(result))
    text = console.export_text()
    for header in ("Branch", "Clean", "PGD-5", "AutoAttack (custom)", "after apgd-dlr"):
        assert header in text
    for branch, entry in record["branches"].items():
        row = next(line for line in text.splitlines() if line.lstrip("│ ").startswith(branch))
        assert f"{100 * entry['clean_accuracy']:.2f}%" in row
        assert f"{100 * entry['robust_accuracy']['pgd-5']:.2f}%" in row


def test_table_caption_lists_flags(result: ResultRecord) -> None:
    flagged = result.model_copy(deep=True)
    flagged.extras["autoattack"]["adv"]["flags"] = ["Square Attack has decreased ..."]
    console = Console(record=True, width=200)
    console.print(render_evaluation_table(flagged))
    assert "adv: Square Attack has decreased ..." in console.export_text()


def test_evaluate_checkpoint_on_an_npz_dataset(tiny: nn.Module, data: Any,
                                               result: ResultRecord, tmp_path: Path) -> None:
    """The module's evaluation through a checkpoint, AutoAttack cut to its first stage (the
    cascade's second stage took most of a minute): the same clean and PGD flags, and each branch's
    AutoAttack accuracy is the module record's apgd-ce stage."""
    images = data.images[:, 0].numpy()
    np.savez(tmp_path / "synthetic.npz", x_train=images, y_train=data.labels.numpy(),
             x_test=images, y_test=data.labels.numpy(), num_classes=10)
    spec = ModelSpec("small_cnn", "saauxbn", 10, 1, kwargs={"width": 4})
    ckpt = save_checkpoint(tmp_path / "tiny.pt", {"model": spec.to_dict(), "dataset": "npz",
                                                  "state_dict": tiny.state_dict()})
    loaded = evaluate_checkpoint(ckpt, data_dir=tmp_path,
                                 **{**OPTIONS, "autoattack_attacks": ["apgd-ce"]})
    rec = flat(loaded)
    assert rec["checkpoint"] == str(ckpt) and rec["checkpoint_sha256"] == file_sha256(ckpt)
    assert rec["model"] == spec.to_dict() and rec["norm"] == "saauxbn"
    assert rec["dataset"] == "npz" and rec["n_examples"] == 12
    assert rec["attack_settings"]["autoattack-custom"]["attacks"] == ["apgd-ce"]

    # the same numbers and per-example flags as evaluate_model on the same examples
    flags, full = example_flags(result), flat(result)["branches"]
    for branch, entry in rec["branches"].items():
        expected = full[branch]
        assert entry["clean_accuracy"] == expected["clean_accuracy"]
        assert entry["robust_accuracy"]["pgd-5"] == expected["robust_accuracy"]["pgd-5"]
        first_stage = expected["autoattack"]["cascade"][0]
        assert first_stage["attack"] == "apgd-ce"
        assert entry["robust_accuracy"]["autoattack-custom"] == first_stage["robust_accuracy"]
        for attack in ("clean", "pgd-5"):
            assert example_flags(loaded)[(branch, attack)] == flags[(branch, attack)]
    assert list(rec["branches"]) == ["clean", "adv"]


def test_evaluate_checkpoint_checks_options_before_loading(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"^eps 8.0 is outside"):
        evaluate_checkpoint(tmp_path / "missing.pt", eps=8.0)
    with pytest.raises(UserInputError, match=r"^checkpoint not found"):
        evaluate_checkpoint(tmp_path / "missing.pt")


def test_eps_defaults_to_the_datasets_radius(tiny: nn.Module, tmp_path: Path) -> None:
    spec = ModelSpec("small_cnn", "saauxbn", 10, 1, kwargs={"width": 4})
    ckpt = save_checkpoint(tmp_path / "fmnist.pt", {"model": spec.to_dict(),
                                                    "dataset": "fashion-mnist",
                                                    "state_dict": tiny.state_dict()})
    rec = flat(evaluate_checkpoint(ckpt, attacks=[], n_examples=5, data_dir=FASHION_MNIST))
    assert rec["eps"] == 0.1 and rec["dataset"] == "fashion-mnist" and rec["n_examples"] == 5


@pytest.mark.slow
def test_standard_autoattack_on_fashion_mnist(tmp_path: Path) -> None:
    train = load_split("fashion-mnist", "train", data_dir=FASHION_MNIST, max_examples=2048)
    model = train_tiny_model(steps=300, data=(as_unit_float(train.images), train.labels))
    spec = ModelSpec("small_cnn", "saauxbn", 10, 1, kwargs={"width": 4})
    ckpt = save_checkpoint(tmp_path / "fmnist.pt", {"model": spec.to_dict(),
                                                    "dataset": "fashion-mnist",
                                                    "state_dict": model.state_dict()})
    rec = flat(evaluate_checkpoint(ckpt, n_examples=16, batch_size=16, data_dir=FASHION_MNIST,
                                   branches=["adv"], eps=0.02))
    entry = rec["branches"]["adv"]
    assert entry["clean_accuracy"] > entry["robust_accuracy"]["autoattack-standard"] > 0
    assert [s["attack"] for s in entry["autoattack"]["cascade"]] == [
        "apgd-ce", "apgd-t", "fab-t", "square"]
    assert entry["robust_accuracy"]["autoattack-standard"] <= entry["robust_accuracy"]["pgd-20"]


def test_validation_logs_the_mean_cross_entropy_behind_each_accuracy(tiny: nn.Module,
                                                                      data: Any) -> None:
    from robust_sabn.data import ImageTensors
    from robust_sabn.train import TrainConfig
    from robust_sabn.train.loop import validate

    config = TrainConfig(eps=EPS, step_size=EPS / 4, attack_steps=3, attack_norm="Linf", seed=0,
                         device="cpu")
    split = ImageTensors(images=data.images, labels=data.labels, name="synthetic",
                         augment_pad=0, augment_flip=False)
    result = validate(tiny, split, config)
    x, y = as_unit_float(data.images), data.labels
    for branch in ("clean", "adv"):
        view = fixed_branch(tiny, branch).eval()
        with torch.no_grad():
            expected = torch.nn.functional.cross_entropy(view(x), y).item()
        assert result[branch]["clean_loss"] == pytest.approx(expected, rel=1e-5)
        assert result[branch]["pgd_loss"] > result[branch]["clean_loss"]
