"""What ``suite run`` shows while it runs: a bar across steps (one step at a time, the step's
own display below it) or a live table of the steps running side by side."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from rich import get_console
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from robust_sabn.suites.steps import StepFiles, StepOutcome
from robust_sabn.suites.tasks import Step

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def last_line(log: Path, tail_bytes: int = 4096) -> str:
    """The last non-empty line of a log (a progress bar's latest state counts as a line;
    terminal escapes removed), or "" when there is none yet."""
    try:
        with open(log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - tail_bytes))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in re.split(r"[\r\n]", _ANSI.sub("", text))]
    return next((line for line in reversed(lines) if line), "")


def _finished_line(outcome: StepOutcome) -> str:
    if outcome.status == "failed":
        return f"[red]failed[/] {outcome.label}: {outcome.error}"
    if outcome.status == "skipped":
        return f"[dim]done elsewhere[/] {outcome.label}"
    resumed = " (resumed)" if outcome.resumed else ""
    return f"[green]done[/] {outcome.label}{resumed} in {outcome.seconds:.0f} s"


class StepBar:
    """One step at a time: a bar across the suite's steps; the step's own display shows
    below it."""

    def __init__(self, title: str, total: int, done: int, *, console: Console | None,
                 enabled: bool) -> None:
        self.title, self.enabled = title, enabled
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        self.progress = Progress(*columns, console=console, disable=not enabled,
                                 transient=False)
        self.task = self.progress.add_task(title, total=total, completed=done)

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.update(self.task, description=self.title)
        self.progress.__exit__(exc_type, exc, tb)

    def started(self, step: Step, where: str) -> None:
        self.progress.update(self.task, description=f"{self.title}: {step.label}")

    def finished(self, outcome: StepOutcome) -> None:
        self.progress.advance(self.task)
        if self.enabled:
            self.progress.console.print(_finished_line(outcome), highlight=False)

    def refresh(self) -> None:
        """Nothing to redraw: this display prints a line per finished step."""


class WorkerTable:
    """Steps side by side: on a terminal, a live table of each running step (where it runs,
    for how long, the last line of its log) under a count of steps done, failed and left; a
    line per finished step above it (elsewhere only those lines)."""

    def __init__(self, title: str, total: int, done: int, suite_dir: Path, *,
                 console: Console | None, enabled: bool) -> None:
        self.title, self.total, self.done, self.failed = title, total, done, 0
        self.suite_dir, self.enabled = suite_dir, enabled
        self.running: dict[str, tuple[str, float]] = {}
        self.console = console or get_console()
        self.live = Live(console=self.console, refresh_per_second=2, transient=False,
                         get_renderable=self.render)
        self.table_shown = enabled and self.console.is_terminal  # else the lines only

    def __enter__(self) -> Self:
        if self.table_shown:
            self.live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.table_shown:
            self.live.__exit__(exc_type, exc, tb)

    def started(self, step: Step, where: str) -> None:
        self.running[step.label] = (where, time.monotonic())

    def finished(self, outcome: StepOutcome) -> None:
        self.running.pop(outcome.label, None)
        self.done += outcome.status != "failed"
        self.failed += outcome.status == "failed"
        if self.enabled:
            self.console.print(_finished_line(outcome), highlight=False)

    def refresh(self) -> None:
        if self.table_shown:
            self.live.refresh()

    def render(self) -> Group:
        """The count line and the table of running steps (none when none runs)."""
        left = self.total - self.done - self.failed - len(self.running)
        failed = f", [red]{self.failed} failed[/]" if self.failed else ""
        head = Text.from_markup(f"[bold]{self.title}[/]: {self.done}/{self.total} done{failed}, "
                                f"{len(self.running)} running, {left} waiting")
        if not self.running:
            return Group(head)
        table = Table("where", "step", "time", "progress (last line of its log)",
                      show_edge=False)
        now = time.monotonic()
        for label, (where, start) in sorted(self.running.items(), key=lambda kv: kv[1][0]):
            seconds = int(now - start)
            progress = last_line(StepFiles.of(self.suite_dir, label).log)
            table.add_row(where, label, f"{seconds // 60}:{seconds % 60:02d}",
                          Text(progress, no_wrap=True, overflow="ellipsis"))
        return Group(head, table)
