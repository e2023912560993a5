"""Issue 23 item 6: a fuzzing harness over the command line, in-process.

For each command it reads the parameters and their types from the command's callback, and
hypothesis corrupts one of them with a value generated from its type: out-of-range and
non-numeric numbers, non-finite floats, huge sizes, long, unwritable and misplaced paths, and
corrupt, foreign or hostile files (a pickle payload, a ``torch.export`` archive with one, an
empty file, a JSON list, non-UTF-8 bytes). Sometimes nothing is corrupted, so the valid path is
taken too. Every case must end with exit 0, or with exit 2 and one ``error:`` line, within
:data:`CASE_SECONDS`; no payload may run. Cases are derandomized and not shrunk (a failure is
reported as generated, with its command line), so a run costs its budget and no more. The
counts of each outcome are hypothesis events (``pytest --hypothesis-show-statistics``) and the
test asserts that both outcomes occurred.

The default run corrupts the cheap commands (whose valid path takes seconds) with a small
budget; ``-m slow`` runs every command with a larger one.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import signal
import sys
import typing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import typer
from evaluation_helpers import single_torch_thread  # noqa: F401 (autouse fixture)
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from npz_helpers import TINY, write_image_npz

from robust_sabn.cli import main
from robust_sabn.cli.application import all_commands
from robust_sabn.plugins import load_object

CASE_SECONDS = 120
"""Longest a case may take (a tiny training run takes a few seconds; a hang is caught)."""
LONG_NAME = "n" * 300


class Payload:
    """Unpickling this creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _commands() -> dict[str, Any]:
    """``"gan train"`` -> its callback, for every command of the app (imported here)."""
    found: dict[str, Any] = {}

    def walk(group: typer.Typer, prefix: list[str]) -> None:
        for command in group.registered_commands:
            found[" ".join([*prefix, command.name or command.callback.__name__])] = (
                command.callback)
        for sub in group.registered_groups:
            walk(sub.typer_instance, [*prefix, sub.name])

    for name, entry in all_commands().items():
        target = load_object(entry.target)
        if not isinstance(target, typer.Typer):
            found[name] = target
        elif entry.command is None:
            walk(target, [name])
        else:
            found[name] = next(c.callback for c in target.registered_commands
                               if (c.name or c.callback.__name__) == entry.command)
    return found


