"""Rich progress for GAN training: one bar over G-iterations with the latest losses and FID."""

from __future__ import annotations

from typing import Any

from robust_sabn.runs.progress import IterationProgress


class GANProgress(IterationProgress):
    """A live bar on a terminal; otherwise one line per probed iteration; nothing if quiet."""

    def __init__(self, iterations: int, start: int, quiet: bool) -> None:
        super().__init__("G-iteration", iterations, start, quiet)

    def iteration_done(self, row: dict[str, Any]) -> None:
        """Advance by one G-iteration; ``row`` holds loss_d, loss_g and maybe probe metrics."""
        stats = f"D {row['loss_d']:.3f}  G {row['loss_g']:.3f}"
        probed = {k: v for k, v in row.items() if k.startswith("probe_")}
        if probed:
            stats += "  " + "  ".join(f"{k[6:]} {v:.2f}" for k, v in probed.items())
        self.advance(stats)
        if probed:
            self.note(f"iteration {row['iteration']}: {stats} ({row['elapsed_s']:.0f} s)")
