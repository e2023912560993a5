"""Issue 13: unwritable outputs, the folder lock, file modes, stale temporary files, a folder
given as a checkpoint and a raw pickle: one line each, or the right file on disk.

Every test here failed on the code before the issue's fixes.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from bad_option_trainers import TASK_TRAINERS
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from npz_helpers import TINY, assert_one_line_error, run_cli, write_image_npz

from robust_sabn.artifacts import ModelSpec, load_checkpoint, save_checkpoint
from robust_sabn.artifacts.atomic import remove_stale_temp_files
from robust_sabn.artifacts.lock import LOCK_NAME, folder_lock
from robust_sabn.artifacts.paths import check_output_dir, check_output_file
from robust_sabn.errors import UserInputError

UNWRITABLE = Path("/sys/robust-sabn-test")  # sysfs: no new files, even for root


def _sysfs_refuses_files() -> bool:
    try:
        (Path("/sys") / "robust-sabn-probe").touch()
    except OSError:
        return True
    (Path("/sys") / "robust-sabn-probe").unlink()
    return False


needs_unwritable = pytest.mark.skipif(not _sysfs_refuses_files(),
                                      reason="no read-only folder (/sys) on this machine")


def _blocker(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker


# ------------------------------------------------------------- item 3: unwritable outputs


@pytest.mark.parametrize("check", [check_output_dir, check_output_file])
def test_the_path_check_refuses_a_parent_that_is_a_file(tmp_path: Path, check: object) -> None:
    with pytest.raises(UserInputError, match=r"a-file is a file, not a folder; choose another"):
        check(_blocker(tmp_path) / "sub" / "x", option="--out")  # type: ignore[operator]


@needs_unwritable
@pytest.mark.parametrize("check", [check_output_dir, check_output_file])
def test_the_path_check_refuses_an_unwritable_folder(check: object) -> None:
    with pytest.raises(UserInputError, match=r"/sys is not writable .*; choose another -o"):
        check(UNWRITABLE / "out", option="-o")  # type: ignore[operator]


def test_the_path_check_leaves_nothing_behind(tmp_path: Path) -> None:
    assert check_output_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert check_output_file(tmp_path / "report.md") == tmp_path / "report.md"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["train", "report", "zoo", "eval", "suite"])
@pytest.mark.parametrize("where", ["file-parent", "unwritable"])
def test_every_writing_command_refuses_an_unwritable_output_with_one_line(
        tmp_path: Path, command: str, where: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "unwritable" and not _sysfs_refuses_files():
        pytest.skip("no read-only folder (/sys) on this machine")
    target = (_blocker(tmp_path) if where == "file-parent" else UNWRITABLE) / "out"
    checkpoint = tmp_path / "model.pt"
    spec = ModelSpec(name="small_cnn", norm="bn", num_classes=4, in_channels=1,
                     num_branches=1, kwargs={"width": 4})
    save_checkpoint(checkpoint, {"model": spec.to_dict(), "state_dict": spec.build().state_dict(),
                                 "dataset": "npz", "config": {
                                     "data_dir": str(write_image_npz(tmp_path / "d.npz"))}})
    args = {
        "train": ["train", "--out", str(target)],
        "report": ["report", str(tmp_path), "-o", str(target / "report.md")],
        "zoo": ["zoo", "export", str(checkpoint), "--name", "Mine2026_Out",
                "--model-dir", str(target)],
        "eval": ["eval", str(checkpoint), "--attacks", "", "-o", str(target / "e.json")],
        "suite": ["suite", "run", "adversarial-fmnist", "--out", str(target)],
    }[command]
    code, out, err = run_cli(args, capsys, monkeypatch)
    reason = "is a file, not a folder" if where == "file-parent" else "is not writable"
    assert_one_line_error(code, out, err, reason, "choose another")


# ------------------------------------------------------------- item 7: the folder lock


def test_a_second_holder_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    with folder_lock(tmp_path / "suite") as lock_file:
        assert lock_file.read_text().startswith(f"PID {os.getpid()} ")
        with pytest.raises(UserInputError, match=rf"is in use by PID {os.getpid()} on "):
            with folder_lock(tmp_path / "suite"):
                pass
    assert not (tmp_path / "suite" / LOCK_NAME).exists()
    with folder_lock(tmp_path / "suite"):  # released: taken again
        pass


@pytest.mark.parametrize("trainer", list(TASK_TRAINERS.values()),
                         ids=list(TASK_TRAINERS))
def test_every_task_trainer_refuses_a_run_folder_another_writer_holds(
        trainer, tmp_path: Path) -> None:
    """The GAN, style and NAS trainers lock their run folder as train does (each call here has
    one bad option, so the lock is the first thing it would meet); once the lock is theirs, the
    temporary file a killed write left is removed before the bad option is named."""
    out = tmp_path / "run"
    out.mkdir()  # a folder the lock did not create outlives it
    with folder_lock(out):
        with pytest.raises(UserInputError, match=rf"is in use by PID {os.getpid()} "):
            trainer(out)
    stale = out / ".last.pt.abcd1234.tmp"
    stale.write_bytes(b"half a checkpoint")
    with pytest.raises(UserInputError) as bad_option:
        trainer(out)
    assert "in use" not in str(bad_option.value)
    assert not stale.exists() and not (out / LOCK_NAME).exists()


def test_the_lock_removes_the_folders_it_created_only_while_they_are_empty(
        tmp_path: Path) -> None:
    with folder_lock(tmp_path / "a" / "b" / "run"):
        assert (tmp_path / "a" / "b" / "run").is_dir()
    assert not (tmp_path / "a").exists()
    with folder_lock(tmp_path / "a" / "run"):
        (tmp_path / "a" / "run" / "config.json").write_text("{}")
    assert sorted(p.name for p in (tmp_path / "a" / "run").iterdir()) == ["config.json"]
    with folder_lock(tmp_path / "a" / "other"):
        pass
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["run"]


_HOLD = ("import sys, time; from robust_sabn.artifacts.lock import folder_lock\n"
         "with folder_lock(sys.argv[1]):\n"
         "    print('locked', flush=True); time.sleep(600)\n")


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "run")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserInputError, match=rf"in use by PID {holder.pid} "):
            with folder_lock(tmp_path / "run"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (tmp_path / "run" / LOCK_NAME).read_text().startswith(f"PID {holder.pid} ")  # stale
    with folder_lock(tmp_path / "run") as lock_file:
        assert lock_file.read_text().startswith(f"PID {os.getpid()} ")


def test_train_refuses_a_run_folder_another_process_writes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_image_npz(tmp_path / "d.npz", size=8)
    with folder_lock(tmp_path / "run"):
        code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), *TINY,
                                  "--out", str(tmp_path / "run")], capsys, monkeypatch)
    assert_one_line_error(code, out, err, f"is in use by PID {os.getpid()}")
    assert not (tmp_path / "run" / "last.pt").exists()


# ------------------------------------------------------------- item 9: modes, temp files


def _tiny_payload() -> dict:
    spec = ModelSpec(name="small_cnn", norm="bn", num_classes=2, in_channels=1, num_branches=1,
                     kwargs={"width": 2})
    return {"model": spec.to_dict(), "state_dict": spec.build().state_dict()}


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_artifacts_get_the_mode_the_umask_gives(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "c.pt", _tiny_payload())
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode


def test_temporary_files_of_a_killed_write_are_removed_by_the_next_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    stale = [run / ".last.pt.k1ll3d_x.tmp", run / ".metrics.jsonl.abcdefgh.tmp"]
    for path in stale:
        path.write_bytes(b"torn")
    keep = run / "notes.tmp"
    keep.write_text("a user's file")
    data = write_image_npz(tmp_path / "d.npz", size=8)
    code, _, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(data), *TINY,
                            "--out", str(run), "--resume"], capsys, monkeypatch)
    assert code == 0, err
    assert not any(path.exists() for path in stale) and keep.exists()
    assert remove_stale_temp_files(run) == []


# ------------------------------------------------------------- item 10: checkpoint messages


def test_a_folder_given_as_checkpoint_names_the_files_in_it(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "best.pt", _tiny_payload())
    with pytest.raises(UserInputError, match=r"is a folder, not a checkpoint: give a checkpoint "
                                             r"file in it, e\.g\. .*best\.pt"):
        load_checkpoint(tmp_path)


def test_a_raw_pickle_gets_our_line_and_no_torch_warning(tmp_path: Path) -> None:
    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"state_dict": {"w": [1.0]}}, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning torch prints would fail here
        with pytest.raises(UserInputError, match="cannot read checkpoint"):
            load_checkpoint(path)


def test_report_names_a_truncated_record_among_valid_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(Path(__file__).parent / "fixtures" / "report" / "suite", suite)
    valid = sorted(suite.glob("bn-seed0/eval-*.json"))[0]
    torn = suite / "bn-seed0" / "eval-torn.json"
    torn.write_bytes(valid.read_bytes()[:200])  # a writer killed mid-file (not ours: atomic)
    code, out, err = run_cli(["report", str(suite), "-o", str(tmp_path / "r.md")],
                             capsys, monkeypatch)
    assert code == 0, err
    assert "1 unreadable records skipped" in out
    warnings_section = (tmp_path / "r.md").read_text().split("## Warnings", 1)[1]
    assert f"skipped {torn} is not valid JSON" in warnings_section
