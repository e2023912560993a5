"""``import robustbench`` with no ``import robust_sabn`` first: the start-up ``.pth`` hook.

Every check runs in a new interpreter. The default run starts it with ``-S`` (no site
processing, so the ``.pth`` files of the venv running the tests stay out), puts the venv's
site-packages on the path without their ``.pth`` files, then lets ``site.addsitedir`` process a
folder holding only this checkout's ``robust_sabn_robustbench.pth``, as Python's start-up does
for site-packages. The slow tests install the package for real (``pip install .``, and the
editable wheel setuptools builds for ``pip install -e .``) into a new venv and run the same
checks there with a plain interpreter start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import torch
from test_zoo import _checkpoint, _record

from robust_sabn.artifacts import load_model as load_checkpoint_model
from robust_sabn.nn import fixed_branch
from robust_sabn.zoo import export_model

REPO = Path(__file__).resolve().parents[1]
HOOK = "robust_sabn_robustbench.pth"
PURELIB = sysconfig.get_paths()["purelib"]

_BARE_IMPORT = """
import sys
import robustbench, robustbench.utils, robustbench.eval
import autoattack
assert autoattack.__robust_sabn_shim__, autoattack
assert robustbench.eval.AutoAttack is autoattack.AutoAttack
print("robust_sabn from", sys.modules["robust_sabn"].__file__)
"""

_LOAD = """
import sys, torch
from robustbench.utils import load_model
model = load_model(model_name="Mine2026_Hook", model_dir="models", dataset="cifar10",
                   threat_model="Linf")
with torch.no_grad():
    torch.save(model.eval()(torch.load("x.pt", weights_only=True)), "y.pt")
try:
    load_model(model_name="Elsewhere2026", model_dir="zoo", dataset="cifar10",
               threat_model="Linf")
except KeyError as error:
    print("KeyError:", error)
import robust_sabn.zoo
robust_sabn.zoo.register_models("zoo")
load_model(model_name="Elsewhere2026", model_dir="zoo", dataset="cifar10", threat_model="Linf")
print("loaded Elsewhere2026")
from robustbench.utils import list_available_models
list_available_models("cifar10", "Linf")
"""

_FAKE_AUTOATTACK = {
    "autoattack/__init__.py": "REAL_AUTOATTACK = True\nclass AutoAttack:\n    pass\n",
    "autoattack/state.py": "class EvaluationState:\n    pass\n",
}

_REAL_WINS = """
import robustbench.eval
import autoattack
assert autoattack.REAL_AUTOATTACK and not hasattr(autoattack, "__robust_sabn_shim__")
assert robustbench.eval.AutoAttack is autoattack.AutoAttack
"""


def _hook_folder(tmp_path: Path) -> Path:
    """A folder holding only this checkout's start-up hook."""
    folder = tmp_path / "hook-site"
    folder.mkdir()
    shutil.copy(REPO / HOOK, folder / HOOK)
    return folder


