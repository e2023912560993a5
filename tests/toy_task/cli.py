"""``robust-sabn toy ...`` (and ``robust-sabn train --task toy``): the toy trainer."""

from __future__ import annotations

from typing import Annotated

import typer

from robust_sabn.cli.options import Device, Out, Resume
from robust_sabn.cli.parse import parse_device

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="A toy task: seeded samples and a tiny line fit.")


@app.command("train")
def train_command(
    out: Out,
    norm: Annotated[str, typer.Option(help="bn or meancenter (the toy's own norm).")] = "bn",
    seed: Annotated[int, typer.Option(help="Seed of the points.")] = 0,
    steps: Annotated[int, typer.Option(help="Gradient-descent steps.")] = 200,
    device: Device = "auto",
    resume: Resume = False,
) -> None:
    """Fit a line to seeded points; the run folder gets train.json (final mse)."""
    from toy_task.trainer import train_toy

    parse_device(device)
    record = train_toy(out, norm=norm, seed=seed, steps=steps)
    typer.echo(f"mse {record.value('mse'):.6f}")
