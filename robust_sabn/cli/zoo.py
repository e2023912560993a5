"""``robust-sabn zoo``: export a branch as a RobustBench model, check it loads, benchmark it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from robust_sabn.artifacts import write_record
from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import Device, output_file
from robust_sabn.cli.parse import (
    ARCH_KWARGS_HELP,
    TRUST_REMOTE_CODE_HELP,
    parse_device,
    parse_json_object,
)
from robust_sabn.units import parse_eps

app = typer.Typer(
    help="RobustBench interface: export, list, info, benchmark.", no_args_is_help=True,
    add_completion=False,
)

ModelDir = Annotated[Path, typer.Option(
    help="Model folder in RobustBench's layout (<dataset>/<threat_model>/<name>.pt).")]
ThreatModelOption = Annotated[str, typer.Option(help="Linf or L2.")]
TrustOption = Annotated[bool, typer.Option("--trust-remote-code", help=TRUST_REMOTE_CODE_HELP)]


@app.command("export")
def export_command(
    checkpoint: Annotated[Path, typer.Argument(
        help="A robust-sabn checkpoint (.pt), or anyone's state dict with --arch.")],
    name: Annotated[str, typer.Option(help="Zoo name, RobustBench style (Sabn2024Demo_R18).")],
    model_dir: ModelDir = Path("models"),
    branch: Annotated[str, typer.Option(help="Branch to export: adv or clean.")] = "adv",
    threat_model: ThreatModelOption = "Linf",
    evaluation: Annotated[Path | None, typer.Option(
        help="Evaluation record (JSON from robust-sabn eval) of this checkpoint.")] = None,
    eps: Annotated[str | None, typer.Option(
        help="eps for the model_info when there is no record (8/255).")] = None,
    title: Annotated[str | None, typer.Option(help="Paper title (model_info 'name').")] = None,
    authors: Annotated[str, typer.Option(help="Authors, comma-separated.")] = "",
    link: Annotated[str, typer.Option(help="Paper link.")] = "",
    venue: Annotated[str, typer.Option(help="Venue, e.g. 'ICLR 2024'.")] = "",
    additional_data: Annotated[bool, typer.Option(
        "--additional-data/--no-additional-data", help="Trained with extra data.")] = False,
    arch: Annotated[str | None, typer.Option(
        help="Architecture of a state dict, as package.module:factory (an importable factory; "
             "its arguments go in --arch-kwargs).")] = None,
    arch_kwargs: Annotated[str | None, typer.Option(help=ARCH_KWARGS_HELP)] = None,
    attack: Annotated[str | None, typer.Option(
        help="Attack of the --evaluation record to list, by record key (pgd-20, ...; default: "
             "autoattack-standard when there, else the record's only attack).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite an existing export of this name.")] = False,
    dataset: Annotated[str | None, typer.Option(
        help="Dataset of a --arch state dict (a checkpoint records its own).")] = None,
) -> None:
    """Write one branch of a checkpoint, or a state dict with --arch, as a RobustBench model."""
    from robust_sabn.artifacts.paths import check_output_dir
    from robust_sabn.errors import UserInputError
    from robust_sabn.evaluate import check_eps
    from robust_sabn.evaluate.foreign import FOREIGN_KINDS, model_file_kind
    from robust_sabn.zoo import ROBUSTBENCH_DATASETS, export_model, export_state_dict, zoo_paths_of

    check_output_dir(model_dir, option="--model-dir")
    kind = model_file_kind(checkpoint)
    if arch is None and kind in FOREIGN_KINDS:
        raise UserInputError(
            f"{checkpoint} is a {kind}, not a robust-sabn checkpoint: RobustBench loads a state "
            "dict into an architecture it can build, so export a state dict with --arch "
            "package.module:factory --dataset DATASET"
        )
    if (arch is None) != (dataset is None):
        raise UserInputError("--arch and --dataset go together (a state dict from elsewhere); "
                             "a robust-sabn checkpoint records its architecture and dataset")
    info: dict[str, Any] = dict(
        title=title, authors=authors, link=link, venue=venue, additional_data=additional_data,
        threat_model=threat_model, evaluation=evaluation, attack=attack, force=force,
        eps=check_eps(parse_eps(eps), threat_model) if eps is not None else None)
    if arch is not None and dataset is not None:
        weights = export_state_dict(
            checkpoint, arch=arch, arch_kwargs=parse_json_object(arch_kwargs, "--arch-kwargs"),
            dataset=dataset, name=name, model_dir=model_dir, **info)
    else:
        weights = export_model(checkpoint, name=name, model_dir=model_dir, branch=branch, **info)
    paths = zoo_paths_of(weights)
    console = output_console()
    for label, path in (("weights", paths.weights), ("entry", paths.entry)):
        console.print(f"{label:>10}: {path}")
    console.print(f"{'model_info':>10}: " + (str(paths.model_info) if paths.model_info.is_file()
                                              else "none (no --evaluation record)"))
    exported = weights.parent.parent.name
    load = (f"robustbench.utils.load_model(model_name={name!r}, model_dir={str(model_dir)!r}, "
            f"dataset={exported!r}, threat_model={threat_model!r})")
    if exported not in ROBUSTBENCH_DATASETS:
        console.print(f"RobustBench has no {exported} benchmark; load with "
                      f"robust_sabn.zoo.load_model({name!r}, {str(model_dir)!r}, "
                      f"{exported!r}, {threat_model!r})")
    elif Path(model_dir).resolve() == Path("models").resolve():
        console.print(f"load in RobustBench, from this folder: {load}")
    else:
        console.print(f"load in RobustBench with robust_sabn.zoo.register_models("
                      f"{str(model_dir)!r}), then {load}")


@app.command("list")
def list_command(model_dir: ModelDir = Path("models")) -> None:
    """List the exported models of a model folder, with the accuracies of their model_info."""
    from rich.table import Table

    from robust_sabn.zoo import zoo_listing

    rows = zoo_listing(model_dir)
    table = Table(title=f"Exported models in {model_dir}")
    for column in ("Name", "Dataset", "Threat", "Architecture", "Clean %", "Robust %",
                   "Attack"):
        table.add_column(column, justify="right" if column.endswith("%") else "left")
    for row in rows:
        table.add_row(row["name"], row["dataset"], row["threat_model"],
                      row["architecture"] or "-", row["clean_acc"] or "-",
                      row["robust_acc"] or "-", row["attack"] or "not evaluated")
    console = output_console()
    console.print(table)
    if not rows:
        console.print(f"no exports in {model_dir}; add one with robust-sabn zoo export")


@app.command("info")
def info_command(
    name: Annotated[str, typer.Argument(help="Name of an exported model.")],
    dataset: Annotated[str, typer.Option(help="Dataset folder (cifar10, fashion-mnist, ...).")],
    model_dir: ModelDir = Path("models"),
    threat_model: ThreatModelOption = "Linf",
    trust_remote_code: TrustOption = False,
) -> None:
    """Load an exported model (through RobustBench for its datasets) and print its model_info."""
    from robust_sabn.zoo import load_model, zoo_paths

    model = load_model(name, model_dir, dataset, threat_model,
                       trust_remote_code=trust_remote_code)
    n_params = sum(p.numel() for p in model.parameters())
    console = output_console()
    console.print(f"{name}: loaded, {n_params} parameters, {type(model).__name__}")
    info_path = zoo_paths(model_dir, dataset, threat_model, name).model_info
    if info_path.is_file():
        console.print_json(info_path.read_text())
    else:
        console.print(f"no model_info at {info_path} (exported without an evaluation)")


@app.command("benchmark")
def benchmark_command(
    name: Annotated[str, typer.Argument(
        help="An exported model's name, or robustbench:NAME for a zoo model.")],
    data_dir: Annotated[Path, typer.Option(help="Folder with torchvision's CIFAR files.")],
    model_dir: ModelDir = Path("models"),
    dataset: Annotated[str, typer.Option(help="cifar10 or cifar100.")] = "cifar10",
    threat_model: ThreatModelOption = "Linf",
    eps: Annotated[str, typer.Option(help="Radius on the [0, 1] scale.")] = "8/255",
    n_examples: Annotated[int, typer.Option(help="First N test images.")] = 100,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 100,
    device: Device = "auto",
    download: Annotated[bool, typer.Option(
        "--download/--no-download", help="Allow downloading missing data or weights.")] = False,
    output: Annotated[Path | None, output_file("Write the JSON result record here.")] = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Run RobustBench's benchmark (clean + AutoAttack standard) on local CIFAR data."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.zoo import run_benchmark

    if output is not None:
        check_output_file(output, option="-o")
    record = run_benchmark(
        name, data_dir=data_dir, model_dir=model_dir, dataset=dataset,
        threat_model=threat_model, eps=parse_eps(eps), n_examples=n_examples,
        batch_size=batch_size, device=parse_device(device), download=download,
        trust_remote_code=trust_remote_code,
    )
    console = output_console()
    summary = {k: record[k] for k in ("model_name", "dataset", "threat_model", "eps",
                                      "n_examples", "clean_accuracy", "robust_accuracy")}
    console.print_json(json.dumps(summary))
    if output is not None:
        write_record(output, record)
        console.print(f"record written to {output}")
