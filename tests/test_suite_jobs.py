"""Issue 19: suite steps side by side (``suite run --jobs N``), per-step locks, and the cluster
executor, on the chain task (tests/chain_task.py: trainings, each with evaluations after it)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_task import executions, install_chain_task
from typer.testing import CliRunner

from robust_sabn import plugins
from robust_sabn.artifacts.atomic import atomic_write_bytes, remove_stale_temp_files
from robust_sabn.artifacts.lock import exclusive_lock, lock_holder
from robust_sabn.artifacts.result import collect_results
from robust_sabn.cli import app
from robust_sabn.suites import SuiteRunResult, run_suite, step_statuses
from robust_sabn.suites.cluster import ClusterOptions
from robust_sabn.suites.steps import StepFiles

TESTS = Path(__file__).parent
LABELS = ["train a", "evaluate a 0", "evaluate a 1", "train b", "evaluate b 0", "evaluate b 1",
          "train c", "evaluate c 0", "evaluate c 1"]


@pytest.fixture(autouse=True)
def chain_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The chain task installed here and, through PYTHONPATH, for the processes tests start."""
    site = install_chain_task(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(site), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]))
    plugins.task_plugins.cache_clear()
    yield
    monkeypatch.undo()
    plugins.task_plugins.cache_clear()


def write_suite(folder: Path, extra: str = "", runs: str = '["a", "b", "c"]') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chain.toml"
    path.write_text(f'task = "chain"\n[chain]\nruns = {runs}\nevaluations = 2\n{extra}')
    return path


def results(suite_dir: Path) -> dict[str, tuple[str, str, float | None]]:
    """Each record's (task, kind, value) by its path under the suite folder."""
    records, warnings = collect_results(suite_dir)
    assert warnings == []
    return {str(path.relative_to(suite_dir)): (r.task, r.kind, r.value("value"))
            for path, r in records}


def run(path: Path, out: Path, jobs: int) -> SuiteRunResult:
    return run_suite(path, out_root=out, progress=False, report_path=out / "report.md",
                     jobs=jobs)


def worker_pids(suite_dir: Path) -> set[int]:
    """The PIDs that ran steps, from the first line of each step's log."""
    pids = set()
    for log in (suite_dir / ".steps").glob("*.log"):
        pids.update(int(p) for p in re.findall(r"^== .*: PID (\d+) on ", log.read_text(), re.M))
    return pids