def _parameters(callback: Any) -> dict[str, tuple[str, str | None]]:
    """``name`` -> (kind, flag): kind is int, float, path, str or bool; flag is the option's
    long (or only) spelling, None for a positional argument."""
    out: dict[str, tuple[str, str | None]] = {}
    for name, hint in typing.get_type_hints(callback, include_extras=True).items():
        meta = next((m for m in getattr(hint, "__metadata__", ())
                     if type(m).__name__ in ("OptionInfo", "ArgumentInfo")), None)
        if meta is None:
            continue
        base = str(typing.get_args(hint)[0] if typing.get_args(hint) else hint)
        kind = next((k for k in ("bool", "float", "int", "Path", "str") if k in base), "str")
        flag = None
        if type(meta).__name__ == "OptionInfo":
            default = getattr(meta, "default", None)
            decls = [default] if isinstance(default, str) and default.startswith("-") else []
            decls += list(getattr(meta, "param_decls", ()) or ())
            flag = next((d for d in decls if d.startswith("--")), decls[0] if decls else
                        "--" + name.replace("_", "-"))
        out[name] = (kind.lower(), flag)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Cheap valid inputs (a tiny npz, a checkpoint trained on it, its evaluation record) and
    the hostile files, with the marker their payloads would create."""
    root = tmp_path_factory.mktemp("fuzz")
    data = write_image_npz(root / "data.npz", train=64, test=16)
    run = root / "run"
    with _quiet():
        sys.argv = ["robust-sabn", "train", "--dataset", "npz", "--data-dir", str(data), *TINY,
                    "--out", str(run)]
        main()
    marker = root / "PAYLOAD_RAN"
    files = root / "files"
    files.mkdir()
    (files / "empty.bin").write_bytes(b"")
    (files / "random.bin").write_bytes(bytes(range(256)) * 4)
    (files / "list.json").write_text('[{"kind": "evaluation", "schema_version": 2}]')
    (files / "latin1.json").write_bytes(b'{"kind": "caf\xe9"}')
    (files / "binary.toml").write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    torch.save(Payload(marker), files / "pickle.pt")
    torch.save({"model": Payload(marker), "state_dict": {}}, files / "checkpoint.pt")
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 4))
    program = torch.export.export(net, (torch.rand(2, 1, 28, 28),))
    program._example_inputs = ((Payload(marker),), {})
    torch.export.save(program, str(files / "best.pt"))
    return {"root": root, "data": data, "run": run, "ckpt": run / "best.pt", "marker": marker,
            "files": sorted(files.iterdir())}


@contextlib.contextmanager
def _quiet() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            yield out, err
        finally:
            sys.argv = argv


def _base_args(world: dict[str, Any], case: Path) -> dict[str, list[str]]:
    """A command line per command whose valid path is quick (outputs under ``case``)."""
    data, ckpt = str(world["data"]), str(world["ckpt"])
    return {
        "train": ["--dataset", "npz", "--data-dir", data, *TINY, "--out", str(case / "run")],
        "eval": [ckpt, "--attacks", "", "--n-examples", "8", "--quiet",
                 "--output", str(case / "eval.json")],
        "report": [str(world["run"]), "-o", str(case / "report.md")],
        "zoo export": [ckpt, "--name", "Fuzz", "--model-dir", str(case / "models")],
        "zoo info": ["Fuzz", "--dataset", "npz", "--model-dir", str(case / "models")],
        "schema": ["--output", str(case / "schema.json")],
        "suite list": ["--suites-dir", str(case), "--out", str(case / "runs")],
        "suite plan": ["adversarial-fmnist-quick", "--out", str(case / "runs")],
    }


def _slow_args(world: dict[str, Any], case: Path) -> dict[str, list[str]]:
    """Every other command: their valid paths train or sample, so only ``-m slow`` runs them."""
    data = str(world["data"])
    return {
        "gan train": ["--dataset", "npz", "--data-dir", data, "--iterations", "1",
                      "--g-width", "4", "--d-width", "4", "--out", str(case / "gan")],
        "gan reference": ["--dataset", "npz", "--data-dir", data, "--epochs", "1",
                          "--out", str(case / "ref")],
        "nas train": ["--dataset", "npz", "--data-dir", data, "--epochs", "1",
                      "--schedule-epochs", "1", "--search-examples", "64", "--batch-size", "16",
                      "--channels", "2", "--cells-per-stage", "1", "--resolution", "8",
                      "--out", str(case / "nas")],
        "style train": ["--iterations", "1", "--out", str(case / "style")],
        "sample": [str(world["ckpt"]), "-o", str(case / "s.png")],
        "stylize": [str(world["ckpt"]), "--content", data, "--style", data,
                    "-o", str(case / "o.png")],
    }


def _bad_values(kind: str, world: dict[str, Any], case: Path) -> st.SearchStrategy[str]:
    """Values an option of ``kind`` should refuse (or take), as command-line text."""
    numbers = st.sampled_from(["-1", "0", str(2**63), str(2**64), "-" + "9" * 30, "abc", "",
                               "1.5", "1e400"])
    if kind == "int":  # small valid counts, or values past any range (a valid huge count
        # would only make a long run, as asked)
        return st.one_of(numbers, st.integers(-3, 3).map(str),
                         st.integers(2**63, 2**70).map(str))
    if kind == "float":
        return st.one_of(numbers, st.sampled_from(["nan", "inf", "-inf", "-0.5"]),
                         st.floats(allow_nan=True, allow_infinity=True).map(repr))
    if kind == "path":
        return st.sampled_from([
            str(case / LONG_NAME), str(case / LONG_NAME / "x"), "/proc/robust-sabn/x",
            str(world["data"]) + "/inside-a-file", str(case / "absent"), str(case),
            *map(str, world["files"]),
        ])
    return st.one_of(st.text(max_size=30), st.sampled_from(["", "-1", "nan", LONG_NAME]))


def _run(args: list[str]) -> tuple[int, str, str]:
    def timeout(*_: Any) -> None:
        raise TimeoutError(f"robust-sabn {' '.join(args)} ran past {CASE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(CASE_SECONDS)
    code = 0
    try:
        with _quiet() as (out, err):
            sys.argv = ["robust-sabn", *args]
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def _fuzz(world: dict[str, Any], commands: list[str], budget: int) -> Counter[str]:
    """Run ``budget`` generated cases over ``commands``; the count of each exit code."""
    callbacks = _commands()
    outcomes: Counter[str] = Counter()
    counter = iter(range(10**9))

    @settings(max_examples=budget, deadline=None, database=None, derandomize=True,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def case(data: st.DataObject) -> None:
        folder = world["root"] / f"case{next(counter)}"
        folder.mkdir()
        name = data.draw(st.sampled_from(commands), label="command")
        args = {**_base_args(world, folder), **_slow_args(world, folder)}[name]
        params = [(p, k, f) for p, (k, f) in _parameters(callbacks[name]).items() if k != "bool"]
        corrupt = data.draw(st.sampled_from([None, *params]), label="parameter")
        if corrupt is not None:
            _, kind, flag = corrupt
            value = data.draw(_bad_values(kind, world, folder), label="value")
            if flag is None:  # a positional argument: replace the first one
                args = [value, *args[1:]] if args and not args[0].startswith("-") else [value]
            else:
                args = [*args, flag, value]
        code, out, err = _run([*name.split(), *args])
        outcome = "exit 0" if code == 0 else f"exit {code}"
        event(f"{name}: {outcome}")
        outcomes[outcome] += 1
        assert not world["marker"].exists(), f"a payload ran: {name} {args}"
        assert "Traceback" not in out + err, (name, args, err[-2000:])
        if code != 0:
            assert code == 2, (name, args, code, out[-500:], err[-500:])
            lines = err.strip().splitlines()
            errors = [line for line in lines if line.startswith("error: ")]
            assert errors == lines[-1:], (name, args, err)  # one error line, the last one

    case()
    return outcomes


def test_fuzzed_command_lines_end_in_a_result_or_one_line(world: dict[str, Any]) -> None:
    outcomes = _fuzz(world, sorted(_base_args(world, world["root"])), budget=20)
    assert outcomes["exit 0"] > 0 and outcomes["exit 2"] > 0, outcomes
    assert set(outcomes) <= {"exit 0", "exit 2"}, outcomes


@pytest.mark.slow
def test_fuzzed_command_lines_of_every_command(world: dict[str, Any]) -> None:
    commands = sorted({**_base_args(world, world["root"]), **_slow_args(world, world["root"])})
    outcomes = _fuzz(world, commands, budget=400)
    assert outcomes["exit 0"] > 0 and outcomes["exit 2"] > 0, outcomes
    assert set(outcomes) <= {"exit 0", "exit 2"}, outcomes
