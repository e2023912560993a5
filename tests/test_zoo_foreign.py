"""Models from elsewhere (archives, --arch state dicts), register_models, float ImageTensors."""

from __future__ import annotations

import builtins
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_robustbench_fresh import save_archive, small_cifar_net
from test_zoo import PYAUTOATTACK_R18, _checkpoint, _record
from torch import nn
from typer.testing import CliRunner

from robust_sabn.artifacts.result import write_result
from robust_sabn.cli.zoo import app as zoo_app
from robust_sabn.data import ImageTensors, iterate_batches
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate import evaluate_model
from robust_sabn.evaluate.foreign import (
    ExportedClassifier,
    evaluate_foreign,
    import_factory,
    load_foreign_model,
    model_file_kind,
)
from robust_sabn.nn.mode import model_mode
from robust_sabn.zoo import export_model, exported_models, load_model, register_models, zoo_paths

R18 = "pyautoattack.examples.resnet:ResNet18"


class _WritesMarker:
    """A pickle whose loading would create ``marker``: proof that nothing unpickles it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("archives")
    torch.manual_seed(0)
    net = small_cifar_net()
    torch.save(net.state_dict(), folder / "net_state.pt")
    return {"net": folder / "net_state.pt",
            "torchscript": save_archive(net, folder / "net.pt", "torchscript"),
            "torch-export": save_archive(net, folder / "net.pt2", "torch-export")}


def test_model_file_kind_tells_every_kind_apart_without_running_pickles(archives,
                                                                        tmp_path) -> None:
    assert model_file_kind(archives["torchscript"]) == "torchscript"
    assert model_file_kind(archives["torch-export"]) == "torch-export"
    assert model_file_kind(archives["net"]) == "state-dict"
    assert model_file_kind(PYAUTOATTACK_R18) == "state-dict"  # legacy (non-zip) torch.save
    torch.save({"state_dict": nn.Linear(2, 2).state_dict(), "epoch": 3}, tmp_path / "rb.pt")
    assert model_file_kind(tmp_path / "rb.pt") == "state-dict"  # RobustBench's wrapping
    assert model_file_kind(_checkpoint(tmp_path / "c.pt", "bn")) == "checkpoint"
    marker = tmp_path / "marker"
    torch.save({"w": _WritesMarker(marker)}, tmp_path / "evil.pt")
    torch.save(nn.Linear(2, 2), tmp_path / "whole_module.pt")
    (tmp_path / "noise.pt").write_bytes(b"not a model at all")
    for name in ("evil.pt", "whole_module.pt", "noise.pt", "missing.pt"):
        assert model_file_kind(tmp_path / name) is None, name
    assert not marker.exists()


def test_archives_load_and_compute_what_the_module_computed(archives) -> None:
    net = small_cifar_net()
    net.load_state_dict(torch.load(archives["net"], weights_only=True))
    x = torch.rand(3, 3, 32, 32)
    for kind in ("torchscript", "torch-export"):
        foreign = load_foreign_model(archives[kind], trust_remote_code=True)
        assert foreign.kind == kind and not foreign.model.training
        with torch.no_grad():
            assert torch.allclose(foreign.model(x), net(x), atol=1e-6)
    exported = load_foreign_model(archives["torch-export"], trust_remote_code=True).model
    assert isinstance(exported, ExportedClassifier)
    with model_mode(exported, True):  # attacks switch modes; the graph's mode stays fixed
        assert exported.training
        with torch.no_grad():
            assert torch.allclose(exported(x), net(x), atol=1e-6)
    assert not exported.training


def test_arch_state_dicts_load_strictly_with_weights_only(archives, tmp_path) -> None:
    foreign = load_foreign_model(PYAUTOATTACK_R18, arch=R18)
    assert foreign.describe() == {"name": "ResNet18", "source": "state-dict",
                                  "file": str(PYAUTOATTACK_R18), "arch": R18}
    marker = tmp_path / "marker"
    torch.save({"w": _WritesMarker(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UserInputError, match="weights_only=True"):
        load_foreign_model(tmp_path / "evil.pt", arch=R18)
    assert not marker.exists()
    with pytest.raises(UserInputError, match=r"do not fit --arch .*Missing key"):
        load_foreign_model(archives["net"], arch=R18)


@pytest.mark.parametrize(("source", "arch", "message"), [
    ("torchscript", R18, "torchscript archive that holds its architecture; drop --arch"),
    ("state", None, "is not a robust-sabn checkpoint but a state dict: name its architecture "
                    "with --arch package.module:factory"),
    ("state", "pyautoattack.examples.resnet.ResNet18", "must be package.module:factory"),
    ("state", "no_such_package.models:Net",
     "no module no_such_package.models here or among the installed packages"),
    ("state", "pyautoattack.examples.resnet:Nope", "has no Nope"),
    ("state", "torch.nn:Linear", "--arch torch.nn:Linear: Linear() raised TypeError: "
                                 "Linear.__init__() missing 2 required positional arguments"),
    ("state", "math:pi", "pi is not callable"),
    ("state", "builtins:dict", "dict() returned a dict, not a torch module"),
    ("checkpoint", None, "is not a TorchScript or torch.export archive, nor a state dict"),
])
def test_bad_foreign_models_are_one_line_user_errors(archives, tmp_path, source: str,
                                                      arch: str | None, message: str) -> None:
    path = {"torchscript": archives["torchscript"], "state": PYAUTOATTACK_R18}.get(source)
    if path is None:
        path = tmp_path / "whole.pt"
        torch.save(nn.Linear(2, 2), path)
    with pytest.raises(UserInputError, match=re.escape(message)) as error:
        load_foreign_model(path, arch=arch)
    assert "\n" not in str(error.value)


def test_arch_kwargs_build_torchvisions_resnet18_for_a_10_class_state_dict(tmp_path) -> None:
    import torchvision

    torch.manual_seed(0)
    original = torchvision.models.resnet18(num_classes=10).eval()
    torch.save(original.state_dict(), tmp_path / "r18.pt")
    arch = "torchvision.models:resnet18"
    with pytest.raises(UserInputError, match=r"do not fit --arch torchvision.models:resnet18 "
                       r"with arguments \{\} \(set the factory's with --arch-kwargs\): "
                       r".*size mismatch for fc.weight"):
        load_foreign_model(tmp_path / "r18.pt", arch=arch)
    with pytest.raises(UserInputError, match=r"resnet18\(bogus=1\) raised TypeError"):
        load_foreign_model(tmp_path / "r18.pt", arch=arch, arch_kwargs={"bogus": 1})
    loaded = load_foreign_model(tmp_path / "r18.pt", arch=arch, arch_kwargs={"num_classes": 10})
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), original(x))
    assert loaded.describe()["arch_kwargs"] == {"num_classes": 10}


def test_eval_and_zoo_export_take_arch_kwargs(tmp_path, capsys, monkeypatch) -> None:
    import torchvision
    from npz_helpers import run_cli

    original = torchvision.models.resnet18(num_classes=10).eval()
    torch.save(original.state_dict(), tmp_path / "r18.pt")
    args = ["--arch", "torchvision.models:resnet18", "--arch-kwargs", '{"num_classes": 10}']
    code, _, err = run_cli(["eval", str(tmp_path / "r18.pt"), *args, "--dataset", "npz",
                            "--data-dir", str(_npz(tmp_path / "d.npz", original, 2)),
                            "--attacks", "", "--out", str(tmp_path / "r.json")],
                           capsys, monkeypatch)
    assert code == 0, err
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["subject"]["model"]["arch_kwargs"] == {"num_classes": 10}
    code, _, err = run_cli(["zoo", "export", str(tmp_path / "r18.pt"), *args, "--dataset",
                            "cifar10", "--name", "Tv2026_R18", "--model-dir",
                            str(tmp_path / "models")], capsys, monkeypatch)
    assert code == 0, err
    loaded = load_model("Tv2026_R18", tmp_path / "models", "cifar10", "Linf", loader="local",
                        trust_remote_code=True)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))
    code, _, err = run_cli(["eval", str(tmp_path / "r18.pt"), *args[:2], "--arch-kwargs",
                              "[10]", "--dataset", "npz"], capsys, monkeypatch)
    assert (code, err.strip()) == (2, "error: --arch-kwargs must be a JSON object of keyword "
                                      "arguments, e.g. '{\"num_classes\": 10}', not '[10]'")


def test_arch_modules_are_found_in_the_working_directory_as_python_m_finds_them(
        tmp_path, monkeypatch) -> None:
    (tmp_path / "mynets.py").write_text(
        "import torch\ndef tiny(num_classes=3):\n    return torch.nn.Linear(4, num_classes)\n")
    (tmp_path / "brokennets.py").write_text("import no_such_dependency\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in sys.path
                                     if p not in ("", str(tmp_path))])
    for module in ("mynets", "brokennets"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    assert import_factory("mynets:tiny")().out_features == 3
    with pytest.raises(UserInputError, match=r"^--arch 'brokennets:f': importing brokennets "
                       r"failed: No module named 'no_such_dependency'$"):
        import_factory("brokennets:f")
    with pytest.raises(UserInputError, match=r"^--arch 'nonets:f': no module nonets here or "
                       r"among the installed packages$"):
        import_factory("nonets:f")


def test_a_robust_sabn_checkpoint_is_refused_with_arch(tmp_path) -> None:
    with pytest.raises(UserInputError, match="robust-sabn checkpoint; evaluate it without"):
        load_foreign_model(_checkpoint(tmp_path / "c.pt", "bn"), arch=R18)
    assert import_factory("pyautoattack.examples.resnet:ResNet18").__name__ == "ResNet18"


def _npz(path: Path, net: nn.Module, count: int = 4) -> Path:
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        labels = net(images.float() / 255).argmax(1).numpy()
    x = images.permute(0, 2, 3, 1).numpy()
    np.savez(path, x_train=x, y_train=labels, x_test=x, y_test=labels, num_classes=np.array(10))
    return path


def test_evaluate_foreign_needs_a_dataset_and_a_batch_dimension(archives, tmp_path) -> None:
    data = _npz(tmp_path / "d.npz", small_cifar_net())
    with pytest.raises(UserInputError, match="give --dataset for a model from elsewhere"):
        evaluate_foreign(archives["torchscript"], dataset=None, attacks=())
    program = torch.export.export(small_cifar_net(), (torch.rand(3, 3, 32, 32),))
    torch.export.save(program, str(tmp_path / "static.pt2"))
    with pytest.raises(UserInputError, match="dynamic batch dimension"):
        evaluate_foreign(tmp_path / "static.pt2", dataset="npz", data_dir=data, attacks=(),
                         trust_remote_code=True)
    with pytest.raises(UserInputError, match=r"eps 8\.0 is outside"):
        evaluate_foreign(archives["torchscript"], dataset="npz", data_dir=data, eps=8.0)


# --- register_models and datasets RobustBench lacks ------------------------------------------


def test_register_models_lists_every_export_and_flags_datasets_robustbench_lacks(
        tmp_path) -> None:
    models = tmp_path / "models"
    export_model(_checkpoint(tmp_path / "c.pt", "saauxbn"), name="SabnTest_RegC",
                 model_dir=models)
    export_model(_checkpoint(tmp_path / "f.pt", "bn", "fashion-mnist", in_channels=1),
                 name="SabnTest_RegF", model_dir=models)
    found = {(m.name, m.dataset, m.threat_model, m.in_robustbench)
             for m in register_models(models)}
    assert found == {("SabnTest_RegC", "cifar10", "Linf", True),
                     ("SabnTest_RegF", "fashion-mnist", "Linf", False)}
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    assert "SabnTest_RegC" in model_dicts[BenchmarkDataset("cifar10")][ThreatModel("Linf")]
    with pytest.raises(UserInputError, match=r"RobustBench has no dataset 'fashion-mnist' .*"
                                             r"robust_sabn\.zoo\.load_model"):
        load_model("SabnTest_RegF", models, "fashion-mnist", loader="robustbench")
    assert not load_model("SabnTest_RegF", models, "fashion-mnist").training


def test_register_models_refuses_a_missing_folder_and_a_damaged_entry(tmp_path) -> None:
    with pytest.raises(UserInputError, match=r"model folder .*nowhere not found"):
        register_models(tmp_path / "nowhere")
    assert exported_models(tmp_path) == []
    export_model(_checkpoint(tmp_path / "c.pt", "bn"), name="SabnTest_Bad", model_dir=tmp_path)
    entry = zoo_paths(tmp_path, "cifar10", "Linf", "SabnTest_Bad").entry
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "threat_model": "L2"}))
    with pytest.raises(UserInputError, match="records cifar10/L2 but lies under cifar10/Linf"):
        register_models(tmp_path)


# --- zoo export of anyone's state dict -------------------------------------------------------

NET_ARCH = "test_robustbench_fresh:small_cifar_net"


class _HoldsModel(nn.Module):
    """Keys "model.*": RobustBench's loader would cut them."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Linear(2, 2)


