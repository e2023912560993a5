"""Issue 23 item 1: a stranger's file never runs its payload nor imports a module it names.

Each hostile file carries a payload that creates a marker file when it runs (a pickle
``__reduce__``, or a module whose import writes the marker). Every command that takes such a
file refuses it with one line and exit code 2, and the marker never appears. Where a trusted
path exists (``--trust-remote-code``), the same file does run its payload there: the proof that
the payload is real and the test could fail.
"""

from __future__ import annotations

import builtins
import io
import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from npz_helpers import assert_one_line_error, run_cli, write_image_npz
from torch import nn

from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.foreign import load_foreign_model
from robust_sabn.nas.tables import load_analog_table
from robust_sabn.zoo import load_model, register_models, zoo_paths


class Payload:
    """Unpickling this creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def evil_export(path: Path, marker: Path) -> Path:
    """A genuine torch.export archive of a tiny classifier whose pickled sample inputs carry a
    payload (torch.export.load unpickles them with weights_only=False after a refusal)."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4, 3))
    program = torch.export.export(net, (torch.rand(2, 1, 4, 4),))
    program._example_inputs = ((Payload(marker),), {})
    torch.export.save(program, str(path))
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PAYLOAD_RAN"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_image_npz(tmp_path / "data.npz", size=4, train=8, test=8)


@pytest.mark.parametrize("name", ["evil.pt2", "best.pt", "model"])
def test_a_torch_export_archive_under_any_name_is_refused_untrusted(
        tmp_path: Path, marker: Path, data: Path, name: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    archive = evil_export(tmp_path / name, marker)
    commands = [
        ["eval", str(archive), "--dataset", "npz", "--data-dir", str(data), "--attacks", ""],
        ["zoo", "export", str(archive), "--name", "Evil", "--model-dir", str(tmp_path / "m")],
        ["zoo", "export", str(archive), "--name", "Evil", "--model-dir", str(tmp_path / "m"),
         "--arch", "torch.nn:Identity", "--dataset", "npz"],
    ]
    for args in commands:
        code, out, err = run_cli(args, capsys, monkeypatch)
        assert_one_line_error(code, out, err, str(archive))
        assert not marker.exists(), args
    assert "--trust-remote-code" in assert_one_line_error(*run_cli(commands[0], capsys,
                                                                   monkeypatch))
    load_foreign_model(archive, trust_remote_code=True)  # the payload is real: trusted, it runs
    assert marker.exists()


def test_the_trusted_path_reports_a_damaged_archive_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt2"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("broken/archive_format", "pt2")
        archive.writestr("broken/models/model.json", "{ 100% not json")
    with pytest.raises(UserInputError, match="cannot load torch-export archive") as error:
        load_foreign_model(broken, trust_remote_code=True)
    assert "\n" not in str(error.value)


def test_pickled_checkpoints_and_weights_never_run(tmp_path: Path, marker: Path, data: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"model": Payload(marker), "state_dict": {}}, evil)
    plain = tmp_path / "plain.pt"
    torch.save(Payload(marker), plain)
    out = tmp_path / "out"
    commands = [
        ["eval", str(evil)],
        ["eval", str(plain), "--arch", "torch.nn:Identity", "--dataset", "npz",
         "--data-dir", str(data)],
        ["zoo", "export", str(evil), "--name", "Evil", "--model-dir", str(out)],
        ["gan", "eval", str(evil), "--reference", str(evil), "-o", str(out / "g.json"),
         "--inception-weights", str(plain)],
        ["style", "train", "--encoder-weights", str(plain), "--out", str(out / "style")],
        ["style", "eval", str(evil)],
        ["nas", "score", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
         "nor_conv_3x3~1|skip_connect~2|", "--no-analog", "--nb201", str(plain)],
    ]
    for args in commands:
        code, out_text, err = run_cli(args, capsys, monkeypatch)
        assert_one_line_error(code, out_text, err)
        assert not marker.exists(), args
    torch.load(plain, weights_only=False)  # the payload is real
    assert marker.exists()


def test_an_npz_with_pickled_objects_is_refused(tmp_path: Path, marker: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "evil.npz"
    objects = np.empty(2, dtype=object)
    objects[:] = [Payload(marker), Payload(marker)]
    np.savez(evil, x_train=objects, y_train=np.arange(2), x_test=objects, y_test=np.arange(2))
    code, out, err = run_cli(["train", "--dataset", "npz", "--data-dir", str(evil), "--quiet",
                              "--out", str(tmp_path / "run")], capsys, monkeypatch)
    assert_one_line_error(code, out, err, "evil.npz")
    assert not marker.exists()
    np.load(evil, allow_pickle=True)["x_train"]  # the payload is real
    assert marker.exists()


def test_an_analog_table_with_a_payload_is_refused(tmp_path: Path, marker: Path) -> None:
    table = tmp_path / "data.anb"
    table.write_bytes(pickle.dumps({(0, 0, 0, 0, 0, 0): Payload(marker)}))
    with pytest.raises(UserInputError, match="is not allowed"):
        load_analog_table(table)
    assert not marker.exists()
    pickle.load(io.BytesIO(table.read_bytes()))  # the payload is real
    assert marker.exists()


@pytest.fixture
def evil_zoo(tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model folder whose entry names ``evilmod:make``, an importable module whose import
    creates the marker."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "evilmod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "import torch\n\ndef make():\n    return torch.nn.Linear(2, 2)\n")
    monkeypatch.syspath_prepend(str(modules))
    models = tmp_path / "models"
    for dataset in ("npz", "cifar10"):
        paths = zoo_paths(models, dataset, "Linf", "Evil")
        paths.entry.parent.mkdir(parents=True)
        paths.entry.write_text(json.dumps({"kind": "zoo-entry", "name": "Evil",
                                           "dataset": dataset, "threat_model": "Linf",
                                           "model": {"arch": "evilmod:make"}}))
        torch.save(nn.Linear(2, 2).state_dict(), paths.weights)
    return models


def test_a_zoo_entry_never_imports_the_module_it_names(
        evil_zoo: Path, marker: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (["zoo", "info", "Evil", "--dataset", "npz", "--model-dir", str(evil_zoo)],
                 ["zoo", "benchmark", "Evil", "--data-dir", str(tmp_path),
                  "--model-dir", str(evil_zoo)]):
        code, out, err = run_cli(args, capsys, monkeypatch)
        assert_one_line_error(code, out, err, "evilmod:make", "--trust-remote-code")
    for call in (lambda: load_model("Evil", evil_zoo, "npz"),
                 lambda: register_models(evil_zoo)):
        with pytest.raises(UserInputError, match="trust_remote_code=True"):
            call()
    assert not marker.exists() and "evilmod" not in sys.modules
    code, out, _ = run_cli(["zoo", "info", "Evil", "--dataset", "npz", "--model-dir",
                            str(evil_zoo), "--trust-remote-code"], capsys, monkeypatch)
    assert code == 0 and "Evil: loaded" in out and marker.exists()  # opted in: imported
    sys.modules.pop("evilmod", None)
