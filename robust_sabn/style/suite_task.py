"""The ``style`` task kind: AdaIN vs SaAdaIN style-transfer runs, their evaluations, a grid.

Suite file sections (see ``suites/style-offline.toml``)::

    [runs]        norms = ["adain", "saadain"], seeds = [0, 1, 2]
    [runs.train]  StyleConfig options shared by every run (``preset`` = "cpu" or "paper")
    [grid]        contents, styles (image counts, held-out images first), size (pixels),
                  seed (whose runs are shown)
    [comparison]  output (the report), title

Run folder (``suite_dir`` is ``<out_root>/<suite name>``)::

    <norm>-seed<seed>/   config.json  metrics.jsonl  last.pt  train_record.json  eval.json
    grid/                grid.png  grid.json

A run is done when ``train_record.json`` (``train.json`` in runs made before the record names
were unified) exists and ``config.json`` holds the suite's options; an
evaluation or grid is done when its record exists and names the current checkpoints' SHA-256.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.digest import sha256_if_file
from robust_sabn.artifacts.result import ResultRecord, read_result_if_valid
from robust_sabn.errors import UserInputError
from robust_sabn.runs.names import LEGACY_RECORD_NAMES, RECORD_NAME
from robust_sabn.style.claims import CLAIMS, style_findings
from robust_sabn.style.gates import GATE_METRICS
from robust_sabn.suites.checked import CheckedTable
from robust_sabn.suites.tasks import Hooks, Step, StepState, Suite, SuiteRun
from robust_sabn.vocabulary import STYLE_NORM_KINDS

EVAL_RECORD = "eval.json"
GRID_FOLDER = "grid"
_RUN_OUTPUTS = (RECORD_NAME, *LEGACY_RECORD_NAMES, "config.json", "metrics.jsonl", "last.pt",
                EVAL_RECORD)
_CONFIG_KEYS = ("preset", "data_seed", "iterations", "batch_size", "crop", "resize", "lr",
                "lr_decay", "lr_warmup", "content_weight", "style_weight", "log_every", "val_every",
                "checkpoint_every", "val_pairs", "val_images", "content_dir", "style_dir",
                "offline_set", "encoder_weights", "encoder_seed", "second_encoder_seed", "device")


class StyleRun(SuiteRun):
    """One training run of a suite: its id, norm, seed and full config (a StyleConfig dump)."""


@dataclass(frozen=True)
class GridSpec:
    """The stylization grid: ``contents`` rows, ``styles`` columns per norm, at ``size`` px,
    from the runs of ``seed``."""

    contents: int
    styles: int
    size: int
    seed: int


@dataclass(frozen=True)
class StylePlan:
    """A parsed style suite."""

    runs: tuple[StyleRun, ...]
    grid: GridSpec | None
    output: Path | None
    title: str | None


def parse_style(doc: CheckedTable) -> StylePlan:
    """Check the ``runs``, ``grid`` and ``comparison`` sections.

    Raises:
        UserInputError: a bad key or value (the message names the file and the key).
    """
    from robust_sabn.style.config import make_config

    runs_table = doc.table("runs", required=True)
    runs_table.only(("norms", "seeds", "train"))
    norms = runs_table.strings("norms", choices=STYLE_NORM_KINDS, what="norm", required=True)
    seeds = runs_table.integers("seeds", minimum=0, required=True)
    train = runs_table.table("train")
    train.only(_CONFIG_KEYS)
    options = dict(train.data)
    preset = options.pop("preset", None)
    runs = []
    for norm in norms or ():
        for seed in seeds or ():
            try:
                config = make_config(preset, norm=norm, seed=seed, **options)
            except (UserInputError, TypeError) as exc:
                train.fail("", str(exc))
            runs.append(StyleRun(run_id=f"{norm}-seed{seed}", norm=norm, seed=seed,
                                 config=config.model_dump()))
    grid_table = doc.table("grid")
    grid_table.only(("contents", "styles", "size", "seed"))
    grid = None
    if grid_table.data:
        grid = GridSpec(contents=int(grid_table.integer("contents", 2, minimum=1) or 0),
                        styles=int(grid_table.integer("styles", 2, minimum=1) or 0),
                        size=int(grid_table.integer("size", 128, minimum=16) or 0),
                        seed=int(grid_table.integer("seed", (seeds or [0])[0], minimum=0) or 0))
        if grid.seed not in (seeds or []):
            grid_table.fail("seed", f"{grid.seed} is not one of the runs' seeds {seeds}")
    comparison = doc.table("comparison")
    comparison.only(("output", "title"))
    output = comparison.string("output")
    return StylePlan(tuple(runs), grid, Path(output) if output else None,
                     comparison.string("title"))


def train_state(run: StyleRun, run_dir: Path) -> StepState:
    """``done``, ``partial`` (resumable) or ``todo`` for a run's training."""
    from robust_sabn.style.config import StyleConfig
    from robust_sabn.style.trainer import run_state

    try:
        return run_state(run_dir, StyleConfig(**run.config))  # type: ignore[return-value]
    except (ValueError, KeyError, OSError):
        return "todo"


