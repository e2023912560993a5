"""``--nproc N``: run a robust-sabn command as N local processes under torchrun's elastic agent.

This is ``torchrun --standalone --nproc-per-node N -m robust_sabn ARGS`` started in-process
(``torch.distributed.launcher.api.elastic_launch``, the function torchrun itself calls), with
no restarts: when one rank fails the agent stops the others and the command exits non-zero with
one line naming the rank and its error.

A rank's one-line error (a :class:`~robust_sabn.errors.UserInputError` such as a diverged run)
reaches that line through the file torchrun's agent gives each rank in
``TORCHELASTIC_ERROR_FILE``: the CLI writes it there (:func:`write_rank_error`) in the agent's
format, ``{"message": "...", "timestamp": seconds}``, which the agent reads as the failure's
message. Other errors reach it through ``@record`` (``python -m robust_sabn``), which writes the
exception's type and text with its traceback. Under ``--nproc`` the ranks leave printing that
line to the parent, and the agent's own log line about the failed rank is held back, so a
failure prints one line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from robust_sabn.errors import UserInputError

NPROC_OPTION = "--nproc"
ERROR_FILE_ENV = "TORCHELASTIC_ERROR_FILE"
LAUNCHER_ENV = "ROBUST_SABN_NPROC_PARENT"
_AGENT_LOGGER = "torch.distributed.elastic.multiprocessing.api"


class DistributedRunFailed(UserInputError):
    """A rank of a ``--nproc`` run exited with an error; the others were stopped."""


def under_torchrun() -> bool:
    """Whether this process was started by torchrun (or ``--nproc``) as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def write_rank_error(message: str) -> bool:
    """Write this rank's one-line error where torchrun's agent reads it (the file named by
    ``TORCHELASTIC_ERROR_FILE``; nothing when that is not set: not a torchrun rank).

    Returns:
        True when a ``--nproc`` parent will print the line (so this rank need not).
    """
    path = os.environ.get(ERROR_FILE_ENV)
    if not path:
        return False
    text = json.dumps({"message": " ".join(message.split()), "timestamp": int(time.time())})
    Path(path).write_text(text)
    return os.environ.get(LAUNCHER_ENV) == "1"


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (what each rank runs)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == NPROC_OPTION:
            skip = True
        elif not arg.startswith(NPROC_OPTION + "="):
            out.append(arg)
    return out


def launched_ranks(nproc: int) -> bool:
    """For a command given ``--nproc N``: when N > 1 and this is not already a rank, run this
    command line (without ``--nproc``) as N ranks, wait, and return True (the caller then
    returns); else False (this process does the work: one process, or a rank).

    Raises:
        DistributedRunFailed: a rank failed (its one-line error named).
    """
    if nproc <= 1 or under_torchrun():
        return False
    launch(nproc, strip_nproc(sys.argv[1:]))
    return True


def launch(nproc: int, args: Sequence[str], *, python_args: Sequence[str] = ("-m", "robust_sabn")
           ) -> None:
    """Run ``python -m robust_sabn ARGS`` as ``nproc`` ranks on this machine and wait.

    Args:
        nproc: processes (ranks) to start, >= 1.
        args: the command line each rank runs (without ``--nproc``).
        python_args: what comes before ``args`` on the Python command line.

    Raises:
        UserInputError: ``nproc`` below 1.
        DistributedRunFailed: a rank failed (its rank, exit code and first error line named).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise UserInputError(f"{NPROC_OPTION} must be at least 1, got {nproc}")
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
        rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
        monitor_interval=0.2, start_method="spawn",
    )
    try:
        with _parent_reports_failures():
            elastic_launch(config, entrypoint=sys.executable)(*python_args, *args)
    except ChildFailedError as error:
        raise DistributedRunFailed(_failure_line(error)) from None


@contextmanager
def _parent_reports_failures() -> Iterator[None]:
    """While the ranks run: they leave printing their one-line error to this process
    (``LAUNCHER_ENV`` in the environment they inherit), and the agent's log line about a failed
    rank is held back (:func:`_failure_line` says it); both are restored afterwards."""
    logger = logging.getLogger(_AGENT_LOGGER)
    level, before = logger.level, os.environ.get(LAUNCHER_ENV)
    logger.setLevel(logging.CRITICAL)
    os.environ[LAUNCHER_ENV] = "1"
    try:
        yield
    finally:
        logger.setLevel(level)
        if before is None:
            del os.environ[LAUNCHER_ENV]
        else:
            os.environ[LAUNCHER_ENV] = before


def _failure_line(error: object) -> str:
    """One line for a failed elastic run: the rank that failed first by itself and its error.

    A rank that wrote its one-line error (:func:`write_rank_error`) is named with that line;
    otherwise with its exit code and the first line of the exception ``@record`` wrote, if
    any."""
    failures = getattr(error, "failures", {}) or {}
    if not failures:
        return f"a rank of the distributed run failed: {error}"
    # the cause: a rank that exited by itself (code > 0), not one the agent stopped (signal)
    rank = min(failures, key=lambda r: (not (failures[r].exitcode or 0) > 0,
                                        failures[r].timestamp, r))
    failure = failures[rank]
    message = getattr(failure, "message", "")
    written = (getattr(failure, "error_file_data", None) or {}).get("message")
    if isinstance(message, str) and message and message == written:
        return f"rank {rank} of the distributed run failed: {' '.join(message.split())}"
    if isinstance(message, dict):  # @record's format: {"message": "Type: text", "extraInfo"}
        message = message.get("message", "")
    first = next((line.strip() for line in str(message or "").splitlines() if line.strip()), "")
    text = f"rank {rank} of the distributed run exited with code {failure.exitcode}"
    if first and "To enable traceback" not in first:
        text += f" ({first})"
    return text + "; the other ranks were stopped"
