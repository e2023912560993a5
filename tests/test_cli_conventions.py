"""Every command follows the command-line conventions of :mod:`robust_sabn.cli.options`: a test
walks the whole command tree (the tasks' commands too) and checks each one; ``robust-sabn
--help`` imports no torch and is fast; ``--version``; old spellings still work, with a line."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import typer
from npz_helpers import run_cli
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from robust_sabn.cli import app
from robust_sabn.cli.application import all_commands
from robust_sabn.cli.options import DEPRECATED_OPTIONS

RUN_FOLDER_COMMANDS = {"train", "gan reference", "gan train", "nas train", "style train",
                       "suite list", "suite run", "suite plan", "suite export-records",
                       "suite status", "gan dump"}
"""Commands whose ``--out`` is a folder (a run folder, the suites' root of run folders, or
``gan dump``'s folder of images)."""
TRAINING_COMMANDS = {"train", "gan train", "nas train", "style train"}
"""Commands that continue an interrupted run: ``--resume/--no-resume``."""
NOT_COMPUTING = {"report", "schema", "claims", "suite list", "suite plan", "zoo export",
                 "zoo info", "zoo list", "suite export-records", "suite run", "suite status"}
"""Commands without ``--device``: they render, list or copy files, or (``suite run``) take each
run's device from the suite file, where it belongs to the suite's definition."""


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(command path, click command) of every leaf command below ``command``."""
    if isinstance(command, TyperGroup):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, name), (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(walk(typer.main.get_command(app)))


def options(command: Any) -> dict[str, TyperOption]:
    """Every option name (``--out``, ``-o``, ``--no-resume``) -> its option."""
    found = {}
    for param in command.params:
        if isinstance(param, TyperOption):
            found |= dict.fromkeys([*param.opts, *param.secondary_opts], param)
    return found


def test_the_walk_sees_every_command_and_the_tasks_commands() -> None:
    assert {"train", "eval", "suite run", "zoo benchmark", "gan train", "nas score",
            "style stylize", "sample", "stylize"} <= set(COMMANDS)
    assert RUN_FOLDER_COMMANDS | TRAINING_COMMANDS | NOT_COMPUTING <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_out_is_a_folder_and_o_is_a_file(name: str) -> None:
    found = options(COMMANDS[name])
    if "--out" in found:
        assert name in RUN_FOLDER_COMMANDS, f"{name}: a file goes in -o/--output FILE"
        assert found["--out"].opts == ["--out"], f"{name}: --out takes no short form"
        assert "folder" in (found["--out"].help or "").lower()
    else:
        assert name not in RUN_FOLDER_COMMANDS
    if "-o" in found or "--output" in found:
        assert found.get("-o") is found.get("--output"), f"{name}: -o is --output"
        assert "folder" not in (found["-o"].help or "").lower()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_device_auto_on_every_command_that_computes(name: str) -> None:
    found = options(COMMANDS[name])
    if name in NOT_COMPUTING:
        assert "--device" not in found
        return
    assert "--device" in found, f"{name} computes: give it --device (cli.options.Device)"
    assert found["--device"].default == "auto"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_resume_and_no_resume_on_every_training_command(name: str) -> None:
    found = options(COMMANDS[name])
    assert ("--resume" in found) == (name in TRAINING_COMMANDS)
    if "--resume" in found:
        assert found["--resume"] is found["--no-resume"] and found["--resume"].default is False


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_shows_every_default(name: str) -> None:
    command = COMMANDS[name]
    done = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    shown = [p for p in command.params if isinstance(p, TyperOption) and not p.hidden
             and p.default not in (None, "") and not (p.is_flag and not p.secondary_opts)]
    for param in shown:
        assert param.show_default is not False, (name, param.name)
    assert text.count("[default:") >= len(shown), (name, [p.name for p in shown])


def test_the_top_level_help_lines_are_the_commands_own() -> None:
    """``robust-sabn --help`` lists each command from its declaration without importing it;
    the line must stay the command's own first line."""
    for name, entry in all_commands().items():
        if " " not in name and name in COMMANDS:
            assert COMMANDS[name].get_short_help_str(limit=300) == entry.help, name


def _child_run(args: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """(result, CPU seconds) of ``robust-sabn ARGS`` in a fresh interpreter (console-script
    code path); the code also reports whether torch was imported."""
    code = ("import sys; from robust_sabn.cli import main\n"
            "try:\n    main()\nfinally:\n"
            "    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "100"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, cpu


def test_top_level_help_imports_no_torch_and_takes_under_a_second_and_a_half() -> None:
    """CPU time, not wall time: another process on the machine does not slow it down."""
    done, cpu = _child_run(["--help"])
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and "Commands" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "NO-TORCH"
    assert cpu < 1.5


def test_version_prints_the_installed_version() -> None:
    done, _ = _child_run(["--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"robust-sabn {metadata.version('robust-sabn')}"


def test_a_deprecated_spelling_still_works_with_one_line(tmp_path: Path, capsys: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert ("schema",) in DEPRECATED_OPTIONS
    code, _, err = run_cli(["schema", "--out", str(tmp_path / "s.json")], capsys, monkeypatch)
    assert code == 0, err
    assert (tmp_path / "s.json").read_text().startswith("{")
    assert err.splitlines() == ["warning: schema --out is deprecated and goes in the next "
                                "release; use --output (a file; --out names run folders)"]
    code, _, err = run_cli(["schema", f"--out={tmp_path / 't.json'}"], capsys, monkeypatch)
    assert code == 0 and (tmp_path / "t.json").is_file() and "deprecated" in err


def test_every_deprecated_spelling_names_a_command_with_the_new_option() -> None:
    for path, renames in DEPRECATED_OPTIONS.items():
        found = options(COMMANDS[" ".join(path)])
        for old, new in renames.items():
            assert new in found and old not in found, (path, old)
