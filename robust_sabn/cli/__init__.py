"""The ``robust-sabn`` command: a thin typer app over the library (parse, call, print).

Bad input raises :class:`~robust_sabn.errors.UserInputError` in the library, and typer raises a
usage error for options it cannot parse; :func:`main` prints either as one line on stderr and
exits with code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from robust_sabn.cli.console import output_console
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

INTERRUPTED = 130


def _fail(message: str, code: int) -> None:
    """Print ``error: message`` as one line on stderr and exit with ``code``."""
    output_console(stderr=True).print(
        f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False)
    sys.exit(code)


def main() -> None:
    """Console-script entry point: exit 0 on success, 2 on bad input, 130 when interrupted."""
    try:
        code = app(prog_name="robust-sabn", standalone_mode=False)
    except UserInputError as exc:
        _fail(str(exc), 2)
    except typer.TyperException as exc:  # typer's usage errors: unknown option, bad int ...
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed
            sys.exit(exc.exit_code)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        _fail(exc.format_message() + hint, exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    if code == INTERRUPTED:  # typer turns Ctrl-C into exit code 130
        output_console(stderr=True).print("interrupted; a training run continues with --resume")
    if isinstance(code, int) and code != 0:
        sys.exit(code)
