"""The ``nas`` task kind: weight-sharing searches, scoring of the cells they find, a report.

Run folder layout (``suite_dir`` is ``<out_root>/<suite name>``)::

    runs/<suite>/<algorithm>-<norm>-seed<seed>/   (suites run before ``sabn`` was renamed
                                                  ``saauxbn`` have ...-sabn-seed<seed>/, used)
        search.pt      supernet, optimizers and per-epoch history (resumable)
        config.json  metrics.jsonl
        train_record.json  the search record (robust_sabn.nas.records; runs made before the
                       record names were unified have it as search.json, still read)
        score.json     the scoring record of its final cell (retraining, tables)
    runs/<suite>/retrain-cache/<cell hash>-seed<s>/   one retraining's run folder
        (robust_sabn.nas.retrain: config.json, metrics.jsonl, last.pt, train_record.json),
        shared by every run that found the same cell; suites run before retrainings had
        run folders left <cell hash>-seed<s>.json there instead, still read

A search is done when its record exists with the suite's settings (device and data_dir
aside), partial when ``search.pt`` does. A scoring is done when ``score.json`` was made for the
run's current cell with the suite's retraining and tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from robust_sabn.artifacts.result import read_result_if_valid
from robust_sabn.errors import UserInputError
from robust_sabn.nas.claims import CLAIMS, nas_findings
from robust_sabn.nas.gates import GATE_METRICS
from robust_sabn.nas.plan import identity, parse_nas
from robust_sabn.runs.names import RECORD_NAME, read_run_record, record_path
from robust_sabn.suites.tasks import Hooks, Step, StepState, Suite


class NASTask:
    """NAS suites: search with each algorithm x norm x seed, score each found cell, compare."""

    name = "nas"
    sections = ("search", "retrain", "tables", "comparison")
    claims = CLAIMS
    gate_metrics = GATE_METRICS

    parse = staticmethod(parse_nas)
    """The suite file's sections as the task's plan (:func:`parse_nas`)."""
    findings = staticmethod(nas_findings)
    """The claims page's nas rows (:mod:`robust_sabn.nas.claims`)."""

    def steps(self, suite: Suite, suite_dir: Path, *, quiet: bool, hooks: Hooks) -> list[Step]:
        """A search step then a scoring step per run. Hooks: ``search`` (like
        :func:`robust_sabn.nas.search.run_search`) and ``retrain`` (like
        :func:`robust_sabn.nas.retrain.retrain`)."""
        from robust_sabn.nas.plan import run_id

        plan = suite.plan
        tables = _TableCache(plan.analog, plan.nb201, where=f"{suite.path}: tables.nb201")
        steps: list[Step] = []
        for config in plan.searches:
            run_dir = _run_dir(suite_dir, config)
            steps.append(Step(
                run_id=run_id(config), kind="search", label=f"search {run_id(config)}",
                state=lambda c=config, d=run_dir: self._search_state(c, d),
                execute=lambda resume, c=config, d=run_dir: self._search(
                    c, d, resume, tables, hooks.get("search"), quiet),
            ))
            steps.append(Step(
                run_id=run_id(config), kind="score", label=f"score {run_id(config)}",
                state=lambda d=run_dir: self._score_state(plan, d, tables),
                execute=lambda _resume, d=run_dir: self._score(
                    plan, d, suite_dir, tables, hooks.get("retrain")),
                after=(f"search {run_id(config)}",),
            ))
        return steps

    @staticmethod
    def _search_state(config: Any, run_dir: Path) -> StepState:
        record = read_run_record(run_dir)
        wanted = identity(config.to_dict())
        if record is not None and record.suite is not None and identity(
                record.suite.get("config")) == wanted:
            return "done"
        return "partial" if (run_dir / "search.pt").is_file() else "todo"

    @staticmethod
    def _search(config: Any, run_dir: Path, resume: bool, tables: _TableCache,
                hook: Callable[..., Any] | None, quiet: bool) -> None:
        from robust_sabn.artifacts.result import write_result
        from robust_sabn.nas.plan import run_id
        from robust_sabn.nas.search import CHECKPOINT_NAME, run_search

        if not resume:
            (run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
        search = hook or run_search
        record = search(config, run_dir, resume=resume, tables=tables.get(), run_id=run_id(config))
        record.suite = {"config": config.to_dict()}
        write_result(run_dir / RECORD_NAME, record)

    @staticmethod
    def _scoreidentity(plan: Any, run_dir: Path, tables: _TableCache) -> dict[str, Any] | None:
        search = read_run_record(run_dir)
        if search is None or search.status != "ok":
            return None
        return {"genotype": search.extras["genotype"],
                "retrain": identity(plan.retrain.to_dict()) if plan.retrain else None,
                "retrain_seeds": list(plan.retrain_seeds), "tables": tables.names()}

    def _score_state(self, plan: Any, run_dir: Path, tables: _TableCache) -> StepState:
        wanted = self._scoreidentity(plan, run_dir, tables)
        record = read_result_if_valid(run_dir / "score.json")
        if wanted is not None and record is not None and record.suite == wanted:
            return "done"
        return "todo"

    def _score(self, plan: Any, run_dir: Path, suite_dir: Path, tables: _TableCache,
               hook: Callable[..., Any] | None) -> None:
        from robust_sabn.artifacts.result import write_result
        from robust_sabn.nas.scoring import score_genotype

        search = read_run_record(run_dir)
        if search is None or search.status != "ok":
            raise UserInputError(f"{record_path(run_dir)} is missing or the search diverged; run "
                                 "the search first")
        record = score_genotype(
            search.extras["genotype"], subject=dict(search.subject), retrain=plan.retrain,
            retrain_seeds=plan.retrain_seeds, tables=tables.get(),
            cache_dir=suite_dir / "retrain-cache", retrain_fn=hook)
        record.suite = self._scoreidentity(plan, run_dir, tables)
        write_result(run_dir / "score.json", record)

    def report_path(self, suite: Suite) -> Path:
        return Path("reports") / f"{suite.name}.md"

    def render_report(self, suite: Suite, suite_dir: Path, output: Path, suite_command: str
                      ) -> Path:
        from robust_sabn.artifacts.result import collect_results
        from robust_sabn.nas.report import render_nas_report
        from robust_sabn.report.gates import add_gates_section

        records, warnings = collect_results(suite_dir) if suite_dir.is_dir() else ([], [])
        path = render_nas_report(records, output, command=f"robust-sabn report {suite_dir}",
                                 suite_command=suite_command, warnings=warnings,
                                 reference=suite.plan.reference, title=suite.name,
                                 description=suite.description,
                                 statistic=suite.plan.statistic)
        return add_gates_section(path, suite, records)

    def render_records(self, records: list[tuple[Path, Any]], output: Path, *, command: str,
                       warnings: list[str], options: Mapping[str, Any]) -> Path:
        from robust_sabn.nas.report import render_nas_report

        unknown = sorted(k for k, v in options.items() if v is not None and k != "reference")
        if unknown:
            raise UserInputError(f"the nas report takes no option {unknown[0]!r}; drop it")
        return render_nas_report(records, output, command=command, suite_command=None,
                                 warnings=warnings, reference=options.get("reference") or "bn")


def _run_dir(suite_dir: Path, config: Any) -> Path:
    """The run folder of ``config``'s search: ``<run id>/``, or the folder a suite run before
    the norm's rename made for it (``darts-sabn-seed0/``) when only that one exists."""
    from robust_sabn.nas.plan import legacy_run_id, run_id

    current, legacy = suite_dir / run_id(config), legacy_run_id(config)
    if not current.exists() and legacy is not None and (suite_dir / legacy).is_dir():
        return suite_dir / legacy
    return current


class _TableCache:
    """The suite's scoring tables, loaded once when first needed."""

    def __init__(self, analog: bool, nb201: str | None, where: str) -> None:
        self.analog, self.nb201, self.where = analog, nb201, where
        self._tables: list[Any] | None = None

    def names(self) -> list[str]:
        return (["analog-nasbench"] if self.analog else []) + (["nb201"] if self.nb201 else [])

    def get(self) -> list[Any]:
        if self._tables is None:
            from robust_sabn.nas.tables import load_analog_table, load_nb201_table

            tables = [load_analog_table()] if self.analog else []
            if self.nb201:
                try:
                    tables.append(load_nb201_table(self.nb201))
                except UserInputError as exc:
                    raise UserInputError(f"{self.where}: {exc}") from exc
            self._tables = tables
        return self._tables


TASK = NASTask()