def test_cli_exports_a_state_dict_with_its_record_and_it_loads_back(archives, tmp_path) -> None:
    record = tmp_path / "r.json"
    write_result(record, _record(archives["net"], {"shared": (0.75, 0.5)}, "npz"))
    result = CliRunner().invoke(zoo_app, [
        "export", str(archives["net"]), "--arch", NET_ARCH, "--dataset", "npz",
        "--name", "SabnTest_Foreign", "--model-dir", str(tmp_path / "m"),
        "--evaluation", str(record)])
    assert result.exit_code == 0, result.output
    assert "RobustBench has no npz benchmark; load with robust_sabn.zoo.load_model(" in (
        " ".join(result.output.split()))
    paths = zoo_paths(tmp_path / "m", "npz", "Linf", "SabnTest_Foreign")
    info = json.loads(paths.model_info.read_text())
    assert (info["clean_acc"], info["autoattack_acc"]) == ("75.00", "50.00")
    assert info["architecture"] == "small_cifar_net" and info["eps"] == "8/255"
    assert json.loads(paths.entry.read_text())["model"] == {"arch": NET_ARCH}
    net = small_cifar_net()
    net.load_state_dict(torch.load(archives["net"], weights_only=True))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_model("SabnTest_Foreign", tmp_path / "m", "npz",
                                      trust_remote_code=True)(x), net(x))


