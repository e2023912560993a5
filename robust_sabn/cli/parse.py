"""Parsing helpers shared by the CLI commands."""

from __future__ import annotations

from robust_sabn.errors import UserInputError


def parse_eps(text: str, option: str = "--eps") -> float:
    """Parse ``0.1``, ``8/255`` or ``.0314`` into a float on the [0, 1] pixel scale.

    Raises:
        UserInputError: not a number or fraction, or outside [0, 1] (e.g. 8 meant as 8/255).
    """
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise UserInputError(f"{option} {text!r} is not a number; write e.g. 0.1 or 8/255") from exc
    if not 0.0 <= value <= 1.0:
        raise UserInputError(
            f"{option} {text} is outside [0, 1]: eps is on the [0, 1] pixel scale; "
            f"for {text}/255 write {text}/255"
        )
    return value


def parse_list(text: str) -> list[str]:
    """Split ``"pgd,autoattack"`` into ``["pgd", "autoattack"]`` (spaces and empties dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]
