"""``robust-sabn schema``: the JSON Schema every result record validates against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import output_file


def schema_command(
    output: Annotated[Path | None, output_file(
        "Write the schema to this file instead of printing it.")] = None,
) -> None:
    """Print (or write) the JSON Schema of result records (schemas/result-record.schema.json)."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.artifacts.result import record_json_schema

    if output is not None:
        check_output_file(output, option="--output")
    text = json.dumps(record_json_schema(), indent=2) + "\n"
    if output is None:
        output_console().print_json(text)
        return
    output.write_text(text)
    output_console().print(f"schema written to {output}", highlight=False)
