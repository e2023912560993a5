"""The ``robust-sabn`` command: a thin typer app over the library (parse, call, print).

Bad input raises :class:`~robust_sabn.errors.UserInputError` in the library, and typer raises a
usage error for options it cannot parse; :func:`main` prints either as one line on stderr and
exits with code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from robust_sabn.cli.claims import claims_command
from robust_sabn.cli.console import output_console
from robust_sabn.cli.eval import eval_command
from robust_sabn.cli.limits import check_command_inputs
from robust_sabn.cli.report import report_command
from robust_sabn.cli.schema import schema_command
from robust_sabn.cli.suite import app as suite_app
from robust_sabn.cli.train import train_command
from robust_sabn.cli.zoo import app as zoo_app
from robust_sabn.errors import UserInputError
from robust_sabn.parallel.launch import write_rank_error

app = typer.Typer(
    name="robust-sabn",
    help="Benchmarks around Sandwich Batch Normalization (SaBN): adversarial training and "
         "evaluation (train, eval), conditional GANs (gan), weight-sharing NAS (nas) and style "
         "transfer (style), run as suites and compared in reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_TASK_EPILOG = ("This is the adversarial task. For another benchmark, add --task TASK (gan, nas, "
                "style): `robust-sabn {0} --task gan ARGS` runs `robust-sabn gan {0} ARGS`; see "
                "`robust-sabn gan {0} --help` for its options.")
app.command("train", epilog=_TASK_EPILOG.format("train"))(train_command)
app.command("eval", epilog=_TASK_EPILOG.format("eval"))(eval_command)
app.command("report")(report_command)
app.command("schema")(schema_command)
app.command("claims")(claims_command)
app.add_typer(suite_app, name="suite", help="Declarative benchmark suites: list, plan, run.")
app.add_typer(zoo_app, name="zoo", help="RobustBench model zoo: export, info, benchmark.")


def _mount_task_apps() -> None:
    """Mount each built-in task's own commands (``robust_sabn/<task>/cli.py``, a typer ``app``)
    as ``robust-sabn <task> ...``, and the ones its ``TOP_LEVEL`` names also as
    ``robust-sabn <command>``; a task without a CLI module is skipped."""
    from importlib import import_module

    from robust_sabn.suites.tasks import BUILTIN_TASKS

    for task in BUILTIN_TASKS:
        try:
            module = import_module(f"robust_sabn.{task}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"robust_sabn.{task}.cli" and exc.name != f"robust_sabn.{task}":
                raise
            continue
        app.add_typer(module.app, name=task)
        for command in module.app.registered_commands:
            if command.name in getattr(module, "TOP_LEVEL", ()):
                app.command(command.name, help=command.help)(command.callback)


_mount_task_apps()
check_command_inputs(app)

FORWARDED = ("train", "eval")
"""Commands that ``--task TASK`` sends to ``robust-sabn TASK <command>``."""


def forward_task(argv: list[str]) -> list[str]:
    """``train --task gan ARGS`` -> ``gan train ARGS`` (likewise ``eval``); other argument
    lists, and ``--task adversarial`` (the default task, served by the top-level commands), are
    returned as they are, without ``--task``."""
    if not argv or argv[0] not in FORWARDED:
        return argv
    rest = list(argv[1:])
    for i, arg in enumerate(rest):
        if arg == "--task" and i + 1 < len(rest):
            task = rest[i + 1]
            del rest[i:i + 2]
            break
        if arg.startswith("--task="):
            task = arg.removeprefix("--task=")
            del rest[i]
            break
    else:
        return argv
    if task == "adversarial":
        return [argv[0], *rest]
    mounted = [group.name for group in app.registered_groups if group.name != "suite"
               and group.name != "zoo"]
    if task not in mounted:
        raise UserInputError(f"unknown task {task!r} for {argv[0]}; choose one of "
                             f"{', '.join(['adversarial', *mounted])}")
    return [task, argv[0], *rest]

INTERRUPTED = 130


def _fail(message: str, code: int) -> None:
    """Print ``error: message`` as one line on stderr and exit with ``code``. A torchrun rank
    also writes the line where the agent reads it; under ``--nproc`` the parent prints it
    (naming the rank) instead of this rank."""
    if not write_rank_error(message):
        output_console(stderr=True).print(
            f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False)
    sys.exit(code)


def main() -> None:
    """Console-script entry point: exit 0 on success, 2 on bad input, 130 when interrupted."""
    try:
        code = app(args=forward_task(sys.argv[1:]), prog_name="robust-sabn",
                   standalone_mode=False)
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
