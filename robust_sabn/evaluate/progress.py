"""Live evaluation progress (rich): one bar per branch x attack, robust accuracy so far, ETA.

On a terminal each stage (``adv / autoattack-standard``) gets a bar advanced per batch with the
accuracy of the examples done so far; an AutoAttack stage advances per attack of its cascade on
each batch, names the attack running and counts the current batch's points still robust.
Elsewhere (a log file, a pipe) one line is written per finished stage, and per finished
AutoAttack step. Disabled (``enabled=False``) it shows nothing: library calls and every rank but
rank 0 of a distributed run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from robust_sabn.attacks.autoattack_adapter import CascadeStep


@dataclass
class StageProgress:
    """The running tally of one stage: correct and seen examples on this process.

    Attributes:
        progress, task: the live bar (None when not live).
        batches: batches of the stage on this process; steps_per_batch: bar steps per batch.
        label: "branch / key".
        console: where a line per AutoAttack step goes (enabled but not live), else None.
        correct, seen, done: examples still correct, examples and batches done.
    """

    progress: Progress | None
    task: TaskID | None
    batches: int = 0
    steps_per_batch: int = 1
    label: str = ""
    console: Console | None = None
    correct: int = 0
    seen: int = 0
    done: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.seen, 1)

    def advance(self, correct: int, seen: int, resumed: bool = False) -> None:
        """One batch done: ``correct`` of its ``seen`` examples still classified correctly
        (``resumed``: read back from a state file)."""
        self.correct += correct
        self.seen += seen
        self.done += 1
        self._show(completed=self.done * self.steps_per_batch, description=self.label,
                   stats=f"acc so far {100 * self.accuracy:5.1f}% of {self.seen}"
                         + (" (resumed)" if resumed else ""))

    def _show(self, **fields: object) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, **fields)  # type: ignore[arg-type]

    def attack_started(self, attack: str, index: int, count: int) -> None:
        """AutoAttack's attack ``index`` of ``count`` starts on this stage's current batch."""
        self._show(description=f"{self.label} · batch {self.done + 1}/{self.batches} · "
                               f"{attack} ({index + 1}/{count})",
                   completed=self.done * self.steps_per_batch + index)

    def attack_finished(self, step: CascadeStep) -> None:
        """AutoAttack finished an attack on the current batch: robust so far counts its points
        still robust with the finished batches'."""
        robust = self.correct + sum(step.robust)
        seen = self.seen + len(step.robust)
        stats = f"robust so far {100 * robust / max(seen, 1):5.1f}% of {seen}"
        self._show(advance=1, stats=stats)
        if self.console is not None:
            self.console.print(
                f"{self.label} batch {self.done + 1}/{self.batches} {step.attack}: {stats} "
                f"({step.seconds:.1f} s)", soft_wrap=True, highlight=False)


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

    def note(self, line: str) -> None:
        """Print one line (when enabled)."""
        if self.enabled:
            self.console.print(line, soft_wrap=True, highlight=False)

    @contextmanager
    def stage(self, branch: str, key: str, batches: int, steps_per_batch: int = 1
              ) -> Iterator[StageProgress]:
        """A stage of ``batches`` batches, each of ``steps_per_batch`` steps (AutoAttack: its
        cascade's attacks); a line with its accuracy and time when it ends."""
        label = f"{branch} / {key}"
        task = (self.progress.add_task(label, total=batches * steps_per_batch, stats="")
                if self.progress is not None else None)
        stage = StageProgress(self.progress, task, batches, steps_per_batch, label,
                              self.console if self.enabled and not self.live else None)
        yield stage
        if self.enabled and not self.live:
            self.console.print(
                f"{branch} / {key}: {100 * stage.accuracy:.1f}% of {stage.seen} "
                f"({time.perf_counter() - stage.started:.1f} s)", soft_wrap=True,
                highlight=False)
