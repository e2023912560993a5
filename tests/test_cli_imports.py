"""A task's CLI module can be imported on its own, before the app that mounts it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("task", ["gan", "nas", "style"])
def test_a_task_cli_imports_before_the_app(task: str) -> None:
    code = (f"import robust_sabn.{task}.cli as task_cli; import typer; "
            "from robust_sabn.cli import app; root = typer.main.get_command(app); "
            f"assert root.get_command(typer.Context(root), {task!r}) is not None")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
