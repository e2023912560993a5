"""``suite run --executor slurm``: each step a SLURM job, through submitit.

submitit writes the job's script, pickles the call, submits it with ``sbatch`` and reads back its
result; this module only says what to submit (:func:`run_cluster_job` on a
:class:`~robust_sabn.suites.steps.StepJob`) and with which resources. The job runs the step as a
local worker does: under the step's lock, skipped when done, its output in the step's log; a job
killed by SLURM (time limit, preemption, a node failure) leaves the step partial, resumed by the
next ``suite run``. Each job's id is kept in ``<suite_dir>/.steps/<step>.job`` for
``suite status``; submitit's own files (``<job id>_submitted.pkl``, its logs, the result) go to
``<suite_dir>/.steps/submitit/``.

``cluster="local"`` (submitit's local executor: each job a process on this machine) and
``"debug"`` (in this process) run the same path without a cluster.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from robust_sabn.errors import UserInputError
from robust_sabn.suites.steps import (
    STEPS_FOLDER,
    StepFiles,
    StepJob,
    StepOutcome,
    run_job,
    use_threads_and_gpu,
)
from robust_sabn.suites.tasks import Step

ClusterKind = Literal["slurm", "local", "debug"]


@dataclass(frozen=True)
class ClusterOptions:
    """What each step's job asks for.

    Attributes:
        cluster: ``slurm``, or submitit's ``local`` / ``debug`` executors (no cluster).
        partition: the SLURM partition (None: the cluster's default).
        gpus_per_job: GPUs per job.
        cpus_per_job: CPU cores per job, also its torch threads (None: SLURM's default).
        time_limit_min: the job's time limit in minutes.
        mem_gb: memory per job (None: SLURM's default).
        sbatch: extra ``#SBATCH`` options, as ``key=value`` (``account=abc``, ``qos=high``,
            ``constraint=a100``).
        max_jobs: at most this many jobs queued or running at once (None: every ready step).
    """

    cluster: ClusterKind = "slurm"
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int | None = None
    time_limit_min: int = 24 * 60
    mem_gb: float | None = None
    sbatch: tuple[str, ...] = ()
    max_jobs: int | None = None

    def sbatch_parameters(self) -> dict[str, str]:
        """``sbatch`` as submitit's ``slurm_additional_parameters``.

        Raises:
            UserInputError: an entry without ``=``.
        """
        parameters = {}
        for entry in self.sbatch:
            key, sep, value = entry.removeprefix("--").partition("=")
            if not sep or not key:
                raise UserInputError(f"--sbatch {entry!r}: give KEY=VALUE, e.g. account=abc")
            parameters[key.replace("-", "_")] = value
        return parameters


def run_cluster_job(job: StepJob, threads: int | None) -> StepOutcome:
    """What each cluster job runs: :func:`~robust_sabn.suites.steps.run_job` with ``threads``
    torch threads (the GPUs are the ones SLURM gives the job)."""
    use_threads_and_gpu(threads, None)
    return run_job(job)


def _submitit() -> Any:
    try:
        import submitit
    except ModuleNotFoundError as exc:
        raise UserInputError("--executor slurm needs submitit: pip install "
                             "'robust-sabn[cluster]'") from exc
    return submitit


class SubmititExecutor:
    """Steps as submitit jobs; finished jobs are found by polling."""

    def __init__(self, options: ClusterOptions, suite_dir: Path,
                 make_job: Callable[[str], StepJob]) -> None:
        submitit = _submitit()
        self.options, self.suite_dir, self.make_job = options, suite_dir, make_job
        self.folder = suite_dir / STEPS_FOLDER / "submitit"
        self.executor = submitit.AutoExecutor(folder=self.folder, cluster=options.cluster)
        parameters: dict[str, Any] = {
            "name": f"robust-sabn-{suite_dir.name}", "timeout_min": options.time_limit_min,
            "gpus_per_node": options.gpus_per_job, "cpus_per_task": options.cpus_per_job,
            "mem_gb": options.mem_gb, "tasks_per_node": 1, "nodes": 1,
        }
        if options.cluster == "slurm":
            parameters["slurm_partition"] = options.partition
            parameters["slurm_additional_parameters"] = options.sbatch_parameters()
        self.executor.update_parameters(**parameters)
        self.jobs: dict[str, Any] = {}

    def free(self) -> int:
        if self.options.max_jobs is None:
            return 1  # no limit: one more each time it is asked
        return self.options.max_jobs - len(self.jobs)

    def submit(self, step: Step) -> str:
        job = self.executor.submit(run_cluster_job, self.make_job(step.label),
                                   self.options.cpus_per_job)
        self.jobs[step.label] = job
        StepFiles.of(self.suite_dir, step.label).job.write_text(json.dumps({
            "cluster": self.options.cluster, "job_id": str(job.job_id),
            "folder": str(self.folder)}) + "\n")
        return f"job {job.job_id}"

    def wait(self, timeout: float) -> list[StepOutcome]:
        deadline = time.monotonic() + timeout
        while True:
            outcomes = [self._outcome(label, job) for label, job in list(self.jobs.items())
                        if job.done()]
            for outcome in outcomes:
                del self.jobs[outcome.label]
                StepFiles.of(self.suite_dir, outcome.label).job.unlink(missing_ok=True)
            if outcomes or time.monotonic() >= deadline:
                return outcomes
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    @staticmethod
    def _outcome(label: str, job: Any) -> StepOutcome:
        try:
            return job.result()
        except Exception as exc:  # submitit: the job failed, was cancelled or timed out
            lines = [line for line in str(exc).splitlines() if line.strip()]
            detail = lines[-1].strip() if lines else type(exc).__name__
            return StepOutcome(label, "failed",
                               error=f"job {job.job_id} ended without a result: {detail}")

    def close(self) -> None:
        """Cancel the jobs still queued or running (Ctrl-C); their steps resume next time."""
        for job in self.jobs.values():
            job.cancel(check=False)


def job_state(job_file: Path) -> tuple[str, str] | None:
    """What the job recorded in a step's ``.job`` file is doing: ``("queued", "job 123")``,
    ``("running", ...)``, or None (finished, unknown, or no such file). SLURM is asked through
    submitit (``sacct``); a job of submitit's local executor runs while its process lives."""
    try:
        info = json.loads(job_file.read_text())
        job_id = str(info["job_id"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None
    state = None
    if info.get("cluster") == "slurm":
        try:
            slurm = str(_submitit().SlurmJob(info["folder"], job_id).state)
        except Exception:  # sacct missing or failing: say nothing rather than guess
            return None
        state = {"PENDING": "queued", "REQUEUED": "queued", "CONFIGURING": "queued",
                 "RUNNING": "running"}.get(slurm.split()[0] if slurm else "")
    elif info.get("cluster") == "local":
        try:
            os.kill(int(job_id), 0)
            state = "running"
        except (OSError, ValueError):
            state = None
    return (state, f"{info['cluster']} job {job_id}") if state else None
