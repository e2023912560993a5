"""The ``robust-sabn`` command: a thin typer app over the library (parse, call, print).

Bad input raises :class:`~robust_sabn.errors.UserInputError` in the library; :func:`main` prints
its one-line message and exits with code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from robust_sabn.cli.eval import eval_command
from robust_sabn.cli.report import report_command
from robust_sabn.cli.suite import app as suite_app
from robust_sabn.cli.train import train_command
from robust_sabn.cli.zoo import app as zoo_app
from robust_sabn.errors import UserInputError

app = typer.Typer(
    name="robust-sabn",
    help="Adversarial-robustness benchmarks around Sandwich Batch Normalization (SaBN).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("train")(train_command)
app.command("eval")(eval_command)
app.command("report")(report_command)
app.add_typer(suite_app, name="suite", help="Declarative benchmark suites: list, run.")
app.add_typer(zoo_app, name="zoo", help="RobustBench model zoo: export, info, benchmark.")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except UserInputError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted; a training run continues with --resume")
        sys.exit(130)
