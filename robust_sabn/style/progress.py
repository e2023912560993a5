"""Rich progress for style-transfer training: one bar of iterations with the running losses."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class StyleProgress:
    """A live bar on a terminal (stderr), one line per validation; ``quiet`` shows nothing."""

    def __init__(self, label: str, iterations: int, start: int, quiet: bool) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=quiet or not self.console.is_terminal,
        )
        self.task = self.progress.add_task(label, total=iterations, completed=start, stats="")

    def __enter__(self) -> StyleProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def step(self, content_loss: float, style_loss: float) -> None:
        """One iteration done with these (unweighted) losses."""
        self.progress.update(self.task, advance=1,
                             stats=f"content {content_loss:.3f}  style {style_loss:.3f}")

    def validated(self, row: dict[str, Any]) -> None:
        """Print a validation row (iteration, losses)."""
        if self.quiet:
            return
        second = ""
        if "second_content_loss" in row:
            second = (f"  second encoder: content {row['second_content_loss']:.4f} "
                      f"style {row['second_style_loss']:.4f}")
        self.console.print(
            f"iteration {row['iteration']}: val content {row['content_loss']:.4f}  "
            f"style {row['style_loss']:.4f}{second}", soft_wrap=True, highlight=False)
