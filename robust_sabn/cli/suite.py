"""``robust-sabn suite list | run | status | plan | export-records``: declarative benchmark suites,
resumable end to end, and their committed records."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import run_folder
from robust_sabn.errors import UserInputError

app = typer.Typer(help="Benchmark suites defined in suites/*.toml: list them, run them.",
                  no_args_is_help=True, add_completion=False)

class Executor(StrEnum):
    """Where ``suite run`` runs steps."""

    local = "local"
    slurm = "slurm"
    submitit_local = "submitit-local"


SuitesDir = Annotated[Path | None, typer.Option(
    help="An extra folder of suite definitions (*.toml), searched first; then "
         "$ROBUST_SABN_SUITES, ./suites and the suites shipped with robust-sabn.")]
OutRoot = Annotated[Path, run_folder("Folder of the suites' run folders: results go to "
                                     "OUT/<suite name>/.")]


@app.command("list")
def list_command(suites_dir: SuitesDir = None, out: OutRoot = Path("runs")) -> None:
    """Show the suites and how many of each one's steps are done, per kind of step."""
    from robust_sabn.suites import list_suite_files, load_suite, suite_status

    table = Table("suite", "task", "steps done", "description", "file")
    for path in list_suite_files(suites_dir):
        try:
            suite = load_suite(path)
            status = suite_status(suite, out_root=out)
        except UserInputError as exc:
            table.add_row(path.stem, "-", "-", f"[red]invalid:[/] {exc}", str(path))
            continue
        table.add_row(suite.name, suite.task, status.summary(), suite.description, str(path))
    output_console().print(table)


@app.command("run")
def run_command(
    suite: Annotated[str, typer.Argument(help="Suite name (in --suites-dir) or suite file.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Recompute every run and evaluation, even those already done.")] = False,
    out: OutRoot = Path("runs"),
    report: Annotated[Path | None, typer.Option(
        help="Markdown report path (default: the suite's, else reports/<suite>.md).")] = None,
    suites_dir: SuitesDir = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress display.")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1,
        help="Steps at once, each in its own worker process with one GPU (when there are "
             "GPUs) and CPU-cores/JOBS torch threads; an evaluation waits for its training; "
             "a failed step does not stop the others (exit code 1). Each step's output goes "
             "to OUT/<suite>/.steps/<step>.log. Default: 1, one step at a time in this "
             "process; with --executor slurm: jobs queued at once (default: every ready "
             "step).")] = None,
    executor: Annotated[Executor, typer.Option(
        help="local: this machine (see --jobs). slurm: each step a SLURM job through "
             "submitit (pip install 'robust-sabn\\[cluster]'); this command waits for them, "
             "submitting each step once the steps it needs are done. submitit-local: the same "
             "with submitit's local executor (no cluster; a dry run of the SLURM path).",
        case_sensitive=False)] = Executor.local,
    partition: Annotated[str | None, typer.Option(
        help="--executor slurm: the partition (default: the cluster's).")] = None,
    gpus_per_job: Annotated[int, typer.Option(
        min=0, help="--executor slurm: GPUs per step's job.")] = 0,
    cpus_per_job: Annotated[int | None, typer.Option(
        min=1, help="--executor slurm: CPU cores per job, also its torch threads.")] = None,
    time_limit: Annotated[int, typer.Option(
        min=1, help="--executor slurm: each job's time limit in minutes (a step killed at "
                    "its limit resumes at the next suite run).")] = 24 * 60,
    mem_gb: Annotated[float | None, typer.Option(
        min=0.1, help="--executor slurm: memory per job in GB.")] = None,
    sbatch: Annotated[list[str] | None, typer.Option(
        help="--executor slurm: an extra #SBATCH option as KEY=VALUE (account=abc, "
             "qos=high, constraint=a100); repeat for more.")] = None,
) -> None:
    """Train and evaluate what is not done yet (a killed suite resumes), then write the report.
    Each step holds its own lock, so several `suite run` on one folder share the work."""
    from robust_sabn.artifacts.paths import check_output_dir, check_output_file
    from robust_sabn.suites import run_suite

    check_output_dir(out, option="--out")
    if report is not None:
        check_output_file(report, option="--report")
    cluster = None
    if executor is not Executor.local:
        from robust_sabn.suites.cluster import ClusterOptions

        cluster = ClusterOptions(
            cluster="slurm" if executor is Executor.slurm else "local", partition=partition,
            gpus_per_job=gpus_per_job, cpus_per_job=cpus_per_job, time_limit_min=time_limit,
            mem_gb=mem_gb, sbatch=tuple(sbatch or ()))
        cluster.sbatch_parameters()  # a bad --sbatch fails before any work
    result = run_suite(suite, out_root=out, force=force, progress=not quiet,
                       report_path=report, suites_dir=suites_dir, jobs=jobs, cluster=cluster)
    console = output_console()
    failed = f", {len(result.failed)} failed" if result.failed else ""
    report_note = f"report: {result.report}" if result.report else "no report (a step failed)"
    console.print(f"{result.suite.name}: ran {len(result.executed)} steps, skipped "
                  f"{len(result.skipped)} already done{failed}; results in "
                  f"{result.suite_dir}; {report_note}", highlight=False)
    if result.failed:
        errors = output_console(stderr=True)
        for label, error in result.failed.items():
            errors.print(f"error: step {label!r} failed: {error}", highlight=False,
                         markup=False)
        raise typer.Exit(1)