def _train(run: StyleRun, run_dir: Path, train_fn: Callable[..., Any], quiet: bool,
           resume: bool) -> None:
    from robust_sabn.style.config import StyleConfig

    if not resume:
        for name in _RUN_OUTPUTS:
            (run_dir / name).unlink(missing_ok=True)
    train_fn(StyleConfig(**run.config), run_dir, resume=resume, quiet=quiet)


def _evaluation_state(run: StyleRun, run_dir: Path) -> StepState:
    if train_state(run, run_dir) != "done":
        return "todo"
    record = read_result_if_valid(run_dir / EVAL_RECORD)
    if record is None or (record.suite or {}).get("checkpoint_sha256") != sha256_if_file(
            run_dir / "last.pt"):
        return "todo"
    return "done"


def _evaluate(suite: Suite, run: StyleRun, run_dir: Path, evaluate_fn: Callable[..., Any],
              resume: bool) -> None:
    """Evaluate the run's last checkpoint (``resume`` has no meaning: it is one call)."""
    from robust_sabn.artifacts.result import write_result

    checkpoint = run_dir / "last.pt"
    record = evaluate_fn(checkpoint, device=run.config["device"])
    record.suite = {"name": suite.name, "run": run.run_id,
                    "checkpoint_sha256": sha256_if_file(checkpoint)}
    write_result(run_dir / EVAL_RECORD, record)


def _grid_runs(plan: StylePlan, suite_dir: Path) -> dict[str, Path]:
    assert plan.grid is not None
    return {run.norm: suite_dir / run.run_id / "last.pt" for run in plan.runs
            if run.seed == plan.grid.seed}


def _grid_identity(plan: StylePlan, suite_dir: Path) -> dict[str, Any]:
    assert plan.grid is not None
    return {"grid": vars(plan.grid),
            "checkpoints": {norm: sha256_if_file(path) for norm, path in
                            _grid_runs(plan, suite_dir).items()}}


def _grid_state(plan: StylePlan, suite_dir: Path) -> StepState:
    record = read_result_if_valid(suite_dir / GRID_FOLDER / "grid.json")
    if record is None or not (suite_dir / GRID_FOLDER / "grid.png").is_file():
        return "todo"
    identity = _grid_identity(plan, suite_dir)
    if None in identity["checkpoints"].values():
        return "todo"
    return "done" if (record.suite or {}).get("settings") == identity else "todo"


def _make_grid(suite: Suite, plan: StylePlan, suite_dir: Path, grid_fn: Callable[..., Any],
               resume: bool) -> None:
    """Write the grid and its record (``resume`` has no meaning: it is one call)."""
    from robust_sabn.artifacts.result import write_result

    assert plan.grid is not None
    record = grid_fn(_grid_runs(plan, suite_dir), suite_dir / GRID_FOLDER,
                     contents=plan.grid.contents, styles=plan.grid.styles, size=plan.grid.size,
                     device=plan.runs[0].config["device"])
    record.suite = {"name": suite.name, "settings": _grid_identity(plan, suite_dir)}
    write_result(suite_dir / GRID_FOLDER / "grid.json", record)


