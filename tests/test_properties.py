"""Property-based input testing (hypothesis): whatever a user passes, the outcome is success
or exit code 2 with one ``error:`` line and no traceback.

Three generators: command lines of ``train`` and ``eval`` (every value a user could mistype),
suite TOML documents (parsed only through :func:`robust_sabn.suites.load_suite`), and npz arrays
(shapes, dtypes, ranges, labels, class entries). The number of examples is bounded so the file
stays fast; the database is off, so every run draws the same examples.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from npz_helpers import run_cli, write_image_npz

from robust_sabn.artifacts import ModelSpec, read_result, save_checkpoint
from robust_sabn.data import get_dataset_info, load_split
from robust_sabn.errors import UserInputError
from robust_sabn.suites import load_suite

SETTINGS = settings(max_examples=25, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

WORK = Path(tempfile.mkdtemp(prefix="robust-sabn-properties-"))
NPZ = write_image_npz(WORK / "data.npz", size=8, train=80, test=16)
BLOCKER = WORK / "a-file"
BLOCKER.write_text("not a folder")


def _assert_success_or_one_line(code: int, out: str, err: str) -> None:
    event(f"exit {code}" if code == 0 else f"exit {code}: {' '.join(err.split()[1:4])}")
    assert "Traceback" not in out + err, err
    if code == 0:
        return
    assert code == 2, (code, err)
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line, err


# ---------------------------------------------------------------------- command lines

# Per option: (values that train, values a user could mistype). A drawn option takes a valid
# value 3 times in 4, so most command lines train and the refusals still cover every option.
_TRAIN_OPTIONS: dict[str, tuple[list[str], list[str]]] = {
    "--dataset": (["npz"], ["mnist", "", "NPZ"]),
    "--model": (["small_cnn"], ["resnet", "small-cnn"]),
    "--norm": (["bn", "saauxbn", "auxbn", "ccbn", "sabn"], ["groupnorm"]),
    "--preset": (["fmnist-quick"], ["paper-cifar10x", "quick"]),
    "--epochs": (["1", "2"], ["0", "-1", "x"]),
    "--batch-size": (["8", "16"], ["0", "1000", "b"]),
    "--lr": (["0.05", "0.01"], ["nan", "inf", "-1", "0", "fast"]),
    "--width": (["2", "3"], ["0", "-3"]),
    "--max-train-examples": (["16", "32"], ["0"]),
    "--val-examples": (["4", "8"], ["0"]),
    "--eps": (["8/255", "0.1"], ["8", "-0.1", "1/0", "nan", "x", "2"]),
    "--step-size": (["2/255", "0.01"], ["-1", "y"]),
    "--attack-steps": (["0", "1"], ["-1", "z"]),
    "--attack-mode": (["train", "eval"], ["test"]),
    "--loss": (["hybrid", "adv"], ["trades"]),
    "--schedule": (["cosine", "multistep"], ["step"]),
    "--warmup-iters": (["0", "1"], ["-1", "100000"]),
    "--seed": (["1", "2"], ["-1", "abc", "1e3", ""]),
    "--device": (["cpu"], ["cuda:7", "tpu", "mps"]),
    "--data-dir": ([str(NPZ)], [str(WORK / "missing.npz"), str(WORK), str(BLOCKER)]),
}


def _rarely(draw: st.DrawFn, percent: int) -> bool:
    """True for about ``percent`` % of the draws. hypothesis favours the ends of a range, so
    the rare outcome is a band in the middle of 0..99."""
    return 40 <= draw(st.integers(0, 99)) < 40 + percent


@st.composite
def train_command_lines(draw: st.DrawFn) -> list[str]:
    """``train`` with a tiny model, data and run length, plus a few drawn options.

    The tiny options come first and the drawn ones override them (typer keeps the last), so no
    draw trains for long: epochs stay <= 2 and a preset cannot bring its ResNet back.
    """
    chosen = draw(st.lists(st.sampled_from(sorted(_TRAIN_OPTIONS)), max_size=4, unique=True))
    args = ["train", "--dataset", "npz", "--data-dir", str(NPZ), "--model", "small_cnn",
            "--width", "2", "--epochs", "1", "--batch-size", "16", "--max-train-examples",
            "32", "--val-examples", "4", "--attack-steps", "1", "--quiet"]
    for option in chosen:  # later options win in typer, so these override the tiny defaults
        valid, mistyped = _TRAIN_OPTIONS[option]
        args += [option, draw(st.sampled_from(mistyped if _rarely(draw, 25) else valid))]
    if _rarely(draw, 10):
        args += ["--unknown-option"]
    out = draw(st.sampled_from(["blocked", "file"])) if _rarely(draw, 15) else "fresh"
    target = {"fresh": Path(tempfile.mkdtemp(dir=WORK)) / "run", "blocked": BLOCKER / "run",
              "file": BLOCKER}[out]
    return [*args, "--out", str(target)]


def test_any_train_command_line_succeeds_or_fails_with_one_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()

    @SETTINGS
    @given(args=train_command_lines())
    def check(args: list[str]) -> None:
        code, out, err = run_cli(args, capsys, monkeypatch)
        _assert_success_or_one_line(code, out, err)
        outcomes["trained" if code == 0 else "refused"] += 1
        reasons[err.strip()[:90]] += 1
        if code == 0:
            run = Path(args[args.index("--out", len(args) - 2) + 1])
            assert read_result(run / "train_record.json").status == "ok"

    check()
    # the subject is reached: most command lines train, and some are refused
    assert outcomes["trained"] >= 0.4 * SETTINGS.max_examples, reasons
    assert outcomes["refused"] >= 3, outcomes


_CHECKPOINT = WORK / "model.pt"
_SPEC = ModelSpec(name="small_cnn", norm="saauxbn", num_classes=4, in_channels=1,
                  kwargs={"width": 2})
save_checkpoint(_CHECKPOINT, {"model": _SPEC.to_dict(), "state_dict": _SPEC.build().state_dict(),
                              "dataset": "npz", "config": {"data_dir": str(NPZ), "seed": 0}})
_EVAL_OPTIONS: dict[str, st.SearchStrategy[str]] = {
    "--attacks": st.sampled_from(["", "pgd", "fgsm", "pgd,pgd", "bogus", "pgd-l2"]),
    "--eps": st.sampled_from(["8", "8/255", "0.1", "-1", "nan", "q"]),
    "--n-examples": st.sampled_from(["1", "4", "0", "-2", "100000"]),
    "--batch-size": st.sampled_from(["1", "3", "0"]),
    "--branch": st.sampled_from(["clean", "adv", "shared", "both"]),
    "--version": st.sampled_from(["standard", "plus", "custom", "v9"]),
    "--pgd-steps": st.sampled_from(["1", "2", "0", "-1"]),
    "--dataset": st.sampled_from(["npz", "cifar10", "x"]),
    "--data-dir": st.sampled_from([str(NPZ), str(WORK / "missing.npz"), str(BLOCKER)]),
    "--device": st.sampled_from(["cpu", "cuda", "gpu"]),
    "-o": st.sampled_from([str(WORK / "e.json"), str(BLOCKER / "e.json"), str(WORK)]),
}


@st.composite
def eval_command_lines(draw: st.DrawFn) -> list[str]:
    checkpoint = draw(st.sampled_from([str(_CHECKPOINT), str(WORK), str(NPZ),
                                       str(WORK / "none.pt")]))
    chosen = draw(st.lists(st.sampled_from(sorted(_EVAL_OPTIONS)), max_size=5, unique=True))
    args = ["eval", checkpoint, "--attacks", "pgd", "--n-examples", "4", "--pgd-steps", "1"]
    for option in chosen:
        args += [option, draw(_EVAL_OPTIONS[option])]
    return args


@SETTINGS
@given(args=eval_command_lines())
def test_any_eval_command_line_succeeds_or_fails_with_one_line(
        args: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(args, capsys, monkeypatch)
    _assert_success_or_one_line(code, out, err)


# ---------------------------------------------------------------------- suite documents

_VALID_SUITE: dict[str, Any] = {
    "task": "adversarial", "description": "tiny",
    "runs": {"dataset": "npz", "model": "small_cnn", "norms": ["bn", "saauxbn"], "seeds": [0],
             "train": {"data_dir": str(NPZ), "width": 2, "epochs": 1, "batch_size": 16}},
    "evaluations": [{"name": "pgd", "attacks": ["pgd"], "eps": ["8/255"], "n_examples": 8}],
    "comparison": {"metrics": ["clean", "pgd-20"]},
}
_SCALARS = st.one_of(st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True),
                     st.booleans(), st.text(max_size=12),
                     st.sampled_from(["8/255", "npz", "bn", "hybrid", "adversarial", "gan"]))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else
                                             "-inf" if value == float("-inf") else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + "}"


def _to_toml(document: dict[str, Any]) -> str:
    """TOML text of a document whose tables are inline (one line per top-level key)."""
    return "\n".join(f'"{key}" = {_toml_value(value)}' for key, value in document.items())


@st.composite
def suite_documents(draw: st.DrawFn) -> str:
    """A valid suite with a few keys replaced, removed or added, sometimes with broken TOML."""
    document = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _VALID_SUITE.items()}
    document["runs"]["train"] = dict(document["runs"]["train"])
    for _ in range(draw(st.integers(0, 3))):
        runs = document.get("runs")
        tables = [document, document.get("comparison"), runs,
                  runs.get("train") if isinstance(runs, dict) else None]
        table = draw(st.sampled_from([t for t in tables if isinstance(t, dict)]))
        key = draw(st.sampled_from([*table.keys(), "extra", "lr", "norms", "task"]))
        if draw(st.booleans()) and key in table:
            del table[key]
        else:
            table[key] = draw(_VALUES)
    text = _to_toml(document)
    if draw(st.integers(0, 9)) == 0:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["=", "[", '"', "\n[runs]\n", ""]))
    return text


@SETTINGS
@given(text=suite_documents())
def test_any_suite_document_loads_or_fails_with_one_named_line(text: str) -> None:
    path = Path(tempfile.mkdtemp(dir=WORK)) / "generated.toml"
    path.write_text(text)
    try:
        suite = load_suite(path)
    except UserInputError as exc:
        event("refused")
        assert "\n" not in str(exc).strip() and str(path) in str(exc), str(exc)
        return
    event("loaded")
    assert suite.task == "adversarial" and suite.name == "generated"


# ---------------------------------------------------------------------- npz arrays

def _valid_npz(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """A small npz the loader takes: uint8 (N, H, W) or (N, H, W, C) images, labels cycling
    through K classes (every class in y_train), sometimes K declared."""
    classes = draw(st.integers(2, 4))
    n_train, n_test = draw(st.integers(classes, 12)), draw(st.integers(1, 6))
    shape = draw(st.sampled_from([(4, 4), (5, 3), (4, 4, 3), (2, 6, 1)]))
    arrays = {
        "x_train": np.full((n_train, *shape), draw(st.integers(0, 255)), dtype=np.uint8),
        "x_test": np.full((n_test, *shape), draw(st.integers(0, 255)), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "y_test": np.arange(n_test) % classes,
    }
    if draw(st.booleans()):
        arrays["num_classes"] = np.asarray(classes + draw(st.integers(0, 2)))
    return arrays


_BREAKS = ["float images", "int64 images", "5-d images", "no images", "negative label",
           "float labels", "label count", "undeclared gap", "label past num_classes",
           "num_classes 1", "num_classes float", "missing key", "one class"]


def _break(arrays: dict[str, np.ndarray], how: str, draw: st.DrawFn) -> None:
    """Make ``arrays`` wrong in the one way ``how`` names."""
    key = draw(st.sampled_from(["train", "test"]))
    x, y = f"x_{key}", f"y_{key}"
    if how == "float images":
        arrays[x] = arrays[x].astype(np.float32) / 255
    elif how == "int64 images":
        arrays[x] = arrays[x].astype(np.int64)
    elif how == "5-d images":
        arrays[x] = arrays[x].reshape(*arrays[x].shape, 1, 1)
    elif how == "no images":
        arrays[x], arrays[y] = arrays[x][:0], arrays[y][:0]
    elif how == "negative label":
        arrays[y] = arrays[y] - 1
    elif how == "float labels":
        arrays[y] = arrays[y].astype(np.float32)
    elif how == "label count":
        arrays[y] = np.append(arrays[y], 0)
    elif how == "undeclared gap":
        arrays.pop("num_classes", None)
        arrays["y_train"] = arrays["y_train"] * 2
    elif how == "label past num_classes":
        arrays["num_classes"] = np.asarray(int(arrays["y_train"].max()))
    elif how == "num_classes 1":
        arrays["num_classes"] = np.asarray(1)
    elif how == "num_classes float":
        arrays["num_classes"] = np.asarray(3.0, dtype=np.float32)
    elif how == "missing key":
        del arrays[draw(st.sampled_from(["x_train", "y_train", "x_test", "y_test"]))]
    else:  # one class
        arrays.pop("num_classes", None)
        arrays["y_train"], arrays["y_test"] = 0 * arrays["y_train"], 0 * arrays["y_test"]


@st.composite
def npz_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """A valid npz (:func:`_valid_npz`), broken in one way (:data:`_BREAKS`) about one time in
    three."""
    arrays = _valid_npz(draw)
    if _rarely(draw, 35):
        _break(arrays, draw(st.sampled_from(_BREAKS)), draw)
    return arrays


def test_any_npz_loads_consistently_or_fails_with_one_line() -> None:
    outcomes: Counter[str] = Counter()

    @SETTINGS
    @given(arrays=npz_arrays())
    def check(arrays: dict[str, np.ndarray]) -> None:
        path = Path(tempfile.mkdtemp(dir=WORK)) / "gen.npz"
        np.savez(path, **arrays)
        try:
            info = get_dataset_info("npz", data_dir=path)
            test = load_split("npz", "test", data_dir=path)
        except UserInputError as exc:
            outcomes["refused"] += 1
            assert "\n" not in str(exc).strip(), str(exc)
            return
        outcomes["loaded"] += 1
        assert info.num_classes >= 2
        assert int(test.labels.max()) < info.num_classes and int(test.labels.min()) >= 0
        assert test.images.shape[1] == info.in_channels
        assert tuple(test.images.shape[2:]) == info.image_size
        assert torch.equal(test.labels, torch.from_numpy(arrays["y_test"]).long())

    check()
    # the subject is reached: most files load (the checks above run), and some are refused
    assert outcomes["loaded"] >= 0.4 * SETTINGS.max_examples, outcomes
    assert outcomes["refused"] >= 3, outcomes
