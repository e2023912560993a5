"""Rich progress display for training: epoch, batch, loss, accuracy, throughput, ETA."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class LiveProgress:
    """Progress on stderr for any trainer: live bars on a terminal; when stderr is not a
    terminal (a log file, a pipe) only the lines given to :meth:`note`; ``quiet``: nothing."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=quiet or not self.console.is_terminal, transient=False,
        )

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def note(self, line: str) -> None:
        """Print one line (an epoch's or a validation's summary) unless quiet."""
        if not self.quiet:
            self.console.print(line, soft_wrap=True, highlight=False)


class IterationProgress(LiveProgress):
    """One bar over a trainer's iterations (GAN, style transfer), with a stats text."""

    def __init__(self, label: str, iterations: int, start: int, quiet: bool) -> None:
        super().__init__(quiet)
        self.task = self.progress.add_task(label, total=iterations, completed=start, stats="")

    def advance(self, stats: str) -> None:
        """One iteration done; ``stats`` is shown beside the bar."""
        self.progress.update(self.task, advance=1, stats=stats)


class PhaseProgress(IterationProgress):
    """One bar over the named phases of a long computation (generate, extract features, score;
    retrain seed after seed), and a line per finished phase with its seconds."""

    def __init__(self, label: str, phases: int, quiet: bool) -> None:
        super().__init__(label, phases, 0, quiet)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Show ``name`` while the block runs; then advance and print ``name (N s)``."""
        self.progress.update(self.task, stats=f"{name} ...")
        start = time.perf_counter()
        yield
        self.advance(name)
        self.note(f"{name} ({time.perf_counter() - start:.1f} s)")


def phase(progress: PhaseProgress | None, name: str) -> AbstractContextManager[None]:
    """``progress.phase(name)``, or nothing when there is no display (library calls)."""
    return nullcontext() if progress is None else progress.phase(name)


class TrainingProgress(LiveProgress):
    """Adversarial training: two live bars (epochs, batches) on a terminal, one line per epoch
    (see :class:`LiveProgress`)."""

    def __init__(self, epochs: int, steps_per_epoch: int, start_epoch: int, quiet: bool) -> None:
        super().__init__(quiet)
        self.steps_per_epoch = steps_per_epoch
        self.epoch_task = self.progress.add_task("epoch", total=epochs, completed=start_epoch,
                                                 stats="")
        self.batch_task = self.progress.add_task("batch", total=steps_per_epoch, stats="")

    def start_epoch(self, epoch: int) -> None:
        self.progress.reset(self.batch_task, total=self.steps_per_epoch,
                            description=f"batch (epoch {epoch + 1})", stats="")

    def batch_done(self, loss: float, adv_acc: float, images_per_s: float) -> None:
        stats = f"loss {loss:.3f}  adv acc {100 * adv_acc:5.1f}%  {images_per_s:,.0f} img/s"
        self.progress.update(self.batch_task, advance=1, stats=stats)

    def epoch_done(self, row: dict) -> None:
        val = row["val"]
        parts = [f"{b}: {100 * m['clean_acc']:.1f}/{100 * m['pgd_acc']:.1f}"
                 for b, m in val.items()]
        self.progress.update(self.epoch_task, advance=1,
                             stats="val clean/pgd % " + "  ".join(parts))
        self.note(f"epoch {row['epoch'] + 1}: loss {row['train_loss']:.4f}  "
                  f"val clean/pgd % {'  '.join(parts)}  ({row['time_s']:.1f} s)")
