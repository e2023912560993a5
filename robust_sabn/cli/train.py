"""``robust-sabn train``: PGD adversarial training of a BN, AuxBN or SaAuxBN model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from robust_sabn.artifacts.paths import check_output_dir
from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import Device, Resume, run_folder
from robust_sabn.cli.parse import parse_device
from robust_sabn.data.registry import NPZ_FORMAT
from robust_sabn.evaluate.table import percent
from robust_sabn.train import PRESETS, TrainConfig, train
from robust_sabn.train.config import GENERAL_DEFAULTS
from robust_sabn.units import eps_text, parse_eps

_D = GENERAL_DEFAULTS
_FALLBACK = "default: the preset's, else"


def train_command(
    dataset: Annotated[str | None, typer.Option(
        help="fashion-mnist (offline), cifar10, cifar100, svhn or npz "
             f"({_FALLBACK} {_D['dataset']}).")] = None,
    model: Annotated[str | None, typer.Option(
        help=f"small_cnn, preact_resnet18 or wrn34_10 ({_FALLBACK} {_D['model']}).")] = None,
    norm: Annotated[str, typer.Option(
        help="Norm layers: bn (one BN), auxbn (a BN per branch) or saauxbn (shared + per-branch "
             "affine); also ccbn, sabn.")] = _D["norm"],
    preset: Annotated[str | None, typer.Option(
        help=f"Named recipe ({', '.join(PRESETS)}); explicit options override it.")] = None,
    epochs: Annotated[int | None, typer.Option(
        help=f"Training epochs ({_FALLBACK} {_D['epochs']}).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help=f"Images per batch ({_FALLBACK} {_D['batch_size']}).")] = None,
    lr: Annotated[float | None, typer.Option(
        help=f"Peak SGD learning rate ({_FALLBACK} {_D['lr']}).")] = None,
    width: Annotated[int | None, typer.Option(
        help="Width of the first layer (small_cnn, preact_resnet18) (default: the model's).")
    ] = None,
    max_train_examples: Annotated[int | None, typer.Option(
        help="Train on the first N training examples only (quick runs) (default: all).")] = None,
    val_examples: Annotated[int | None, typer.Option(
        help="Validation images checked after each epoch (clean and PGD) "
             f"({_FALLBACK} {_D['val_examples']}).")] = None,
    eps: Annotated[str | None, typer.Option(
        help="Training PGD radius on the [0, 1] scale, e.g. 0.1 or 8/255 (not 8) "
             "(default: the preset's, else the dataset's).")] = None,
    step_size: Annotated[str | None, typer.Option(
        help="PGD step size on the [0, 1] scale, e.g. 2/255 "
             "(default: the preset's, else the dataset's).")] = None,
    attack_steps: Annotated[int | None, typer.Option(
        help="PGD steps per batch (default: the preset's, else the dataset's).")] = None,
    attack_mode: Annotated[str | None, typer.Option(
        help="Model mode during the training attack: train (paper) or eval "
             f"({_FALLBACK} {_D['attack_mode']}).")] = None,
    loss: Annotated[str | None, typer.Option(
        help="hybrid (0.5 clean + 0.5 adversarial, paper), adv (plain PGD-AT) or clean "
             "(standard training, no attack: the control arm) "
             f"({_FALLBACK} {_D['loss']}).")] = None,
    schedule: Annotated[str | None, typer.Option(
        help=f"Learning-rate schedule: multistep or cosine ({_FALLBACK} {_D['schedule']}).")
    ] = None,
    warmup_iters: Annotated[int | None, typer.Option(
        help="Iterations of linear lr warm-up, fewer than the run's steps (default: the "
             "preset's, else 10% of the run, at most 200).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for init, data order, augmentation, PGD.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(
        help="Folder with the dataset files (default: system / cache locations); for "
             f"--dataset npz the .npz file itself (or a folder holding one): {NPZ_FORMAT}."
    )] = None,
    device: Device = "auto",
    out: Annotated[Path, run_folder(
        "Run folder: checkpoints, metrics.jsonl, config.json, train_record.json. An "
        "existing run is never overwritten.")] = Path("runs/train"),
    resume: Resume = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress display (the result table is still printed).")] = False,
    nproc: Annotated[int, typer.Option(
        help="Train data-parallel with N local processes (torchrun's elastic agent; gloo on "
             "CPU, NCCL on GPU); --batch-size is the global batch. Under torchrun leave it "
             "at 1.")] = 1,
    sync_norm: Annotated[bool, typer.Option(
        "--sync-norm", help="Data-parallel: normalise with the global batch's statistics, "
             "per branch (default: each rank's own, as PyTorch's BN under DDP).")] = False,
    tf32: Annotated[bool, typer.Option(
        "--tf32", help="Allow TF32 matmuls on the GPU (faster, changes the numbers).")] = False,
    amp: Annotated[bool, typer.Option(
        "--amp", help="Run the training step under bf16 autocast (faster on GPUs, changes "
             "the numbers).")] = False,
    fused_branches: Annotated[bool, typer.Option(
        "--fused-branches", help="Hybrid loss: one forward of the clean and adversarial "
             "batches together, each half normalised on its branch (same math as two "
             "forwards; SaBN-family norms only).")] = False,
) -> None:
    """Train a model with PGD adversarial training (the SaBN paper's hybrid loss by default).

    Options left out come from --preset, then the dataset's attack defaults, then general defaults.
    Progress goes to stderr; the validation table goes to stdout. Under torchrun (or with
    --nproc N) rank 0 alone writes the run folder and prints.
    """

    from robust_sabn.parallel.context import is_main_process
    from robust_sabn.parallel.launch import launched_ranks

    if launched_ranks(nproc):
        return
    config = TrainConfig(
        dataset=dataset, model=model, norm=norm, preset=preset, epochs=epochs,
        batch_size=batch_size, lr=lr, width=width, max_train_examples=max_train_examples,
        val_examples=val_examples,
        eps=parse_eps(eps) if eps is not None else None,
        step_size=parse_eps(step_size) if step_size is not None else None,
        attack_steps=attack_steps, attack_mode=attack_mode, loss=loss, schedule=schedule,
        warmup_iters=warmup_iters,
        seed=seed, data_dir=str(data_dir) if data_dir else None, device=parse_device(device),
        sync_norm=sync_norm or None, tf32=tf32 or None, amp=amp or None,
        fused_branches=fused_branches or None,
    )
    out = check_output_dir(out, option="--out")
    if resume and not (out / "last.pt").is_file() and is_main_process():
        output_console(stderr=True).print(f"--resume: {out} holds no last.pt; starting a new "
                                          "run there", soft_wrap=True, highlight=False)
    record = train(config, out, resume=resume, quiet=quiet)
    if not is_main_process():
        return
    console = output_console()
    run = record.extras
    console.print(
        f"trained {record.subject['model']['name']} ({run['norm']}) on {run['dataset']}: "
        f"{run['epochs']} epoch(s) in {record.provenance.wall_time_s or 0:.0f} s",
        soft_wrap=True,
    )
    used = record.subject["config"]
    console.print(
        f"attack eps {eps_text(used['eps'])}, PGD-{used['attack_steps']} (the {used['dataset']} "
        f"defaults unless given: --eps, --attack-steps); validation on {used['val_size']} "
        "images held out of the training set", soft_wrap=True, highlight=False)
    table = Table(title="Validation accuracy")
    for column in ("Branch", "Clean", "PGD"):
        table.add_column(column, justify="left" if column == "Branch" else "right")
    final = run["final"] or {}
    for branch, metrics in final.get("val", {}).items():
        table.add_row(branch, percent(metrics["clean_acc"]), percent(metrics["pgd_acc"]))
    console.print(table)
    console.print(f"checkpoints: {run['last_checkpoint']}, {run['best_checkpoint']}",
                  soft_wrap=True)
