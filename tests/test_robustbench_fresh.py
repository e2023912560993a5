"""RobustBench and the CLI as a new user meets them: every check runs in a fresh Python process.

In the pytest process RobustBench's model dictionaries and ``sys.modules`` keep whatever earlier
tests put there, so "it loads" would prove nothing; each test here exports or writes files, then
starts a new interpreter that sees only those files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fake_cifar import write_fake_cifar10
from pyautoattack.examples.resnet import ResNet18
from test_zoo import PYAUTOATTACK_R18, _checkpoint
from torch import nn

from robust_sabn.artifacts import file_sha256
from robust_sabn.artifacts import load_model as load_checkpoint_model
from robust_sabn.nn import fixed_branch
from robust_sabn.zoo import export_model, export_state_dict

REPO = Path(__file__).resolve().parents[1]
SNIPPET = Path(__file__).parent / "fixtures" / "zoo" / "readme_snippet.py"
SNIPPET_MODEL = "Mine2026_SmallCNN"


def _python(code: str, *args: str | Path, cwd: Path, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter (one torch thread, warnings off); fail loudly."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
                   "COLUMNS": "200", **(env or {})}
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``robust-sabn ARGS`` in a new process."""
    return _python("from robust_sabn.cli import main; main()", *args, cwd=cwd)


def _metrics(record_path: Path) -> dict[tuple[str, str], float]:
    """(branch, attack) -> accuracy from an evaluation record's JSON."""
    record = json.loads(record_path.read_text())
    return {(m["branch"], m["condition"]["attack"]): m["value"] for m in record["metrics"]}


# --- import robust_sabn is enough, and never shadows a real autoattack ----------------------

_CHEAP_IMPORT = """
import sys
import robust_sabn
assert "torch" not in sys.modules, "import robust_sabn must not import torch"
"""

_REAL_AUTOATTACK = """
import robust_sabn
import autoattack
assert autoattack.REAL_AUTOATTACK and not hasattr(autoattack, "__robust_sabn_shim__")
"""


def test_a_real_autoattack_package_wins_in_a_new_process(tmp_path) -> None:
    (tmp_path / "autoattack").mkdir()
    (tmp_path / "autoattack" / "__init__.py").write_text("REAL_AUTOATTACK = True\n")
    _python(_REAL_AUTOATTACK, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})


# --- the README snippet: export -> new process -> robustbench.utils.load_model ----------------

_SNIPPET_CHECK = """
import autoattack, robustbench, sys, torch
assert autoattack.__robust_sabn_shim__ and robustbench.eval.AutoAttack is autoattack.AutoAttack
assert not model.training
with torch.no_grad():
    torch.save(model(torch.load(sys.argv[1], weights_only=True)), sys.argv[2])
import robust_sabn.zoo
found = {m.name: m.in_robustbench for m in robust_sabn.zoo.register_models("models")}
assert found == {"Mine2026_SmallCNN": True, "Mine2026_Fmnist": False}, found
foreign = robust_sabn.zoo.register_models("foreign", trust_remote_code=True)
assert [m.name for m in foreign] == ["Croce2020Example_R18"], foreign
example = load_model(model_name="Croce2020Example_R18", model_dir="foreign", dataset="cifar10",
                     threat_model="Linf")
with torch.no_grad():
    torch.save(example(torch.load(sys.argv[1], weights_only=True)), sys.argv[3])
"""


def test_readme_snippet_loads_exports_through_robustbench_in_a_new_process(tmp_path) -> None:
    checkpoint = _checkpoint(tmp_path / "c.pt", "saauxbn")
    export_model(checkpoint, name=SNIPPET_MODEL, model_dir=tmp_path / "models")
    fmnist = _checkpoint(tmp_path / "f.pt", "bn", "fashion-mnist", in_channels=1)
    export_model(fmnist, name="Mine2026_Fmnist", model_dir=tmp_path / "models")
    export_state_dict(PYAUTOATTACK_R18, arch="pyautoattack.examples.resnet:ResNet18",
                      dataset="cifar10", name="Croce2020Example_R18",
                      model_dir=tmp_path / "foreign")  # a factory outside robust-sabn: trusted
    x = torch.rand(4, 3, 32, 32)
    torch.save(x, tmp_path / "x.pt")

    # The snippet runs verbatim, after a check that import robust_sabn alone imports no torch.
    _python(_CHEAP_IMPORT + SNIPPET.read_text() + _SNIPPET_CHECK, tmp_path / "x.pt",
            tmp_path / "y.pt", tmp_path / "y_example.pt", cwd=tmp_path)
    model, _ = load_checkpoint_model(checkpoint)
    example = ResNet18()
    example.load_state_dict(torch.load(PYAUTOATTACK_R18, map_location="cpu", weights_only=True))
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "y.pt"), fixed_branch(model, "adv")(x))
        assert torch.equal(torch.load(tmp_path / "y_example.pt"), example.eval()(x))


def test_readme_robustbench_section_shows_the_tested_snippet() -> None:
    readme = (REPO / "README.md").read_text()
    heading = re.search(r"^## RobustBench.*$", readme, re.MULTILINE)
    assert heading is not None, "README has no '## RobustBench ...' section"
    section = readme[heading.end():]
    following = re.search(r"^## ", section, re.MULTILINE)
    section = section[:following.start()] if following else section
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README's RobustBench section has no python block"
    assert block.group(1).strip() == SNIPPET.read_text().strip()


# --- robustbench.eval.benchmark in a new process ---------------------------------------------

