"""Rich progress for GAN training: one bar over G-iterations with the latest losses and FID."""

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


class GANProgress:
    """A live bar on a terminal; otherwise one line per probed iteration; nothing if quiet."""

    def __init__(self, iterations: int, start: int, quiet: bool) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("G-iteration"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=quiet or not self.console.is_terminal,
        )
        self.task = self.progress.add_task("train", total=iterations, completed=start, stats="")

    def __enter__(self) -> GANProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def iteration_done(self, row: dict[str, Any]) -> None:
        """Advance by one G-iteration; ``row`` holds loss_d, loss_g and maybe probe metrics."""
        stats = f"D {row['loss_d']:.3f}  G {row['loss_g']:.3f}"
        probed = {k: v for k, v in row.items() if k.startswith("probe_")}
        if probed:
            stats += "  " + "  ".join(f"{k[6:]} {v:.2f}" for k, v in probed.items())
        self.progress.update(self.task, advance=1, stats=stats)
        if probed and not self.quiet:
            self.console.print(f"iteration {row['iteration']}: {stats} "
                               f"({row['elapsed_s']:.0f} s)", soft_wrap=True, highlight=False)
