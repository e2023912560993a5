"""The package as a user installs it: suites found from any folder, every import declared."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def installed_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as ``pip install .`` builds it, installed into a folder of its own."""
    target = tmp_path_factory.mktemp("installed") / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    return target


def test_suite_list_works_from_another_folder_when_installed(installed_target: Path,
                                                             tmp_path: Path) -> None:
    target = installed_target
    bundled = sorted(p.name for p in (target / "robust_sabn" / "bundled_suites").glob("*.toml"))
    assert bundled == sorted(p.name for p in (REPO / "suites").glob("*.toml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import sys, robust_sabn; assert robust_sabn.__file__.startswith(sys.argv[1]), "
            "robust_sabn.__file__; from robust_sabn.cli import main; "
            "sys.argv = ['robust-sabn', 'suite', 'list', '--out', 'runs']; main()")
    env = {**os.environ, "PYTHONPATH": str(target), "COLUMNS": "300"}
    env.pop("ROBUST_SABN_SUITES", None)
    done = subprocess.run([sys.executable, "-c", code, str(target)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for path in (REPO / "suites").glob("*.toml"):
        row = next((line for line in done.stdout.splitlines() if path.stem in line), None)
        assert row is not None and str(target) in row, done.stdout


_EVERY_HELP = """
import sys
from typer.main import get_command
from robust_sabn.cli import app
assert __import__("robust_sabn").__file__.startswith(sys.argv[1])

def walk(command, path):
    yield path
    if hasattr(command, "list_commands"):  # a group (typer may ship its own click)
        context = command.make_context(path[-1] if path else "robust-sabn", ["--help"],
                                       resilient_parsing=True)
        for name in command.list_commands(context):
            yield from walk(command.get_command(context, name), [*path, name])

root = get_command(app)
for path in walk(root, []):
    try:
        root.main([*path, "--help"], prog_name="robust-sabn", standalone_mode=False)
    except SystemExit as exit:
        assert exit.code in (0, None), (path, exit.code)
    print("HELP-OK", " ".join(path), flush=True)
"""


@pytest.mark.slow  # about 50 s: every command's --help, each importing its task, then nas score
def test_every_command_and_the_nas_table_work_when_installed(installed_target: Path,
                                                             tmp_path: Path) -> None:
    """Each command's --help from the installed package, and the analog-nasbench table of a
    plain install (``nas score``), run from a folder outside the checkout."""
    env = {**os.environ, "PYTHONPATH": str(installed_target), "COLUMNS": "200",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _EVERY_HELP, str(installed_target)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    helped = {line.removeprefix("HELP-OK").strip() for line in done.stdout.splitlines()
              if line.startswith("HELP-OK")}
    assert {"", "train", "eval", "zoo list", "zoo export", "suite run", "nas score"} <= helped
    cell = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
            "skip_connect~2|")
    score = subprocess.run([sys.executable, "-c", "from robust_sabn.cli import main; main()",
                            "nas", "score", cell], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
    assert score.returncode == 0, score.stderr
    assert "analog-nasbench" in score.stdout


OPTIONAL_MODULES = {"nas_201_api": "nas", "submitit": "cluster"}
"""Modules imported only on request, and the extra that installs each; everything else that
robust_sabn imports must come with a plain ``pip install``."""


def _imported_top_level_modules() -> set[str]:
    """Top-level modules robust_sabn imports or looks up with ``find_spec("name")``."""
    found: set[str] = set()
    for path in (REPO / "robust_sabn").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.partition(".")[0])
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "find_spec"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(str(node.args[0].value).partition(".")[0])
    return found - set(sys.stdlib_module_names) - {"robust_sabn", "__future__"}


def _closure(requirements: list[str]) -> set[str]:
    """Normalised names of these distributions and everything they require (installed here)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo.extend(Requirement(r) for r in importlib.metadata.requires(name) or [])
        except importlib.metadata.PackageNotFoundError:  # an extra's package not installed here
            continue
    return seen


def test_every_module_robust_sabn_imports_comes_with_its_dependencies_or_named_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = _closure(project["dependencies"])
    providers = importlib.metadata.packages_distributions()
    for module in sorted(_imported_top_level_modules()):
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        assert distributions, f"{module} is imported but no installed distribution provides it"
        if module in OPTIONAL_MODULES:
            extra = OPTIONAL_MODULES[module]
            assert distributions & _closure(project["optional-dependencies"][extra]), module
            assert distributions.isdisjoint(core), f"{module} is core: drop it from OPTIONAL"
        else:
            assert distributions & core, (
                f"robust_sabn imports {module} ({', '.join(distributions)}), which a plain "
                "pip install does not bring: add it to [project] dependencies")


def test_a_missing_optional_dependency_names_its_extra(monkeypatch) -> None:
    from robust_sabn.errors import UserInputError
    from robust_sabn.nas.tables import load_nb201_table
    from robust_sabn.suites.cluster import ClusterOptions, SubmititExecutor

    assert OPTIONAL_MODULES == {"nas_201_api": "nas", "submitit": "cluster"}, (
        "test each optional module's message")
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # import nas_201_api now fails
    with pytest.raises(UserInputError) as caught:
        load_nb201_table(REPO / "pyproject.toml")
    assert str(caught.value) == ("--nb201 needs the NAS-Bench-201 API: pip install "
                                 "'robust-sabn[nas]'")
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(UserInputError) as caught:
        SubmititExecutor(ClusterOptions(), REPO / "runs" / "x", lambda label: None)
    assert str(caught.value) == ("--executor slurm needs submitit: pip install "
                                 "'robust-sabn[cluster]'")
