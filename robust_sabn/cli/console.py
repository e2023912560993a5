"""The one way CLI commands print: output that does not depend on the terminal's width.

Rich wraps text at the console width, which off a terminal comes from ``COLUMNS`` or a default
of 80, so a long path could be split mid-word and a test reading the output would pass or fail
with the length of its temporary folder. Every command prints through :func:`output_console`:
text is never wrapped (``soft_wrap``), and off a terminal tables are laid out at a fixed wide
width instead of 80 columns.
"""

from __future__ import annotations

from rich.console import Console

NON_TERMINAL_WIDTH = 1000


def output_console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) whose lines are never wrapped.

    On a terminal, tables fit the terminal's width; elsewhere (a pipe, a log file, a test
    runner) they are laid out at :data:`NON_TERMINAL_WIDTH` columns, so they keep one line per
    row whatever ``COLUMNS`` says.
    """
    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal:
        console.width = NON_TERMINAL_WIDTH
    return console