def test_jobs_2_gives_the_records_of_jobs_1_in_worker_processes(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    one = run(path, tmp_path / "one", jobs=1)
    two = run(path, tmp_path / "two", jobs=2)
    assert one.executed == LABELS and one.failed == {}
    assert sorted(two.executed) == sorted(LABELS) and two.failed == {}
    assert two.report is not None and two.report.is_file()
    expected = {f"{run}/train.json": ("chain", "train", float(i)) for i, run in enumerate("abc")}
    expected |= {f"{run}/eval-{k}.json": ("chain", "evaluation", 10.0 * i + k)
                 for i, run in enumerate("abc") for k in range(2)}
    assert results(tmp_path / "one" / "chain") == expected
    assert results(tmp_path / "two" / "chain") == expected
    assert sorted(executions(tmp_path / "two" / "chain")) == sorted(LABELS)
    pids = worker_pids(tmp_path / "two" / "chain")
    assert len(pids) == 2 and os.getpid() not in pids  # two workers, not this process
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    train_records = [r for p, r in collect_results(tmp_path / "two" / "chain")[0]
                     if p.name == "train.json"]
    assert {r.extras["OMP_NUM_THREADS"] for r in train_records} == {threads}
    # done: a second run does nothing
    again = run(path, tmp_path / "two", jobs=2)
    assert again.executed == [] and sorted(again.skipped) == sorted(LABELS)


def wait_for_holder(lock: Path, timeout: float = 600) -> int:
    """The PID holding ``lock``, once someone does."""
    deadline = time.monotonic() + timeout
    while (holder := lock_holder(lock)) is None:
        assert time.monotonic() < deadline, f"nobody took {lock}"
        time.sleep(0.05)
    return int(holder.split()[1])


def test_a_killed_worker_fails_its_step_and_a_rerun_redoes_only_that_step(
        tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites", 'hold = ["b"]\n')
    out = tmp_path / "runs"
    suite_dir = out / "chain"
    outcome: list[SuiteRunResult] = []
    runner = threading.Thread(target=lambda: outcome.append(run(path, out, jobs=2)))
    runner.start()
    pid = wait_for_holder(StepFiles.of(suite_dir, "train b").lock)
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    runner.join(timeout=300)
    first = outcome[0]
    assert first.failed == {"train b": "its worker process died (signal 9)",
                            "evaluate b 0": "not run: 'train b' failed",
                            "evaluate b 1": "not run: 'train b' failed"}
    assert first.report is None
    assert sorted(first.executed) == sorted(x for x in LABELS if " b" not in x)
    assert (StepFiles.of(suite_dir, "train b").failed.read_text()
            == "its worker process died (signal 9)\n")
    before = executions(suite_dir)
    assert sorted(before) == sorted([x for x in LABELS if " b" not in x] + ["train b"])

    (suite_dir / "release-b").touch()
    second = run(path, out, jobs=2)
    assert second.failed == {} and second.report is not None
    assert sorted(second.executed) == ["evaluate b 0", "evaluate b 1", "train b"]
    assert sorted(executions(suite_dir)[len(before):]) == sorted(second.executed)
    assert not StepFiles.of(suite_dir, "train b").failed.exists()


def chain_command(path: Path, out: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "robust_sabn", "suite", "run", str(path), "--out", str(out),
            "--report", str(out / "report.md"), "--quiet", *more]


def test_two_concurrent_runs_on_one_folder_do_every_step_exactly_once(tmp_path: Path) -> None:
    runs = ["a", "b", "c", "d", "e"]
    path = write_suite(tmp_path / "suites", f"hold = {runs}\n".replace("'", '"'),
                       runs=str(runs).replace("'", '"'))
    out = tmp_path / "runs"
    suite_dir = out / "chain"
    first, second = (subprocess.Popen(chain_command(path, out, "--jobs", "2"),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True) for _ in range(2))
    try:
        # all four workers busy (two trainings per runner) before any training may end
        deadline = time.monotonic() + 600
        while sum(lock_holder(StepFiles.of(suite_dir, f"train {r}").lock) is not None
                  for r in runs) < 4:
            assert time.monotonic() < deadline, "the two runners never held four trainings"
            time.sleep(0.05)
        for r in runs:
            (suite_dir / f"release-{r}").touch()
        outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    finally:
        for process in (first, second):
            process.kill()
    assert [first.returncode, second.returncode] == [0, 0], outputs
    labels = [f"{kind} {r}{k}" for r in runs
              for kind, k in (("train", ""), ("evaluate", " 0"), ("evaluate", " 1"))]
    assert sorted(executions(suite_dir)) == sorted(labels)  # each exactly once
    assert len(worker_pids(suite_dir)) == 4  # both runners' workers did steps


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_workers_stop_when_their_suite_process_is_killed(tmp_path: Path,
                                                         how: signal.Signals) -> None:
    path = write_suite(tmp_path / "suites", 'hold = ["a"]\n', runs='["a"]')
    out = tmp_path / "runs"
    parent = subprocess.Popen(chain_command(path, out, "--jobs", "2"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        worker = wait_for_holder(StepFiles.of(out / "chain", "train a").lock)
        assert worker != parent.pid
        parent.send_signal(how)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _alive(worker):  # the held step would otherwise wait for its release forever
            assert time.monotonic() < deadline, f"worker {worker} outlived its suite process"
            time.sleep(0.1)
    finally:
        parent.kill()
    assert lock_holder(StepFiles.of(out / "chain", "train a").lock) is None


def test_a_failing_step_does_not_stop_the_others_and_exits_1_with_its_line(
        tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites", 'fail = ["b"]\n')
    out = tmp_path / "runs"
    done = subprocess.run(chain_command(path, out, "--jobs", "2"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "error: step 'train b' failed: ValueError: run b fails on purpose",
        "error: step 'evaluate b 0' failed: not run: 'train b' failed",
        "error: step 'evaluate b 1' failed: not run: 'train b' failed",
    ]
    assert "ran 6 steps, skipped 0 already done, 3 failed" in done.stdout
    assert set(results(out / "chain")) == {f"{r}/{f}" for r in "ac"
                                           for f in ("train.json", "eval-0.json", "eval-1.json")}
    log = StepFiles.of(out / "chain", "train b").log.read_text()
    assert "Traceback" in log and "ValueError: run b fails on purpose" in log


def test_one_at_a_time_a_step_another_runner_holds_is_done_after_the_rest(
        tmp_path: Path) -> None:
    path = write_suite(tmp_path / "suites")
    out = tmp_path / "runs"
    suite_dir = out / "chain"
    lock = StepFiles.of(suite_dir, "train a").lock
    lock.parent.mkdir(parents=True)
    outcome: list[SuiteRunResult] = []
    with exclusive_lock(lock) as taken:  # as another runner's worker holds it
        assert taken
        runner = threading.Thread(target=lambda: outcome.append(run(path, out, jobs=1)))
        runner.start()
        deadline = time.monotonic() + 600
        while len(executions(suite_dir)) < 6:
            assert time.monotonic() < deadline, executions(suite_dir)
            time.sleep(0.05)
        assert sorted(executions(suite_dir)) == sorted(x for x in LABELS if " a" not in x)
        assert runner.is_alive()  # waiting for train a
    runner.join(timeout=120)
    assert outcome[0].executed == [*(x for x in LABELS if " a" not in x), "train a",
                                   "evaluate a 0", "evaluate a 1"]


def test_stale_temporary_files_go_and_a_live_writer_s_stays(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    stale = folder / ".eval.json.abcd1234.tmp"  # a killed writer's: nobody holds it
    stale.write_text("{")
    writing, finish = threading.Event(), threading.Event()

    def slow_write(f: object) -> None:
        writing.set()
        assert finish.wait(60)

    writer = threading.Thread(target=atomic_write_bytes, args=(folder / "eval2.json",
                                                               slow_write))
    writer.start()
    assert writing.wait(60)
    live = [p for p in folder.iterdir() if p.name.startswith(".eval2.json.")]
    assert len(live) == 1
    assert remove_stale_temp_files(folder) == [stale]
    assert live[0].exists() and not stale.exists()
    finish.set()
    writer.join(60)
    assert [p.name for p in folder.iterdir()] == ["eval2.json"]


def test_submitit_s_local_executor_runs_a_suite_end_to_end(tmp_path: Path) -> None:
    # submitit's jobs are new processes: they find chain_task (the pickled task) on PYTHONPATH
    path = write_suite(tmp_path / "suites", runs='["a"]')
    out = tmp_path / "runs"
    result = run_suite(path, out_root=out, progress=False, report_path=out / "report.md",
                       cluster=ClusterOptions(cluster="local", time_limit_min=30))
    assert result.failed == {} and result.executed[0] == "train a"
    assert sorted(result.executed[1:]) == ["evaluate a 0", "evaluate a 1"]
    suite_dir = out / "chain"
    assert results(suite_dir) == {"a/train.json": ("chain", "train", 0.0),
                                  "a/eval-0.json": ("chain", "evaluation", 0.0),
                                  "a/eval-1.json": ("chain", "evaluation", 1.0)}
    jobs = {int(p.name.split("_")[0])
            for p in (suite_dir / ".steps" / "submitit").glob("*_submitted.pkl")}
    assert len(jobs) == 3  # one submitit job per step
    pids = worker_pids(suite_dir)
    assert len(pids) == 3 and os.getpid() not in pids  # each step in its job's process
    assert not list((suite_dir / ".steps").glob("*.job"))  # finished jobs are forgotten
    assert {s.state for s in step_statuses(path, out_root=out)} == {"done"}


class PendingSlurmJob:
    """What ``submitit.SlurmJob(folder, job_id)`` says of a job waiting in SLURM's queue."""

    def __init__(self, folder: str, job_id: str) -> None:
        self.state = "PENDING"


def test_suite_status_shows_done_failed_running_and_queued_steps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import submitit

    path = write_suite(tmp_path / "suites", 'fail = ["b"]\n')
    out = tmp_path / "runs"
    suite_dir = out / "chain"
    run(path, out, jobs=2)
    (suite_dir / "c" / "train.json").unlink()  # as a submitit local job still running
    StepFiles.of(suite_dir, "train c").job.write_text(json.dumps(
        {"cluster": "local", "job_id": str(os.getpid()), "folder": str(tmp_path)}))
    (suite_dir / "c" / "eval-1.json").unlink()  # as a SLURM job waiting in the queue
    StepFiles.of(suite_dir, "evaluate c 1").job.write_text(json.dumps(
        {"cluster": "slurm", "job_id": "4242", "folder": str(tmp_path)}))
    monkeypatch.setattr(submitit, "SlurmJob", PendingSlurmJob)
    with exclusive_lock(StepFiles.of(suite_dir, "evaluate a 1").lock):
        (suite_dir / "a" / "eval-1.json").unlink()
        table = CliRunner().invoke(app, ["suite", "status", str(path), "--out", str(out)])
    assert table.exit_code == 0, table.output
    rows = {cells[0]: cells[1:] for line in table.output.splitlines() if "│" in line
            for cells in [[cell.strip() for cell in line.strip().strip("│").split("│")]]}
    assert rows["train a"] == ["train", "done", ""]
    assert rows["evaluate a 1"] == ["evaluate", "running", f"PID {os.getpid()} on "
                                    f"{socket.gethostname()}"]
    assert rows["train b"] == ["train", "failed", "ValueError: run b fails on purpose"]
    assert rows["evaluate b 0"] == ["evaluate", "failed", "not run: 'train b' failed"]
    assert rows["train c"] == ["train", "running", f"local job {os.getpid()}"]
    assert rows["evaluate c 0"] == ["evaluate", "done", ""]  # its record is there
    assert rows["evaluate c 1"] == ["evaluate", "queued", "slurm job 4242"]
    assert "3 done, 2 running, 3 failed, 1 queued" in table.output
