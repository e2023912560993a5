"""Atomic file writes, and the removal of the temporary files killed writes leave.

Torch-free, so writing a JSON record does not load torch.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from pathlib import Path
from typing import Any

_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over.

    A crash mid-write leaves the old file (or none), never a truncated one; the temporary file
    of a killed writer (``.<name>.<8 chars>.tmp``) is removed by
    :func:`remove_stale_temp_files`. The writer holds an ``flock`` on its temporary file until
    the rename, so a cleaner tells a live writer's file from a killed one's. The file gets
    the mode a plain ``open`` would give it (0666 less the umask, e.g. 0644), not the temporary
    file's private 0600, so shared artifacts stay readable by others when the umask says so.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX,
                                   dir=path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits while a cleaner looks at it
        if _still_linked(fd, tmp):
            break
        os.close(fd)  # a cleaner took it for a killed writer's in the instant before the lock
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # still locked: closing the file releases the lock
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _still_linked(fd: int, name: str | Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``name``."""
    try:
        return os.stat(name).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files killed atomic writes left in ``folder``; returns them.

    A temporary file whose writer is alive (it holds the file's ``flock``, see
    :func:`atomic_write_bytes`) is left alone, so this is safe while other processes write in
    ``folder`` (the steps of a suite running side by side).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = []
    for temp in folder.iterdir():
        if not (_TEMP_NAME.match(temp.name) and temp.is_file()):
            continue
        try:
            fd = os.open(temp, os.O_RDONLY)
        except FileNotFoundError:
            continue  # renamed by its writer meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _still_linked(fd, temp):
                temp.unlink()
                stale.append(temp)
        except BlockingIOError:
            pass  # a live writer's
        finally:
            os.close(fd)
    return stale
