"""A task's CLI module can be imported on its own, before the app that mounts it."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("task", ["gan", "nas", "style"])
def test_a_task_cli_imports_before_the_app(task: str) -> None:
    code = (f"import robust_sabn.{task}.cli as task_cli; from robust_sabn.cli import app; "
            f"assert any(g.name == {task!r} for g in app.registered_groups)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
