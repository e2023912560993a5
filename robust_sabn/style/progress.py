"""Rich progress for style-transfer training: one bar of iterations with the running losses."""

from __future__ import annotations

from typing import Any

from robust_sabn.runs.progress import IterationProgress


class StyleProgress(IterationProgress):
    """A live bar on a terminal (stderr), one line per validation; ``quiet`` shows nothing."""

    def step(self, content_loss: float, style_loss: float) -> None:
        """One iteration done with these (unweighted) losses."""
        self.advance(f"content {content_loss:.3f}  style {style_loss:.3f}")

    def validated(self, row: dict[str, Any]) -> None:
        """Print a validation row (iteration, losses)."""
        second = ""
        if "second_content_loss" in row:
            second = (f"  second encoder: content {row['second_content_loss']:.4f} "
                      f"style {row['second_style_loss']:.4f}")
        self.note(f"iteration {row['iteration']}: val content {row['content_loss']:.4f}  "
                  f"style {row['style_loss']:.4f}{second}")
