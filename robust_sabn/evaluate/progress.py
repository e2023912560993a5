"""Live evaluation progress (rich): one bar per branch x attack, robust accuracy so far, ETA.

On a terminal each stage (``adv / autoattack-standard``) gets a bar advanced per batch with the
accuracy of the examples done so far; elsewhere (a log file, a pipe) one line is written per
finished stage. Disabled (``enabled=False``) it shows nothing: library calls and every rank but
rank 0 of a distributed run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@dataclass
class StageProgress:
    """The running tally of one stage: correct and seen examples on this process."""

    progress: Progress | None
    task: TaskID | None
    correct: int = 0
    seen: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.seen, 1)

    def advance(self, correct: int, seen: int) -> None:
        """One batch done: ``correct`` of its ``seen`` examples still classified correctly."""
        self.correct += correct
        self.seen += seen
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1,
                                 stats=f"acc so far {100 * self.accuracy:5.1f}% of {self.seen}")


class EvaluationProgress:
    """Progress of an evaluation on stderr (see the module docstring)."""

    def __init__(self, enabled: bool, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=not self.live, transient=False,
        ) if enabled else None

    def __enter__(self) -> EvaluationProgress:
        if self.progress is not None:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)

    @contextmanager
    def stage(self, branch: str, key: str, batches: int) -> Iterator[StageProgress]:
        """A stage of ``batches`` batches; a line with its accuracy and time when it ends."""
        task = (self.progress.add_task(f"{branch} / {key}", total=batches, stats="")
                if self.progress is not None else None)
        stage = StageProgress(self.progress, task)
        yield stage
        if self.enabled and not self.live:
            self.console.print(
                f"{branch} / {key}: {100 * stage.accuracy:.1f}% of {stage.seen} "
                f"({time.perf_counter() - stage.started:.1f} s)", soft_wrap=True,
                highlight=False)
