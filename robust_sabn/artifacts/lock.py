"""An exclusive lock on a run or suite folder, held while the folder is written.

Two ``suite run`` (or ``train``) processes on one folder must not both do the work, the last
writer winning: :func:`folder_lock` takes an exclusive ``flock`` on ``<folder>/.robust-sabn.lock``
and writes the holder's PID into it; a second holder fails at once with a one-line
:class:`UserInputError` naming that PID. The kernel releases a ``flock`` when its process dies,
so the lock of a killed process (``kill -9``) is taken over by the next runner: its stale file
is reused, never trusted. A lock file that is a symbolic link is refused, never followed: the
holder's PID would overwrite the link's target outside the folder. :func:`exclusive_lock` is the
same lock on any file, without the error (a suite's per-step locks); :func:`lock_holder` asks
who holds one without taking it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from robust_sabn.artifacts.paths import open_no_follow
from robust_sabn.errors import UserInputError

LOCK_NAME = ".robust-sabn.lock"


def _holder(lock_path: Path) -> str:
    """The holder written in a lock file ("PID 123 on host"), or "another process"."""
    try:
        text = lock_path.read_text().strip()
    except OSError:
        return "another process"
    return text or "another process"


@contextlib.contextmanager
def exclusive_lock(lock_path: str | Path) -> Iterator[bool]:
    """Try to take an exclusive ``flock`` on ``lock_path`` (created with its folder if absent)
    for the ``with`` block, without waiting.

    Yields:
        True when the lock is ours (the file then names this process); False when another live
        process (or another ``exclusive_lock`` in this process) holds it.

    Raises:
        UserInputError: the lock file is a symbolic link.
    """
    lock_path = Path(lock_path)
    while True:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = open_no_follow(lock_path, os.O_RDWR | os.O_CREAT)
        except FileNotFoundError:  # a refused holder just removed the folder it had created
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        # The file we locked may have been unlinked by a holder that just released it: only a
        # lock on the file still at lock_path counts.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"PID {os.getpid()} on {socket.gethostname()}\n".encode())
        yield True
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)


def lock_holder(lock_path: str | Path) -> str | None:
    """Who holds the lock at ``lock_path`` ("PID 123 on host"), or None when nobody does (a
    stale file of a killed holder counts as free). Nothing is taken."""
    lock_path = Path(lock_path)
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # absent, or a link (which exclusive_lock refuses)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(lock_path)
    finally:
        os.close(fd)
    return None


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if absent) for the ``with`` block.

    Folders it created and the ``with`` block left empty are removed again, so a run refused
    inside the block (bad options, missing data) leaves no empty folder behind.

    Yields:
        The lock file's path.

    Raises:
        UserInputError: another live process (or another ``folder_lock`` in this process) holds
            the folder, or its lock file is a symbolic link.
    """
    folder = Path(folder)
    created = _missing_folders(folder)
    lock_path = folder / LOCK_NAME
    try:
        with exclusive_lock(lock_path) as taken:
            if not taken:
                raise UserInputError(
                    f"{folder} is in use by {_holder(lock_path)} (lock {lock_path}); wait for it "
                    "to finish, or use another output folder"
                )
            yield lock_path
    finally:
        _remove_if_empty(created)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove these folders (deepest first) while they are empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty: the run wrote there
            return

