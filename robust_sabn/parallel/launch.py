"""``--nproc N``: run a robust-sabn command as N local processes under torchrun's elastic agent.

This is ``torchrun --standalone --nproc-per-node N -m robust_sabn ARGS`` started in-process
(``torch.distributed.launcher.api.elastic_launch``, the function torchrun itself calls), with
no restarts: when one rank fails the agent stops the others and the command exits non-zero with
one line naming the rank and its error.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence

from robust_sabn.errors import UserInputError

NPROC_OPTION = "--nproc"


class DistributedRunFailed(UserInputError):
    """A rank of a ``--nproc`` run exited with an error; the others were stopped."""


def under_torchrun() -> bool:
    """Whether this process was started by torchrun (or ``--nproc``) as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


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
        elastic_launch(config, entrypoint=sys.executable)(*python_args, *args)
    except ChildFailedError as error:
        raise DistributedRunFailed(_failure_line(error)) from None


def _failure_line(error: object) -> str:
    """One line for a failed elastic run: the rank that failed first by itself, its exit code
    and its error (the first line of the error file torchrun's ``@record`` writes, if any)."""
    failures = getattr(error, "failures", {}) or {}
    if not failures:
        return f"a rank of the distributed run failed: {error}"
    # the cause: a rank that exited by itself (code > 0), not one the agent stopped (signal)
    rank = min(failures, key=lambda r: (not (failures[r].exitcode or 0) > 0,
                                        failures[r].timestamp, r))
    failure = failures[rank]
    detail = str(getattr(failure, "message", "") or "").strip().splitlines()
    first = next((line for line in detail if line.strip()), "")
    code = getattr(failure, "exitcode", None)
    text = f"rank {rank} of the distributed run exited with code {code}"
    if first and "To enable traceback" not in first:
        text += f" ({first})"
    return text + "; the other ranks were stopped"
