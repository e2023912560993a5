"""collapse_branch, zoo export/load (also in a fresh process), RobustBench loading and benchmark."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_cifar import write_fake_cifar10
from pyautoattack.examples.resnet import ResNet18
from torch import nn
from typer.testing import CliRunner

from robust_sabn.adversarial.record import evaluation_record
from robust_sabn.artifacts import ModelSpec, file_sha256, save_checkpoint
from robust_sabn.artifacts import load_model as load_checkpoint_model
from robust_sabn.artifacts.result import ResultRecord, write_result
from robust_sabn.cli.zoo import app as zoo_app
from robust_sabn.compat import import_robustbench
from robust_sabn.errors import UserInputError
from robust_sabn.models import list_models
from robust_sabn.nn import AdaIN, SandwichNorm2d, branch_layers, fixed_branch
from robust_sabn.nn.collapse import collapse_branch
from robust_sabn.zoo import (
    check_state_dict_keys,
    export_model,
    load_model,
    load_robustbench_model,
    register_architecture,
    run_benchmark,
    zoo_paths,
)

PYAUTOATTACK_R18 = Path(__import__("pyautoattack").__file__).parent / "examples" / "model_test.pt"
SMALL_KWARGS = {"small_cnn": {"width": 4}, "preact_resnet18": {"width": 2},
                "wrn34_10": {"depth": 10, "widen_factor": 1}}


def _spec(norm: str, *, name: str = "small_cnn", in_channels: int = 3, num_classes: int = 10,
          std: float = 0.25) -> ModelSpec:
    return ModelSpec(name, norm, num_classes, in_channels, 2, (0.5,) * in_channels,
                     (std,) * in_channels, dict(SMALL_KWARGS[name]))


@torch.no_grad()
def _randomize_norms(model: nn.Module) -> None:
    """Distinct running statistics and affines per branch, so the branch choice matters."""
    for layer in branch_layers(model):
        layer.running_mean.normal_(0.0, 0.5)
        layer.running_var.uniform_(0.5, 2.0)
        for param in (layer.shared_weight, layer.branch_affine):
            if param is not None:
                param.normal_(1.0, 0.3)
        if layer.shared_bias is not None:
            layer.shared_bias.normal_(0.0, 0.3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0.0, 0.5)
            module.running_var.uniform_(0.5, 2.0)


def _checkpoint(path: Path, norm: str, dataset: str = "cifar10", **spec_kwargs: Any) -> Path:
    spec = _spec(norm, **spec_kwargs)
    model = spec.build()
    _randomize_norms(model)
    return save_checkpoint(path, {"model": spec.to_dict(), "state_dict": model.state_dict(),
                                  "dataset": dataset, "epoch": 3})


def _record(checkpoint: Path, branches: dict[str, tuple[float, float]],
            dataset: str = "cifar10", autoattack: bool = True) -> ResultRecord:
    """An evaluation record of ``checkpoint``: branch -> (clean, autoattack) accuracy."""
    return evaluation_record(
        subject={"checkpoint": str(checkpoint), "checkpoint_sha256": file_sha256(checkpoint),
                 "dataset": dataset, "split": "test", "norm": None, "model": {}},
        settings={"n_examples": 1000, "threat_model": "Linf", "eps": 8 / 255, "seed": 0},
        branches={
            name: {"clean_accuracy": clean, "robust_accuracy": {
                "pgd-20": aa + 0.01, **({"autoattack-standard": aa} if autoattack else {})}}
            for name, (clean, aa) in branches.items()
        },
        wall_time_s=1.0,
    )


# --- collapse_branch ------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["saauxbn", "sabn", "auxbn", "ccbn"])
@pytest.mark.parametrize("branch", ["clean", "adv"])
def test_collapse_equals_the_fixed_branch_bitwise(norm: str, branch: str) -> None:
    spec = _spec(norm)
    model = spec.build().eval()
    _randomize_norms(model)
    x = torch.rand(4, 3, 16, 16)
    collapsed = collapse_branch(model, branch).eval()

    with torch.no_grad():
        assert torch.equal(collapsed(x), fixed_branch(model, branch)(x))
    assert not any(isinstance(m, SandwichNorm2d) for m in collapsed.modules())
    assert branch_layers(model), "the original model must keep its SaBN layers"
    plain = dataclasses.replace(spec, norm="bn").build().eval()
    plain.load_state_dict(collapsed.state_dict())
    with torch.no_grad():
        assert torch.equal(plain(x), collapsed(x))


@pytest.mark.parametrize("name", ["preact_resnet18", "wrn34_10"])
def test_collapse_handles_nested_norms_and_branches_differ(name: str) -> None:
    model = _spec("saauxbn", name=name).build().eval()
    _randomize_norms(model)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        clean, adv = collapse_branch(model, "clean")(x), collapse_branch(model, "adv")(x)
        assert torch.equal(adv, fixed_branch(model, "adv")(x))
        assert torch.equal(clean, fixed_branch(model, "clean")(x))
    assert not torch.equal(clean, adv)


def test_collapse_rejects_unknown_branch_and_instance_norm() -> None:
    model = _spec("sabn").build()
    with pytest.raises(ValueError, match="unknown branch 'robust'"):
        collapse_branch(model, "robust")
    with pytest.raises(ValueError, match="instance statistics"):
        collapse_branch(nn.Sequential(nn.Conv2d(3, 4, 1), AdaIN(4)), 0)


def test_collapse_of_a_plain_bn_model_is_an_equal_copy() -> None:
    model = _spec("bn").build().eval()
    _randomize_norms(model)
    copy = collapse_branch(model, "adv")
    x = torch.rand(2, 3, 8, 8)
    assert copy is not model
    with torch.no_grad():
        assert torch.equal(copy(x), model(x))


@pytest.mark.parametrize("name", list_models("classifier"))
def test_our_state_dict_keys_survive_robustbench_key_surgery(name: str) -> None:
    keys = _spec("bn", name=name).build().state_dict().keys()
    check_state_dict_keys(keys)
    rb = import_robustbench()
    stripped = rb.utils.rm_substr_from_state_dict({k: k for k in keys}, "module.")
    stripped = rb.utils.rm_substr_from_state_dict(stripped, "model.")
    assert list(stripped) == list(keys)
    with pytest.raises(ValueError, match="rewrites"):
        check_state_dict_keys(["encoder.model.weight"])


# --- export and load ------------------------------------------------------------------------

_FRESH_PROCESS = """
import sys, torch
from robust_sabn.zoo import load_model
model_dir, x_cifar, x_fmnist, out = sys.argv[1:]
cifar = load_model("SabnTest_Adv", model_dir, "cifar10")
fmnist = load_model("SabnTest_Fmnist", model_dir, "fashion-mnist")
assert not cifar.training and not fmnist.training
with torch.no_grad():
    torch.save({"cifar": cifar(torch.load(x_cifar)), "fmnist": fmnist(torch.load(x_fmnist))}, out)
