"""Parsing helpers shared by the CLI commands."""

from __future__ import annotations


def parse_list(text: str) -> list[str]:
    """Split ``"pgd,autoattack"`` into ``["pgd", "autoattack"]`` (spaces and empties dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]
