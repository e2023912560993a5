"""``robust-sabn schema``: the JSON Schema every result record validates against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from robust_sabn.cli.console import output_console


def schema_command(
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the schema to this file instead of printing it.")] = None,
) -> None:
    """Print (or write) the JSON Schema of result records (schemas/result-record.schema.json)."""
    from robust_sabn.artifacts.result import record_json_schema

    text = json.dumps(record_json_schema(), indent=2) + "\n"
    if out is None:
        output_console().print_json(text)
        return
    out.write_text(text)
    output_console().print(f"schema written to {out}", highlight=False)