def _simulated_start(code: str, tmp_path: Path, cwd: Path, *paths: Path
                     ) -> subprocess.CompletedProcess[str]:
    """``code`` in ``python -S`` after site processing of the hook folder only."""
    prelude = (f"import sys, site; sys.path.extend({[str(p) for p in paths]!r} + [{PURELIB!r}]);"
               f" assert 'robust_sabn' not in sys.modules;"
               f" site.addsitedir({str(_hook_folder(tmp_path))!r})\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _exports(tmp_path: Path) -> tuple[Path, torch.Tensor]:
    """A working folder with one evaluated export in ./models (its model_info in ./model_info)
    and one in ./zoo, and test inputs x.pt; returns it and the exported branch's logits."""
    work = tmp_path / "work"
    checkpoint = _checkpoint(tmp_path / "c.pt", "saauxbn")
    export_model(checkpoint, name="Mine2026_Hook", model_dir=work / "models",
                 evaluation=_record(checkpoint, {"clean": (0.9, 0.1), "adv": (0.8125, 0.5)}))
    export_model(checkpoint, name="Elsewhere2026", model_dir=work / "zoo")
    x = torch.rand(3, 3, 32, 32)
    torch.save(x, work / "x.pt")
    model, _ = load_checkpoint_model(checkpoint)
    with torch.no_grad():
        return work, fixed_branch(model, "adv")(x)


def _check_load(done: subprocess.CompletedProcess[str], work: Path,
                expected: torch.Tensor) -> None:
    assert done.returncode == 0, done.stderr
    assert torch.equal(torch.load(work / "y.pt"), expected)
    assert ("KeyError: 'Elsewhere2026' is neither a RobustBench cifar10/Linf model nor a "
            "robust-sabn export in ./models/cifar10/Linf; for a model exported to another "
            "folder run robust_sabn.zoo.register_models(MODEL_DIR) first") in done.stdout
    assert "loaded Elsewhere2026" in done.stdout
    listed = [line for line in done.stdout.splitlines() if "Mine2026_Hook" in line]
    assert len(listed) == 1 and "81.25%" in listed[0] and "50.00%" in listed[0], done.stdout


def test_the_hook_makes_a_bare_robustbench_import_work(tmp_path) -> None:
    done = _simulated_start(_BARE_IMPORT, tmp_path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"robust_sabn from {REPO}" in done.stdout


def test_without_the_hook_robustbench_does_not_import(tmp_path) -> None:
    """The control: the same start without the hook fails as issue 22 found it."""
    bare = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.append({PURELIB!r}); "
         "import robustbench"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"})
    assert "No module named 'autoattack'" in bare.stderr


@pytest.mark.slow  # about 20 s alone (exports, then torch, RobustBench and two loads anew)
def test_robustbench_load_model_finds_exports_in_models_with_no_call(tmp_path) -> None:
    work, expected = _exports(tmp_path)
    _check_load(_simulated_start(_LOAD, tmp_path, work), work, expected)


def test_a_real_autoattack_on_the_path_wins_over_the_shim(tmp_path) -> None:
    fake = tmp_path / "fake"
    for name, text in _FAKE_AUTOATTACK.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)
    done = _simulated_start(_REAL_WINS, tmp_path, tmp_path, fake)
    assert done.returncode == 0, done.stderr


# --- the real installs (slow: a pip install and a new venv each) -----------------------------


@pytest.fixture(scope="module", params=["pip install .", "pip install -e ."])
def installed_python(request, tmp_path_factory) -> tuple[str, Path]:
    """(python of a new venv where robust-sabn is installed as named, its site-packages).

    The venv reaches the test venv's other packages through a path file (no ``.pth`` files
    of that venv run); robust-sabn itself is only this install.
    """
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site_packages = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "deps.pth").write_text(PURELIB + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if request.param == "pip install .":
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "--target", str(site_packages), str(REPO)],
                       check=True, env=env, timeout=600)
    else:  # the wheel pip would build for -e, unpacked as pip installs it
        built = subprocess.run(
            [sys.executable, "-c", "import sys, setuptools.build_meta as b; "
             "print(b.build_editable(sys.argv[1]))", str(root)],
            cwd=REPO, capture_output=True, text=True, check=True, env=env, timeout=600)
        with zipfile.ZipFile(root / built.stdout.strip().splitlines()[-1]) as wheel:
            wheel.extractall(site_packages)
    assert (site_packages / HOOK).is_file(), sorted(p.name for p in site_packages.iterdir())
    return str(python), site_packages


def _installed_run(python: str, code: str, cwd: Path, *paths: Path
                   ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    return subprocess.run([python, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**env, "OMP_NUM_THREADS": "1",
                                            "PYTHONWARNINGS": "ignore"})


@pytest.mark.slow
def test_installed_robust_sabn_serves_robustbench_in_any_new_process(installed_python,
                                                                      tmp_path) -> None:
    python, site_packages = installed_python
    done = _installed_run(python, _BARE_IMPORT, tmp_path)
    assert done.returncode == 0, done.stderr
    copied = (site_packages / "robust_sabn").is_dir()  # pip install . copies, -e maps to REPO
    assert f"robust_sabn from {site_packages if copied else REPO}" in done.stdout
    work, expected = _exports(tmp_path)
    _check_load(_installed_run(python, _LOAD, work), work, expected)
    fake = tmp_path / "fake"
    for name, text in _FAKE_AUTOATTACK.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)
    done = _installed_run(python, _REAL_WINS, tmp_path, fake)
    assert done.returncode == 0, done.stderr
