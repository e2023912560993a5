"""The package as a user installs it (not editable): suites are found from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def test_suite_list_works_from_another_folder_when_installed(tmp_path: Path) -> None:
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
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
