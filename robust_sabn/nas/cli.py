"""``robust-sabn nas ...``: search (train), score a search or a cell (eval), score one cell.

``robust-sabn train --task nas ARGS`` and ``robust-sabn eval --task nas ARGS`` forward here.
Heavy modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import Device, Resume, output_file, run_folder
from robust_sabn.cli.parse import parse_device
from robust_sabn.errors import UserInputError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Weight-sharing NAS on NAS-Bench-201: DARTS/GDAS with BN, CCBN or SaBN.")

_NB201_HELP = ("NAS-Bench-201 table (NAS-Bench-201-v1_0-e61699.pth) to score cells with "
               "(needs the nas extra).")
Nb201 = Annotated[Path | None, typer.Option("--nb201", help=_NB201_HELP)]
Analog = Annotated[bool, typer.Option(
    help="Score with the analog-nasbench CIFAR-10 table (transfer column).")]
DataDir = Annotated[str | None, typer.Option(help="Where the dataset files are.")]


def _tables(analog: bool, nb201: Path | None) -> list[Any]:
    from robust_sabn.nas.tables import load_analog_table, load_nb201_table

    return ([load_analog_table()] if analog else []) + (
        [load_nb201_table(nb201)] if nb201 is not None else [])


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"--retrain-seeds {text!r}: give seeds such as 0,1,2 "
                             "(or '' for no retraining)") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserInputError(f"--retrain-seeds {text!r}: give distinct seeds >= 0")
    return seeds


@app.command("train")
def train_command(
    out: Annotated[Path, run_folder(
        "Search folder (search.pt, metrics.jsonl, train_record.json).")],
    algorithm: Annotated[str, typer.Option(help="darts (first order) or gdas.")] = "darts",
    norm: Annotated[str, typer.Option(
        help="Norm of the supernet's conv ops: bn (affine off), bn_affine, ccbn or saauxbn "
             "(statistics per branch, shared sandwich affine; the paper's NAS SaBN, formerly "
             "'sabn').")] = "saauxbn",
    dataset: Annotated[str, typer.Option(help="Search dataset.")] = "fashion-mnist",
    seed: Annotated[int, typer.Option(help="Seed of weights, alpha, data order, samples.")] = 0,
    epochs: Annotated[int, typer.Option(help="Epochs to run.")] = 35,
    schedule_epochs: Annotated[int, typer.Option(
        help="Length of the cosine schedule (the authors stop at 35 of 50).")] = 50,
    search_examples: Annotated[int, typer.Option(
        help="Training images searched on, half for the weights, half for alpha.")] = 50000,
    resolution: Annotated[int | None, typer.Option(
        help="Resample images to this many pixels square (default: as they are).")] = None,
    channels: Annotated[int, typer.Option(help="C, the first stage's width.")] = 16,
    cells_per_stage: Annotated[int, typer.Option(help="N, cells per stage.")] = 5,
    batch_size: Annotated[int, typer.Option(
        help="Images per step in each half (the global batch with --nproc).")] = 64,
    device: Device = "auto",
    data_dir: DataDir = None,
    nb201: Nb201 = None,
    analog: Analog = True,
    resume: Resume = False,
    nproc: Annotated[int, typer.Option(
        help="Search data-parallel with N local processes (torchrun's elastic agent; gloo on "
             "CPU, NCCL on GPU). Under torchrun leave it at 1.")] = 1,
    sync_norm: Annotated[bool, typer.Option(
        "--sync-norm", help="Data-parallel: normalise with the global batch's statistics "
             "(the search is then one process's; default: each rank's own).")] = False,
) -> None:
    """Search a NAS-Bench-201 cell; prints the argmax cell after every epoch. Under torchrun
    (or with --nproc N) rank 0 alone writes --out and prints."""

    from robust_sabn.artifacts.paths import check_output_dir
    from robust_sabn.nas.config import SearchConfig
    from robust_sabn.nas.search import run_search
    from robust_sabn.parallel.context import is_main_process
    from robust_sabn.parallel.launch import launched_ranks
    from robust_sabn.runs.names import RECORD_NAME

    if launched_ranks(nproc):
        return
    config = SearchConfig(
        algorithm=algorithm, norm=norm, dataset=dataset, data_dir=data_dir, seed=seed,
        epochs=epochs, schedule_epochs=schedule_epochs, search_examples=search_examples,
        resolution=resolution, channels=channels, cells_per_stage=cells_per_stage,
        batch_size=batch_size, device=parse_device(device), sync_norm=sync_norm)
    check_output_dir(out, option="--out")
    tables = _tables(analog, nb201)
    console = output_console()

    def show(row: dict[str, Any]) -> None:
        scores = ", ".join(f"{name} {ds} {100 * v:.2f} %" for name, per in row["scores"].items()
                           for ds, v in per.items())
        console.print(f"epoch {row['epoch']}: {row['genotype']} parameter-free "
                      f"{row['parameter_free_ops']}/6 {scores}", highlight=False)

    record = run_search(config, out, resume=resume, tables=tables, on_epoch=show)
    if not is_main_process():
        return
    console.print(f"found: {record.extras['genotype']} (record: {out / RECORD_NAME})",
                  highlight=False)


def _score(cell: str, subject: dict[str, Any], output: Path | None, retrain_seeds: str,
           retrain_kwargs: dict[str, Any], analog: bool, nb201: Path | None,
           quiet: bool = False) -> None:
    import torch.distributed as dist

    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.artifacts.result import write_result
    from robust_sabn.nas.config import RetrainConfig
    from robust_sabn.nas.scoring import score_genotype
    from robust_sabn.nas.space import Genotype
    from robust_sabn.parallel.context import is_main_process

    genotype = Genotype.parse(cell)
    seeds = _seeds(retrain_seeds)
    retrain = RetrainConfig(**retrain_kwargs) if seeds else None
    if output is not None:
        check_output_file(output, option="-o")
    tables = _tables(analog, nb201)
    record = score_genotype(genotype, subject=subject, retrain=retrain, retrain_seeds=seeds,
                            tables=tables, progress=not quiet)
    if not is_main_process():
        return
    console = output_console()
    console.print(f"cell: {genotype} ({genotype.parameter_free_count()}/6 parameter-free)",
                  highlight=False)
    for m in record.metrics:
        c = m.condition
        how = (f"retrained on {c['dataset']}, seed {c['retrain_seed']}"
               if c["method"] == "retrain" else f"table {c['table']}, {c['dataset']}")
        console.print(f"  {how}: {100 * m.value:.2f} %", highlight=False)
    if output is not None:
        world_size = dist.get_world_size() if dist.is_initialized() else 1
        runtime = {"world_size": world_size,
                   "sync_norm": bool(retrain and retrain.sync_norm and world_size > 1)}
        write_result(output, record.model_copy(update={"extras": {**record.extras,
                                                               "runtime": runtime}}))
        console.print(f"record: {output}", highlight=False)


_RETRAIN_SEEDS = Annotated[str, typer.Option(
    help="Comma-separated retraining seeds ('' for none: tables only).")]


def _retrain_options(dataset: str, data_dir: str | None, search_examples: int,
                     test_examples: int, resolution: int | None, channels: int,
                     cells_per_stage: int, epochs: int, device: str, sync_norm: bool = False
                     ) -> dict[str, Any]:
    return {"dataset": dataset, "data_dir": data_dir, "search_examples": search_examples,
            "test_examples": test_examples, "resolution": resolution, "channels": channels,
            "cells_per_stage": cells_per_stage, "epochs": epochs, "batch_size": 64,
            "device": device, "sync_norm": sync_norm}


@app.command("eval")
def eval_command(
    target: Annotated[str, typer.Argument(
        help="A search folder (with its train_record.json) or a NAS-Bench-201 cell string.")],
    output: Annotated[Path | None, output_file("Evaluation record (.json) to write.")
                      ] = None,
    retrain_seeds: _RETRAIN_SEEDS = "0,1,2",
    dataset: Annotated[str, typer.Option(help="Retraining dataset.")] = "fashion-mnist",
    search_examples: Annotated[int, typer.Option(help="Training images.")] = 3000,
    test_examples: Annotated[int, typer.Option(help="Test images.")] = 2000,
    resolution: Annotated[int | None, typer.Option(help="Resample to N x N pixels.")] = 14,
    channels: Annotated[int, typer.Option(help="C of the retrained network.")] = 8,
    cells_per_stage: Annotated[int, typer.Option(help="N of the retrained network.")] = 1,
    epochs: Annotated[int, typer.Option(help="Retraining epochs.")] = 6,
    device: Device = "auto",
    data_dir: DataDir = None,
    nb201: Nb201 = None,
    analog: Analog = True,
    nproc: Annotated[int, typer.Option(
        help="Retrain data-parallel with N local processes (the batch of 64 is split over "
             "them); under torchrun leave it at 1.")] = 1,
    sync_norm: Annotated[bool, typer.Option(
        "--sync-norm", help="Data-parallel retraining: BN with the global batch's "
             "statistics (then one process's retraining).")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Score the cell a search found (or a given cell): retraining over seeds, tables. Under
    torchrun (or with --nproc N) rank 0 alone prints and writes -o."""

    from robust_sabn.artifacts.result import read_result
    from robust_sabn.parallel.launch import launched_ranks
    from robust_sabn.runs.names import record_path

    if launched_ranks(nproc):
        return

    folder = Path(target)
    subject: dict[str, Any] = {}
    cell = target
    if folder.is_dir():
        path = record_path(folder)
        record = read_result(path)
        if record.task != "nas" or record.kind != "search" or record.status != "ok":
            raise UserInputError(f"{path} is not the record of a finished NAS search")
        subject, cell = dict(record.subject), str(record.extras["genotype"])
    _score(cell, subject, output, retrain_seeds, _retrain_options(
        dataset, data_dir, search_examples, test_examples, resolution, channels,
        cells_per_stage, epochs, parse_device(device), sync_norm), analog, nb201, quiet)


@app.command("score")
def score_command(
    genotype: Annotated[str, typer.Argument(
        help="A NAS-Bench-201 cell, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
             "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'.")],
    output: Annotated[Path | None, output_file("Evaluation record (.json) to write.")
                      ] = None,
    retrain_seeds: _RETRAIN_SEEDS = "",
    dataset: Annotated[str, typer.Option(help="Retraining dataset.")] = "fashion-mnist",
    epochs: Annotated[int, typer.Option(help="Retraining epochs.")] = 6,
    data_dir: DataDir = None,
    nb201: Nb201 = None,
    analog: Analog = True,
    device: Device = "auto",
) -> None:
    """Score one cell: its table entries (instant), retraining with --retrain-seeds."""
    if not analog and nb201 is None and not _seeds(retrain_seeds):
        raise UserInputError("nothing to score with: keep --analog, give --nb201 PATH or "
                             "--retrain-seeds 0,1,2")
    _score(genotype, {}, output, retrain_seeds, _retrain_options(
        dataset, data_dir, 3000, 2000, 14, 8, 1, epochs, parse_device(device)), analog, nb201)
