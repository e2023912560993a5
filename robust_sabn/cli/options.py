"""The command-line conventions, written once; every command declares its shared options here.

* A command that trains writes a **run folder**: ``--out DIR`` (no short form).
* A command that writes **one result** writes a file: ``-o/--output FILE``.
* Every command that computes takes ``--device`` (default ``auto``: the GPU when there is
  one, else the CPU).
* A command that can continue an interrupted run takes ``--resume/--no-resume`` (default: start
  afresh, refusing a folder that holds a run).
* Every ``--help`` shows the defaults.

Old spellings keep working for one release and print a deprecation line
(:data:`DEPRECATED_OPTIONS`, applied by the top-level command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from robust_sabn.cli.parse import DEVICE_HELP

Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
"""``--device``; give it the default ``"auto"``."""

Resume = Annotated[bool, typer.Option(
    "--resume/--no-resume",
    help="Continue the run in the folder where it stopped (same settings; a grown epoch or "
         "iteration count is fine), instead of refusing a folder that holds one.")]
"""``--resume/--no-resume``; give it the default ``False``."""


def run_folder(help: str) -> Any:
    """The ``--out DIR`` option of a command that trains; ``help`` says what the folder holds."""
    return typer.Option("--out", help=help)


def output_file(help: str) -> Any:
    """The ``-o/--output FILE`` option of a command that writes one result."""
    return typer.Option("--output", "-o", help=help)


Out = Annotated[Path, run_folder("Run folder (config, metrics, checkpoints, the record).")]
"""A required ``--out DIR`` with the generic help."""

DEPRECATED_OPTIONS: dict[tuple[str, ...], dict[str, str]] = {
    ("eval",): {"--out": "--output"},
    ("schema",): {"--out": "--output"},
    ("zoo", "benchmark"): {"--out": "--output"},
    ("gan", "eval"): {"--out": "--output"},
    ("nas", "eval"): {"--out": "--output"},
    ("nas", "score"): {"--out": "--output"},
    ("style", "eval"): {"--out": "--output"},
}
"""Command path -> {old option: new option}: spellings of robust-sabn 0.1 that still work, with
a deprecation line, until the next release (``--out FILE`` became ``-o/--output FILE``)."""


def replace_deprecated(args: list[str]) -> tuple[list[str], list[str]]:
    """``args`` (after ``robust-sabn``) with deprecated option names replaced, and one
    deprecation line per replacement."""
    for path, renames in DEPRECATED_OPTIONS.items():
        if tuple(args[:len(path)]) != path:
            continue
        out, notes = list(args[:len(path)]), []
        for arg in args[len(path):]:
            name, eq, value = arg.partition("=")
            if name in renames:
                notes.append(f"warning: {' '.join(path)} {name} is deprecated and goes in the "
                             f"next release; use {renames[name]} (a file; --out names run "
                             "folders)")
                arg = renames[name] + eq + value
            out.append(arg)
        return out, notes
    return list(args), []