@pytest.mark.parametrize(("args", "message"), [
    (["torchscript"], "is a torchscript, not a robust-sabn checkpoint: RobustBench loads a "
                      "state dict"),
    (["net", "--arch", NET_ARCH], "--arch and --dataset go together"),
    (["model_keys", "--arch", "test_zoo_foreign:_HoldsModel", "--dataset", "cifar10"],
     "contain 'module.' or 'model.'"),
])
def test_bad_state_dict_exports_are_user_errors(archives, tmp_path, args: list[str],
                                                message: str) -> None:
    torch.save(_HoldsModel().state_dict(), tmp_path / "model_keys.pt")
    files = {**archives, "model_keys": tmp_path / "model_keys.pt"}
    result = CliRunner().invoke(zoo_app, ["export", str(files[args[0]]), *args[1:], "--name",
                                          "SabnTest_Bad", "--model-dir", str(tmp_path / "m")])
    assert isinstance(result.exception, UserInputError)
    assert message in str(result.exception)
    assert not (tmp_path / "m" / "cifar10").exists()


# --- float images ---------------------------------------------------------------------------


def test_image_tensors_take_float_images_in_unit_range_and_say_so_otherwise() -> None:
    pixels = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3])
    as_float = ImageTensors(pixels.float() / 255, labels, "npz")
    as_uint8 = ImageTensors(pixels, labels, "npz")
    float_batch, _ = next(iterate_batches(as_float, 4, shuffle=False, augment=False))
    uint8_batch, _ = next(iterate_batches(as_uint8, 4, shuffle=False, augment=False))
    assert torch.equal(float_batch, uint8_batch)
    with pytest.raises(UserInputError, match=r"float images must lie in \[0, 1\], these span 0 "
                                             r"to 255: divide 0\.\.255 pixels by 255"):
        ImageTensors(pixels.float(), labels, "npz")
    with pytest.raises(UserInputError, match=r"uint8 in 0\.\.255 or float in \[0, 1\]; got "
                                             r"torch\.int32"):
        ImageTensors(pixels.int(), labels, "npz")


def test_float_and_uint8_images_give_the_same_evaluation() -> None:
    net = small_cifar_net()
    pixels = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        labels = net(pixels.float() / 255).argmax(1)
    records = [evaluate_model(net, ImageTensors(images, labels, "cifar10"), attacks=("pgd",),
                              pgd_steps=2, n_examples=4)
               for images in (pixels, pixels.float() / 255)]
    values = [[(m.branch, m.condition.get("attack"), m.value) for m in r.metrics]
              for r in records]
    assert values[0] == values[1] and values[0][0][2] == 1.0
