"""The ``robust-sabn`` command: a thin typer app over the library (parse, call, print).

Every command is imported only when it runs (or its own ``--help`` is asked for): the top-level
``--help`` lists the commands from :data:`COMMANDS` and the installed tasks' registrations
(:mod:`robust_sabn.plugins`), and imports no torch. A task's commands (its ``cli`` module's
typer ``app``) are mounted as ``robust-sabn <task> ...``, those it names in ``top_level`` also
as ``robust-sabn <command>``.

Bad input raises :class:`~robust_sabn.errors.UserInputError` in the library, and typer raises a
usage error for options it cannot parse; :func:`main` prints either as one line on stderr and
exits with code 2, never a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from robust_sabn.cli.limits import check_command_inputs, checked
from robust_sabn.cli.options import replace_deprecated
from robust_sabn.errors import UserInputError
from robust_sabn.plugins import load_object, task_plugins


@dataclass(frozen=True)
class LazyCommand:
    """A command imported on first use.

    Attributes:
        target: ``"module:function"`` (one command) or ``"module:app"`` (a typer app: a group,
            or with ``command`` one of its commands).
        help: its one line in ``robust-sabn --help``.
        command: the command of a group to mount on its own (a task's top-level command).
        epilog: text after its own ``--help``.
    """

    target: str
    help: str
    command: str | None = None
    epilog: str | None = None


_TASK_EPILOG = ("This is the adversarial task. For another benchmark, add --task TASK "
                "(see robust-sabn --help): `robust-sabn {0} --task gan ARGS` runs "
                "`robust-sabn gan {0} ARGS`; see `robust-sabn gan {0} --help` for its options.")
COMMANDS: dict[str, LazyCommand] = {
    "train": LazyCommand("robust_sabn.cli.train:train_command",
                         "Train a model with PGD adversarial training (the SaBN paper's hybrid "
                         "loss by default).",
                         epilog=_TASK_EPILOG.format("train")),
    "eval": LazyCommand("robust_sabn.cli.eval:eval_command",
                        "Evaluate a model: clean and robust accuracy per branch, one JSON result "
                        "record.",
                        epilog=_TASK_EPILOG.format("eval")),
    "report": LazyCommand("robust_sabn.cli.report:report_command",
                          "Render a comparison report from result records of any task (the "
                          "records' task picks the renderer); the options below are the "
                          "adversarial report's."),
    "schema": LazyCommand("robust_sabn.cli.schema:schema_command",
                          "Print (or write) the JSON Schema of result records "
                          "(schemas/result-record.schema.json)."),
    "claims": LazyCommand("robust_sabn.cli.claims:claims_command",
                          "One row per claim of the paper and setup: the paper's number, ours with "
                          "its 95 % CI, the suite's validity gates, the power, and a verdict "
                          "(reproduced / not resolved / contradicted / not testable at this scale "
                          "/ not run)."),
    "suite": LazyCommand("robust_sabn.cli.suite:app",
                         "Benchmark suites defined in suites/*.toml: list them, run them."),
    "zoo": LazyCommand("robust_sabn.cli.zoo:app",
                       "RobustBench interface: export, info, benchmark."),
}
"""robust-sabn's own commands; the tasks' commands come from their registrations."""


def all_commands() -> dict[str, LazyCommand]:
    """:data:`COMMANDS` and every installed task's group and top-level commands."""
    commands = dict(COMMANDS)
    for plugin in task_plugins().values():
        if plugin.cli is None:
            continue
        commands[plugin.name] = LazyCommand(f"{plugin.cli}:app", plugin.summary)
        for name, text in plugin.top_level.items():
            commands[name] = LazyCommand(f"{plugin.cli}:app", text, command=name)
    return commands


def _click_command(entry: LazyCommand, name: str) -> Any:
    """The click command ``entry`` names, imported now."""
    target = load_object(entry.target)
    if isinstance(target, typer.Typer):
        check_command_inputs(target)
    if isinstance(target, typer.Typer) and entry.command is None:
        return typer.main.get_group(target)
    if isinstance(target, typer.Typer):
        found = typer.main.get_group(target).commands.get(entry.command)
        if found is None:
            raise LookupError(f"{entry.target} has no command {entry.command!r}")
        return found
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name, help=target.__doc__, epilog=entry.epilog)(checked(target))
    return typer.main.get_command(single)


class LazyGroup(TyperGroup):
    """The top-level group: lists the commands without importing them, imports one when it
    runs."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        """Every command, ours first, then the tasks'."""
        return list(all_commands())

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        """The command ``cmd_name`` (imported on first use); None when there is none."""
        if cmd_name not in self.commands:
            entry = all_commands().get(cmd_name)
            if entry is None:
                return None
            self.commands[cmd_name] = _click_command(entry, cmd_name)
        return self.commands[cmd_name]

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        """Parse the command line, old option spellings replaced (each with a deprecation line
        on stderr; :data:`robust_sabn.cli.options.DEPRECATED_OPTIONS`)."""
        args, notes = replace_deprecated(args)
        for note in notes:
            typer.echo(note, err=True)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        """The commands' one-line helps, from their declarations (nothing imported)."""
        rows = [(name, entry.help) for name, entry in all_commands().items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _version(value: bool) -> None:
    if value:
        print(f"robust-sabn {metadata.version('robust-sabn')}")
        raise typer.Exit()


app = typer.Typer(
    name="robust-sabn",
    cls=LazyGroup,
    help="Benchmarks around Sandwich Batch Normalization (SaBN): adversarial training and "
         "evaluation, and the other installed tasks (listed below), run as suites and compared "
         "in reports. Command-line conventions: robust-sabn <command> --help; training writes "
         "a run folder (--out DIR), single results a file (-o/--output FILE).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print robust-sabn's version and exit.")] = False) -> None:
    """Benchmarks around Sandwich Batch Normalization (SaBN)."""


def forward_task(argv: list[str]) -> list[str]:
    """``train --task gan ARGS`` -> ``gan train ARGS`` (likewise ``eval`` and whatever a task
    lists in ``forwarded``); other argument lists, and ``--task adversarial`` (the default
    task, served by the top-level commands), are returned as they are, without ``--task``."""
    forwarded = {name for plugin in task_plugins().values() for name in plugin.forwarded}
    if not argv or argv[0] not in forwarded:
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
    serving = [name for name, plugin in task_plugins().items() if argv[0] in plugin.forwarded]
    if task not in serving:
        raise UserInputError(f"unknown task {task!r} for {argv[0]}; choose one of "
                             f"{', '.join(['adversarial', *serving])}")
    return [task, argv[0], *rest]


INTERRUPTED = 130


def _fail(message: str, code: int) -> None:
    """Print ``error: message`` as one line on stderr and exit with ``code``. A torchrun rank
    also writes the line where the agent reads it; under ``--nproc`` the parent prints it
    (naming the rank) instead of this rank."""
    from rich.markup import escape

    from robust_sabn.cli.console import output_console
    from robust_sabn.parallel.launch import write_rank_error

    if not write_rank_error(message):
        output_console(stderr=True).print(
            f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False)
    sys.exit(code)


def main() -> None:
    """Console-script entry point: exit 0 on success, 2 on bad input, 130 when interrupted."""
    code: Any = None
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
        from robust_sabn.cli.console import output_console

        output_console(stderr=True).print("interrupted; a training run continues with --resume")
    if isinstance(code, int) and code != 0:
        sys.exit(code)
