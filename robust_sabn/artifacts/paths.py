"""One check of an output location, run by every command that writes before it starts work.

An unwritable output must be refused before a long run, not end it with a traceback (mkdir,
matplotlib, torch.save): :func:`check_output_dir` and :func:`check_output_file` find the
nearest existing folder of the path and try to create a file there, so a read-only file
system, a missing permission or a parent that is a file is refused at once with one line
naming the option and the fix. Nothing is left behind by the check.

Inside a run folder no symbolic link is followed: :func:`open_no_follow` opens the files that
are written in place (the lock, appended metrics) with ``O_NOFOLLOW``, and every other file is
written to a temporary file and renamed over the name, which replaces a link instead of writing
through it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from robust_sabn.errors import UserInputError


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists())


def _probe_writable(folder: Path, path: Path, option: str) -> None:
    """Raise UserInputError unless a file can be created in the existing ``folder``."""
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserInputError(
            f"cannot write {option} {path}: {folder} is not writable ({reason.lower()}); "
            f"choose another {option}"
        ) from None


def _check_parents(path: Path, option: str) -> Path:
    """The nearest existing folder of ``path``; refuse one of its parents being a file."""
    existing = _nearest_existing(path.parent if path.parent != path else path)
    if not existing.is_dir():
        raise UserInputError(
            f"cannot write {option} {path}: {existing} is a file, not a folder; choose another "
            f"{option}"
        )
    return existing


def check_output_dir(path: str | Path, option: str = "--out") -> Path:
    """``path`` once a folder can be created and written there.

    Raises:
        UserInputError: ``path`` or a parent is a file, or the folder is not writable
            (permissions, a read-only file system).
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UserInputError(
            f"cannot write {option} {path}: it is a file, not a folder; choose another {option}"
        )
    folder = path if path.is_dir() else _check_parents(path, option)
    _probe_writable(folder, path, option)
    return path


def check_output_file(path: str | Path, option: str = "-o",
                      suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` once a file can be written there (its folder need not exist yet).

    Args:
        suffixes: the file types the command writes (e.g. ``(".png",)``); empty: any name.

    Raises:
        UserInputError: ``path`` has another suffix than ``suffixes``, is a folder, a parent is
            a file, or the file or its folder is not writable (permissions, a read-only file
            system).
    """
    path = Path(path).expanduser()
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserInputError(f"{option} {path}: this command writes {' or '.join(suffixes)} "
                             f"files; give a name ending in {suffixes[0]}")
    if path.is_dir():
        raise UserInputError(
            f"{option} {path} is a folder; give the path of a file (inside it, for example)"
        )
    folder = _check_parents(path, option)
    _probe_writable(folder, path, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserInputError(f"cannot write {option} {path}: the file is read-only; choose "
                             f"another {option}")
    return path


def open_no_follow(path: str | Path, flags: int) -> int:
    """``os.open(path, flags | O_NOFOLLOW)`` with mode 0666 (less the umask): a file descriptor.

    Raises:
        UserInputError: ``path`` is a symbolic link (it is never followed).
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise UserInputError(
            f"{path} is a symbolic link; robust-sabn never follows a link inside a run folder "
            "(it would overwrite the link's target): remove the link"
        ) from None