@app.command("status")
def status_command(
    suite: Annotated[str, typer.Argument(help="Suite name (in --suites-dir) or suite file.")],
    out: OutRoot = Path("runs"),
    suites_dir: SuitesDir = None,
) -> None:
    """Each step of a suite: done, running (and where), queued (its SLURM job waits), failed
    (with its error), partial or to do."""
    from robust_sabn.suites import step_statuses

    table = Table("step", "kind", "state", "detail")
    colours = {"done": "green", "running": "cyan", "queued": "yellow", "failed": "red"}
    statuses = step_statuses(suite, out_root=out, suites_dir=suites_dir)
    for status in statuses:
        colour = colours.get(status.state)
        state = f"[{colour}]{status.state}[/]" if colour else status.state
        table.add_row(status.label, status.kind, state, status.detail)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
    console = output_console()
    console.print(table)
    console.print(", ".join(f"{n} {state}" for state, n in counts.items()), highlight=False)


@app.command("plan")
def plan_command(
    suite: Annotated[str, typer.Argument(help="Suite name (in --suites-dir) or suite file.")],
    target: Annotated[float | None, typer.Option(
        help="The true difference to detect, in percentage points (80 % power, two-sided "
             "paired t-test at alpha = 0.05, or the sign test where the suite file says "
             "statistic = \"median\"); default: per claim the suite file's [effects], else 1.",
        show_default=False)] = None,
    out: OutRoot = Path("runs"),
    pilot: Annotated[Path | None, typer.Option(
        help="A pilot's run or records folder to estimate the noise from (every evaluation "
             "record under it); default: the suite's own finished runs in OUT/<suite>.")
    ] = None,
    suites_dir: SuitesDir = None,
) -> None:
    """Power analysis from the suite's finished runs or a pilot's: the noise of each
    comparison, the smallest difference it detects with 80 % power at alpha = 0.05, and the
    seeds (or test points) at which a TARGET-point difference is."""
    from robust_sabn.suites.power_plan import suite_power_plan
    from robust_sabn.suites.spec import find_suite, load_suite

    if target is not None and not target > 0:
        raise UserInputError(f"--target must be a positive number of points, got {target:g}")
    if pilot is not None and not pilot.exists():
        raise UserInputError(f"--pilot {pilot}: no such folder; give a pilot's run or records "
                             "folder")
    loaded = load_suite(find_suite(suite, suites_dir))
    text = suite_power_plan(loaded, out / loaded.name, target, pilot=pilot)
    output_console().print(text, highlight=False, markup=False, soft_wrap=True)


@app.command("export-records")
def export_records_command(
    suite: Annotated[str, typer.Argument(help="Suite name (in --suites-dir) or suite file.")],
    out: OutRoot = Path("runs"),
    records: Annotated[Path, typer.Option(
        help="Records go to RECORDS/<suite name>/ (replaced as a whole).")] = Path("records"),
    suites_dir: SuitesDir = None,
) -> None:
    """Copy the suite's records (no checkpoints) from OUT/<suite> to RECORDS/<suite> for
    committing, and re-render its report from them; `robust-sabn claims` reads RECORDS."""
    from robust_sabn.artifacts.paths import check_output_dir
    from robust_sabn.suites.export import export_records, render_from_records
    from robust_sabn.suites.spec import find_suite, load_suite

    check_output_dir(records, option="--records")
    loaded = load_suite(find_suite(suite, suites_dir))
    files = export_records(loaded, out / loaded.name, records)
    report = render_from_records(loaded, records)
    output_console().print(f"{loaded.name}: exported {len(files)} files to "
                           f"{records / loaded.name}; report re-rendered from them: {report}; "
                           f"commit both", highlight=False)