_BENCHMARK = """
import json, os
import torchvision.datasets.cifar as cifar
cifar.check_integrity = lambda path, md5=None: os.path.isfile(path)  # fake files, real reader
import robust_sabn.zoo
from robustbench.eval import benchmark
from robustbench.utils import load_model
robust_sabn.zoo.register_models("models")
model = load_model(model_name="Mine2026_Bench", model_dir="models", dataset="cifar10",
                   threat_model="Linf")
clean, robust = benchmark(model, n_examples=4, dataset="cifar10", threat_model="Linf",
                          to_disk=True, model_name="Mine2026_Bench", data_dir="data",
                          batch_size=4, eps=8 / 255)
print(json.dumps({"clean": clean, "robust": robust}))
"""


def test_robustbench_benchmark_runs_on_a_registered_export_in_a_new_process(tmp_path) -> None:
    # std 0.01 amplifies inputs 25x: APGD-CE fools the random model and the cascade ends early.
    checkpoint = _checkpoint(tmp_path / "c.pt", "saauxbn", std=0.01)
    export_model(checkpoint, name="Mine2026_Bench", model_dir=tmp_path / "models")
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    model, _ = load_checkpoint_model(checkpoint)
    with torch.no_grad():
        labels = fixed_branch(model, "adv")(images.float() / 255).argmax(1)
    write_fake_cifar10(tmp_path / "data", images, labels)

    result = json.loads(_python(_BENCHMARK, cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert result["clean"] == 1.0
    assert result["robust"] in (0.0, 0.25, 0.5, 0.75), "AutoAttack should fool some points"
    info = json.loads((tmp_path / "model_info" / "cifar10" / "Linf" / "Mine2026_Bench.json")
                      .read_text())
    assert info["clean_acc"] == "100.0"
    assert info["autoattack_acc"] == str(round(result["robust"] * 100, 2))


# --- anyone's model through the CLI ------------------------------------------------------------


def _write_cifar_shaped_npz(path: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    """An npz of uint8 (N, 32, 32, 3) images with these labels, declaring 10 classes."""
    x = images.permute(0, 2, 3, 1).numpy()
    np.savez(path, x_train=x, y_train=labels.numpy(), x_test=x, y_test=labels.numpy(),
             num_classes=np.array(10))
    return path


def _labelled_by(model: nn.Module, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (count, 3, 32, 32) and the model's own predictions for them."""
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        return images, model(images.float() / 255).argmax(1)


def test_cli_evaluates_pyautoattacks_example_state_dict_with_arch(tmp_path) -> None:
    reference = ResNet18()
    reference.load_state_dict(torch.load(PYAUTOATTACK_R18, map_location="cpu",
                                         weights_only=True))
    data = _write_cifar_shaped_npz(tmp_path / "d.npz", *_labelled_by(reference.eval(), 2))
    _cli("eval", PYAUTOATTACK_R18, "--arch", "pyautoattack.examples.resnet:ResNet18",
         "--dataset", "npz", "--data-dir", data, "--attacks", "pgd", "--pgd-steps", "1",
         "-o", tmp_path / "r.json", cwd=tmp_path)
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["kind"] == "evaluation"
    assert record["subject"]["model"] == {
        "name": "ResNet18", "source": "state-dict", "file": str(PYAUTOATTACK_R18),
        "arch": "pyautoattack.examples.resnet:ResNet18"}
    assert record["subject"]["checkpoint_sha256"] == file_sha256(PYAUTOATTACK_R18)
    accuracies = _metrics(tmp_path / "r.json")
    assert accuracies[("shared", "clean")] == 1.0, "the weights were not the example's"
    assert set(accuracies) == {("shared", "clean"), ("shared", "pgd-1")}


def small_cifar_net() -> nn.Module:
    """A plain CIFAR-shaped classifier with non-trivial BN statistics, in eval mode."""
    net = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2), nn.BatchNorm2d(6), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 10))
    with torch.no_grad():
        net[1].running_mean.normal_(0, 0.2)
        net[1].running_var.uniform_(0.5, 2)
    return net.eval()


def save_archive(net: nn.Module, path: Path, kind: str) -> Path:
    """``net`` saved as a TorchScript or torch.export archive (dynamic batch dimension)."""
    if kind == "torchscript":
        with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; others still ship it
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(torch.jit.script(net), str(path))
    else:
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(net, (torch.rand(2, 3, 32, 32),),
                                      dynamic_shapes=({0: batch},))
        torch.export.save(program, str(path))
    return path


@pytest.mark.parametrize(("kind", "file_name"),
                         [("torchscript", "net.pt"), ("torch-export", "net.pt2")])
def test_cli_evaluates_an_archive_like_the_original_module(tmp_path, kind: str,
                                                          file_name: str) -> None:
    from robust_sabn.data import load_split
    from robust_sabn.evaluate import evaluate_model

    net = small_cifar_net()
    archive = save_archive(net, tmp_path / file_name, kind)
    data = _write_cifar_shaped_npz(tmp_path / "d.npz", *_labelled_by(net, 4))
    trust = ["--trust-remote-code"] if kind == "torch-export" else []
    _cli("eval", archive, "--dataset", "npz", "--data-dir", data, "--attacks", "pgd",
         "--pgd-steps", "2", "-o", tmp_path / "r.json", *trust, cwd=tmp_path)
    record: dict[str, Any] = json.loads((tmp_path / "r.json").read_text())
    assert record["subject"]["model"]["source"] == kind
    direct = evaluate_model(net, load_split("npz", "test", data_dir=data), attacks=("pgd",),
                            pgd_steps=2, n_examples=4)
    expected = {(m.branch, m.condition["attack"]): m.value for m in direct.metrics}
    assert _metrics(tmp_path / "r.json") == expected
    assert expected[("shared", "clean")] == 1.0