"""


def test_export_then_load_in_a_fresh_process_equals_the_fixed_branch(tmp_path) -> None:
    cifar_ckpt = _checkpoint(tmp_path / "cifar.pt", "saauxbn")
    fmnist_ckpt = _checkpoint(tmp_path / "fmnist.pt", "auxbn", "fashion-mnist", in_channels=1)
    models = tmp_path / "models"
    weights = export_model(cifar_ckpt, name="SabnTest_Adv", model_dir=models, branch="adv")
    export_model(fmnist_ckpt, name="SabnTest_Fmnist", model_dir=models, branch="clean")
    assert weights == models / "cifar10" / "Linf" / "SabnTest_Adv.pt"
    state = torch.load(weights, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    entry = json.loads(zoo_paths(models, "cifar10", "Linf", "SabnTest_Adv").entry.read_text())
    assert entry["model"]["norm"] == "bn" and entry["source"]["branch"] == "adv"
    assert entry["weights_sha256"] == file_sha256(weights)

    x_cifar, x_fmnist = torch.rand(5, 3, 32, 32), torch.rand(5, 1, 28, 28)
    torch.save(x_cifar, tmp_path / "x_cifar.pt")
    torch.save(x_fmnist, tmp_path / "x_fmnist.pt")
    out = tmp_path / "out.pt"
    subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(models), str(tmp_path / "x_cifar.pt"),
         str(tmp_path / "x_fmnist.pt"), str(out)],
        check=True, cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    fresh = torch.load(out, weights_only=True)
    cifar_model, _ = load_checkpoint_model(cifar_ckpt)
    fmnist_model, _ = load_checkpoint_model(fmnist_ckpt)
    with torch.no_grad():
        assert torch.equal(fresh["cifar"], fixed_branch(cifar_model, "adv")(x_cifar))
        assert torch.equal(fresh["fmnist"], fixed_branch(fmnist_model, "clean")(x_fmnist))
        assert not torch.equal(fresh["cifar"], fixed_branch(cifar_model, "clean")(x_cifar))


@pytest.mark.parametrize(("dataset", "threat_model", "num_classes"),
                         [("imagenet", "Linf", 1000), ("cifar100", "L2", 100)])
def test_export_loads_through_robustbench_for_imagenet_and_new_threat_models(
        tmp_path, dataset: str, threat_model: str, num_classes: int) -> None:
    ckpt = _checkpoint(tmp_path / "c.pt", "sabn", dataset, num_classes=num_classes)
    export_model(ckpt, name="SabnTest_Rb", model_dir=tmp_path, threat_model=threat_model)
    via_rb = load_model("SabnTest_Rb", tmp_path, dataset, threat_model)
    local = load_model("SabnTest_Rb", tmp_path, dataset, threat_model, loader="local")
    model, _ = load_checkpoint_model(ckpt)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        expected = fixed_branch(model, "adv")(x)
        assert torch.equal(via_rb(x), expected)
        assert torch.equal(local(x), expected)


def test_model_info_accuracies_equal_the_evaluation_record(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path / "c.pt", "saauxbn")
    record = _record(ckpt, {"clean": (0.9, 0.1), "adv": (0.8125, 0.123456)})
    write_result(tmp_path / "eval.json", record)
    export_model(ckpt, name="SabnTest_Info", model_dir=tmp_path, evaluation=tmp_path / "eval.json",
                 title="Sandwich BN", authors="A. Author, B. Author", venue="ICLR 2024")
    info = json.loads(zoo_paths(tmp_path, "cifar10", "Linf", "SabnTest_Info")
                      .model_info.read_text())
    assert info["clean_acc"] == "81.25" == f"{100 * 0.8125:.2f}"
    assert info["autoattack_acc"] == "12.35" == f"{100 * 0.123456:.2f}"
    assert info["reported"] == info["autoattack_acc"]
    assert info["eps"] == "8/255"
    assert (info["name"], info["authors"], info["venue"]) == (
        "Sandwich BN", "A. Author, B. Author", "ICLR 2024")
    assert info["dataset"] == "cifar10" and info["number_forward_passes"] == 1
    assert info["additional_data"] is False
    assert info["architecture"] == "SmallCNN width=4 (SaAuxBN, adv branch, as BN)"
    assert "1000 test points" in info["footnote"]

    with pytest.raises(UserInputError, match=r"SabnTest_Info is already exported: .*"
                       r"SabnTest_Info.pt; pass --force \(force=True\) to overwrite it"):
        export_model(ckpt, name="SabnTest_Info", model_dir=tmp_path, evaluation=record)
    export_model(ckpt, name="SabnTest_Info", model_dir=tmp_path, branch="clean",
                 evaluation=record, force=True)
    info = json.loads(zoo_paths(tmp_path, "cifar10", "Linf", "SabnTest_Info")
                      .model_info.read_text())
    assert (info["clean_acc"], info["autoattack_acc"]) == ("90.00", "10.00")


def test_any_attack_of_a_record_is_listed_under_its_name_never_as_autoattack(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path / "c.pt", "saauxbn")
    export_model(ckpt, name="SabnTest_Pgd", model_dir=tmp_path / "models",
                 evaluation=_record(ckpt, {"adv": (0.5, 0.2)}, autoattack=False))
    info = json.loads(zoo_paths(tmp_path / "models", "cifar10", "Linf", "SabnTest_Pgd")
                      .model_info.read_text())
    assert (info["clean_acc"], info["external"], info["attack"]) == ("50.00", "21.00", "pgd-20")
    assert "autoattack_acc" not in info
    assert info["footnote"] == ("Robust accuracy under pgd-20 (robust-sabn eval), not "
                                "AutoAttack, on the first 1000 test points.")
    both = _record(ckpt, {"adv": (0.5, 0.2)})
    export_model(ckpt, name="SabnTest_Pgd", model_dir=tmp_path / "models", evaluation=both,
                 attack="pgd-20", force=True)
    info = json.loads((tmp_path / "model_info" / "cifar10" / "Linf" / "SabnTest_Pgd.json")
                      .read_text())
    assert (info["external"], info["attack"]) == ("21.00", "pgd-20")


def test_plain_bn_checkpoint_reads_the_shared_branch(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path / "bn.pt", "bn", "fashion-mnist", in_channels=1)
    record = _record(ckpt, {"shared": (0.5, 0.25)}, "fashion-mnist")
    export_model(ckpt, name="SabnTest_Bn", model_dir=tmp_path, evaluation=record)
    info = json.loads(zoo_paths(tmp_path, "fashion-mnist", "Linf", "SabnTest_Bn")
                      .model_info.read_text())
    assert (info["clean_acc"], info["autoattack_acc"]) == ("50.00", "25.00")
    assert info["architecture"] == "SmallCNN width=4"


def test_a_record_of_another_checkpoint_or_without_autoattack_is_refused(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path / "c.pt", "saauxbn")
    other = _checkpoint(tmp_path / "other.pt", "saauxbn")
    with pytest.raises(UserInputError, match=r"not of .*c\.pt"):
        export_model(ckpt, name="SabnTest_X", model_dir=tmp_path,
                     evaluation=_record(other, {"adv": (0.5, 0.2)}))
    record = _record(ckpt, {"adv": (0.5, 0.2)}, autoattack=False)
    with pytest.raises(UserInputError, match="no 'autoattack-standard' accuracy for branch "
                       "'adv' \\(it has pgd-20\\); name one with --attack"):
        export_model(ckpt, name="SabnTest_X", model_dir=tmp_path, evaluation=record,
                     attack="autoattack-standard")
    with pytest.raises(UserInputError, match="no branch 'clean'"):
        export_model(ckpt, name="SabnTest_X", model_dir=tmp_path, branch="clean",
                     evaluation=_record(ckpt, {"adv": (0.5, 0.2)}))
    with pytest.raises(UserInputError, match="differs from the evaluation record's"):
        export_model(ckpt, name="SabnTest_X", model_dir=tmp_path, eps=0.1,
                     evaluation=_record(ckpt, {"adv": (0.5, 0.2)}))
    assert not (tmp_path / "cifar10").exists(), "nothing is written when the record is refused"


def test_bad_export_inputs_are_user_errors(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path / "c.pt", "saauxbn")
    with pytest.raises(UserInputError, match=r"invalid model name '\.\./evil'"):
        export_model(ckpt, name="../evil", model_dir=tmp_path)
    with pytest.raises(UserInputError, match="'Wong2020Fast' is a RobustBench zoo model"):
        export_model(ckpt, name="Wong2020Fast", model_dir=tmp_path)
    with pytest.raises(UserInputError, match="unknown branch 'robust'"):
        export_model(ckpt, name="SabnTest_X", model_dir=tmp_path, branch="robust")
    with pytest.raises(UserInputError, match="unknown threat model 'Linfinity'"):
        export_model(ckpt, name="SabnTest_X", model_dir=tmp_path, threat_model="Linfinity")
    with pytest.raises(UserInputError, match="checkpoint not found"):
        export_model(tmp_path / "missing.pt", name="SabnTest_X", model_dir=tmp_path)
    spec = _spec("bn")
    no_dataset = save_checkpoint(tmp_path / "nd.pt", {"model": spec.to_dict(),
                                                       "state_dict": spec.build().state_dict()})
    with pytest.raises(UserInputError, match="records no dataset"):
        export_model(no_dataset, name="SabnTest_X", model_dir=tmp_path)


def test_bad_load_inputs_are_user_errors(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path / "c.pt", "sabn", "fashion-mnist", in_channels=1)
    weights = export_model(ckpt, name="SabnTest_Load", model_dir=tmp_path)
    entry = tmp_path / "svhn" / "Linf" / "SabnTest_Load.json"
    with pytest.raises(UserInputError, match=f"{entry} not found; datasets under .*fashion-mnist"):
        load_model("SabnTest_Load", tmp_path, "svhn")
    with pytest.raises(UserInputError, match="Wong2020Fast is a RobustBench zoo model"):
        load_model("Wong2020Fast", tmp_path, "cifar10")
    with pytest.raises(UserInputError, match="RobustBench has no dataset 'fashion-mnist'"):
        load_model("SabnTest_Load", tmp_path, "fashion-mnist", loader="robustbench")
    weights.unlink()
    with pytest.raises(UserInputError, match=f"weights of SabnTest_Load not found: {weights}"):
        load_model("SabnTest_Load", tmp_path, "fashion-mnist")


# --- third-party models ---------------------------------------------------------------------


def test_pyautoattack_resnet18_loads_identically_through_zoo_and_robustbench(tmp_path) -> None:
    name = "Croce2020AutoAttackExample_R18"
    folder = tmp_path / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    (folder / f"{name}.pt").symlink_to(PYAUTOATTACK_R18)
    register_architecture(name, ResNet18, dataset="cifar10")
    rb = import_robustbench()

    ours = load_model(name, tmp_path, "cifar10", loader="local")
    theirs = rb.utils.load_model(name, model_dir=str(tmp_path), dataset="cifar10",
                                 threat_model="Linf")
    through_zoo_default = load_model(name, tmp_path, "cifar10")
    direct = ResNet18()
    direct.load_state_dict(torch.load(PYAUTOATTACK_R18, map_location="cpu", weights_only=True))
    direct.eval()
    assert not ours.training and not theirs.training
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        expected = direct(x)
        assert torch.equal(ours(x), expected)
        assert torch.equal(theirs(x), expected)
        assert torch.equal(through_zoo_default(x), expected)
    assert PYAUTOATTACK_R18.stat().st_size == os.stat(folder / f"{name}.pt").st_size


def test_load_robustbench_model_reads_the_local_file_and_names_a_missing_one(tmp_path) -> None:
    expected = tmp_path / "cifar10" / "Linf" / "Wong2020Fast.pt"
    with pytest.raises(UserInputError, match=f"not found at {expected}"):
        load_robustbench_model("robustbench:Wong2020Fast", tmp_path, "cifar10", "Linf",
                               download=False)
    from robustbench.model_zoo.cifar10 import Wong2020FastNet

    reference = Wong2020FastNet().eval()
    expected.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), expected)
    loaded = load_robustbench_model("Wong2020Fast", tmp_path, "cifar10", "Linf", download=False)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), reference(x))
    with pytest.raises(UserInputError, match="RobustBench has no dataset 'mnist'"):
        load_robustbench_model("Wong2020Fast", tmp_path, "mnist", "Linf")
    with pytest.raises(UserInputError, match="unknown RobustBench model 'NoSuchModel'"):
        load_robustbench_model("NoSuchModel", tmp_path, "cifar10", "Linf")


# --- benchmark and CLI ----------------------------------------------------------------------


def test_benchmark_runs_robustbench_on_local_cifar10(tmp_path, monkeypatch) -> None:
    # std 0.01 amplifies inputs 25x: APGD-CE fools the random model and the cascade ends early.
    ckpt = _checkpoint(tmp_path / "c.pt", "saauxbn", std=0.01)
    export_model(ckpt, name="SabnTest_Bench", model_dir=tmp_path / "models")
    with pytest.raises(UserInputError, match=r"cifar10 test set in .* not found; extract"):
        run_benchmark("SabnTest_Bench", data_dir=tmp_path / "data",
                      model_dir=tmp_path / "models", n_examples=4)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    model, _ = load_checkpoint_model(ckpt)
    with torch.no_grad():
        labels = fixed_branch(model, "adv")(images.float() / 255).argmax(1)
    write_fake_cifar10(tmp_path / "data", images, labels)
    with pytest.raises(UserInputError, match=r"found but its checksum differs \(data_batch_1, "):
        run_benchmark("SabnTest_Bench", data_dir=tmp_path / "data",
                      model_dir=tmp_path / "models", n_examples=4)
    # The fake files cannot match torchvision's MD5 sums; everything else is real.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity",
                        lambda path, md5=None: os.path.isfile(path))

    record = run_benchmark("SabnTest_Bench", data_dir=tmp_path / "data",
                           model_dir=tmp_path / "models", n_examples=4, batch_size=4)
    assert record["kind"] == "robustbench-benchmark"
    assert record["clean_accuracy"] == 1.0
    robust = record["robust_accuracy"]["autoattack-standard"]
    assert robust in (0.0, 0.25, 0.5, 0.75), "AutoAttack should fool this model on some points"
    assert record["model"]["norm"] == "bn" and record["eps"] == 8 / 255
    with pytest.raises(UserInputError, match="not 'fashion-mnist'"):
        run_benchmark("SabnTest_Bench", data_dir=tmp_path, dataset="fashion-mnist")


def test_cli_export_and_info(tmp_path) -> None:
    ckpt = _checkpoint(tmp_path / "c.pt", "saauxbn")
    runner = CliRunner()
    result = runner.invoke(zoo_app, ["export", str(ckpt), "--name", "SabnTest_Cli",
                                     "--model-dir", str(tmp_path / "m"), "--eps", "8/255"])
    assert result.exit_code == 0, result.output
    assert "SabnTest_Cli.pt" in result.output
    paths = zoo_paths(tmp_path / "m", "cifar10", "Linf", "SabnTest_Cli")
    assert not paths.model_info.exists()  # RobustBench lists only models with accuracies
    assert json.loads(paths.entry.read_text())["leaderboard"]["eps"] == "8/255"
    result = runner.invoke(zoo_app, ["info", "SabnTest_Cli", "--dataset", "cifar10",
                                     "--model-dir", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "SabnTest_Cli: loaded" in result.output
    assert "(exported without an evaluation)" in result.output
    again = runner.invoke(zoo_app, ["export", str(ckpt), "--name", "SabnTest_Cli",
                                    "--model-dir", str(tmp_path / "m")])
    assert again.exit_code != 0 and "SabnTest_Cli is already exported" in str(again.exception)
    write_result(tmp_path / "eval.json", _record(ckpt, {"adv": (0.5, 0.25)}))
    result = runner.invoke(zoo_app, ["export", str(ckpt), "--name", "SabnTest_Cli",
                                     "--model-dir", str(tmp_path / "m"), "--force",
                                     "--evaluation", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(zoo_app, ["list", "--model-dir", str(tmp_path / "m")])
    assert listing.exit_code == 0, listing.output
    row = next(line for line in listing.output.splitlines() if "SabnTest_Cli" in line)
    assert ["cifar10", "Linf", "50.00", "25.00", "autoattack-standard"] == [
        cell for cell in row.replace("│", " ").split() if cell in (
            "cifar10", "Linf", "50.00", "25.00", "autoattack-standard")]
    result = runner.invoke(zoo_app, ["info", "Nope", "--dataset", "cifar10",
                                     "--model-dir", str(tmp_path / "m")])
    assert isinstance(result.exception, UserInputError)
