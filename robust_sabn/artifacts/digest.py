"""SHA-256 of files (which checkpoint a result was made from), torch-free."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (identifies the checkpoint an evaluation used)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_if_file(path: Path) -> str | None:
    """:func:`file_sha256` of ``path``, or None when there is no such file."""
    return file_sha256(path) if path.is_file() else None