def _default_train(config: Any, out_dir: Path, *, resume: bool, quiet: bool) -> Any:
    from robust_sabn.style.trainer import train_style

    return train_style(config, out_dir, resume=resume, quiet=quiet)


def _default_evaluate(checkpoint: Path, **settings: Any) -> ResultRecord:
    from robust_sabn.style.checkpoint import evaluate_checkpoint

    return evaluate_checkpoint(checkpoint, **settings)


def _default_grid(checkpoints: Mapping[str, Path], folder: Path, **settings: Any
                  ) -> ResultRecord:
    from robust_sabn.style.grid import grid_from_checkpoints

    return grid_from_checkpoints(checkpoints, folder, **settings)


class StyleTask:
    """Style-transfer suites: train each run, evaluate it, draw the grid, compare."""

    name = "style"
    sections = ("runs", "grid", "comparison")
    claims = CLAIMS
    gate_metrics = GATE_METRICS

    parse = staticmethod(parse_style)
    """The suite file's sections as the task's plan (:func:`parse_style`)."""
    findings = staticmethod(style_findings)
    """The claims page's style rows (:mod:`robust_sabn.style.claims`)."""

    def steps(self, suite: Suite, suite_dir: Path, *, quiet: bool, hooks: Hooks) -> list[Step]:
        """Per run: train, evaluate; then the grid. ``hooks`` may replace ``train``,
        ``evaluate`` and ``grid``."""
        plan: StylePlan = suite.plan
        train_fn = hooks.get("train") or _default_train
        evaluate_fn = hooks.get("evaluate") or _default_evaluate
        steps = []
        for run in plan.runs:
            run_dir = suite_dir / run.run_id
            steps.append(Step(run.run_id, "train", f"train {run.run_id}",
                              partial(train_state, run, run_dir),
                              partial(_train, run, run_dir, train_fn, quiet)))
            steps.append(Step(run.run_id, "evaluate", f"evaluate {run.run_id}",
                              partial(_evaluation_state, run, run_dir),
                              partial(_evaluate, suite, run, run_dir, evaluate_fn),
                              after=(f"train {run.run_id}",)))
        if plan.grid is not None:
            trainings = tuple(f"train {run.run_id}" for run in plan.runs
                              if run.seed == plan.grid.seed)
            steps.append(Step("grid", "sample", "stylization grid",
                              partial(_grid_state, plan, suite_dir),
                              partial(_make_grid, suite, plan, suite_dir,
                                      hooks.get("grid") or _default_grid),
                              after=trainings))
        return steps

    def report_path(self, suite: Suite) -> Path:
        """``[comparison] output``, else ``reports/<suite>.md``."""
        plan: StylePlan = suite.plan
        return plan.output or Path("reports") / f"{suite.name}.md"

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        """The comparison of the suite's records under ``suite_dir``."""
        from robust_sabn.artifacts.result import collect_results
        from robust_sabn.report.gates import add_gates_section
        from robust_sabn.style.report import render_style_report

        plan: StylePlan = suite.plan
        records, warnings = collect_results(suite_dir)
        records = [(p, r) for p, r in records if r.task == self.name]
        title = plan.title or suite.name + (f": {suite.description}" if suite.description
                                            else "")
        command = shlex.join(["robust-sabn", "report", str(suite_dir), "-o", str(output)])
        path = render_style_report(records, output, title=title, command=command,
                                   suite_command=suite_command, warnings=warnings)
        return add_gates_section(path, suite, records)

    def render_records(self, records: list[tuple[Path, ResultRecord]], output: Path, *,
                       command: str, warnings: list[str], options: Mapping[str, Any]) -> Path:
        """``robust-sabn report``: the comparison of these style records."""
        from robust_sabn.style.report import render_style_report

        unknown = sorted(k for k, v in options.items() if v is not None and k != "title")
        if unknown:
            raise UserInputError(f"the style report takes no option {unknown}; drop it")
        title = options.get("title") or "Style transfer: AdaIN vs SaAdaIN"
        return render_style_report(records, output, title=title, command=command,
                                   warnings=warnings)


TASK = StyleTask()
