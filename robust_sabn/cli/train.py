"""``robust-sabn train``: PGD adversarial training of a BN, AuxBN or SaAuxBN model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from robust_sabn.evaluate import parse_eps
from robust_sabn.train import PRESETS, TrainConfig, train


def train_command(
    dataset: Annotated[str | None, typer.Option(
        help="fashion-mnist (default, offline), cifar10, cifar100, svhn or npz.")] = None,
    model: Annotated[str | None, typer.Option(
        help="small_cnn (default), preact_resnet18 or wrn34_10.")] = None,
    norm: Annotated[str, typer.Option(
        help="bn | auxbn | saauxbn (also ccbn | sabn).")] = "saauxbn",
    preset: Annotated[str | None, typer.Option(
        help=f"Named recipe ({', '.join(PRESETS)}); explicit options override it.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per batch.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak SGD learning rate.")] = None,
    width: Annotated[int | None, typer.Option(help="Width of the first layer.")] = None,
    max_train_examples: Annotated[int | None, typer.Option(
        help="Train on the first N training examples only (quick runs).")] = None,
    eps: Annotated[str | None, typer.Option(
        help="Training PGD radius on the [0, 1] scale, e.g. 0.1 or 8/255.")] = None,
    step_size: Annotated[str | None, typer.Option(help="PGD step size, e.g. 2/255.")] = None,
    attack_steps: Annotated[int | None, typer.Option(help="PGD steps per batch.")] = None,
    attack_mode: Annotated[str | None, typer.Option(
        help="Model mode during the training attack: train (paper) or eval.")] = None,
    loss: Annotated[str | None, typer.Option(
        help="hybrid (0.5 clean + 0.5 adversarial, paper) or adv (plain PGD-AT).")] = None,
    schedule: Annotated[str | None, typer.Option(help="multistep or cosine.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for init, data order, augmentation, PGD.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(
        help="Folder with the dataset files (default: system / cache locations).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1 ...")] = "cpu",
    out: Annotated[Path, typer.Option(
        help="Run folder: checkpoints, metrics.jsonl, config.json, train_record.json.")
    ] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in --out from its last checkpoint.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress display.")] = False,
) -> None:
    """Train a model with PGD adversarial training (the SaBN paper's hybrid loss by default)."""
    config = TrainConfig(
        dataset=dataset, model=model, norm=norm, preset=preset, epochs=epochs,
        batch_size=batch_size, lr=lr, width=width, max_train_examples=max_train_examples,
        eps=parse_eps(eps) if eps is not None else None,
        step_size=parse_eps(step_size) if step_size is not None else None,
        attack_steps=attack_steps, attack_mode=attack_mode, loss=loss, schedule=schedule,
        seed=seed, data_dir=str(data_dir) if data_dir else None, device=device,
    )
    record = train(config, out, resume=resume, quiet=quiet)
    final = record["final"] or {}
    val = final.get("val", {})
    summary = ", ".join(
        f"{b} branch: clean {100 * m['clean_acc']:.2f}% / PGD {100 * m['pgd_acc']:.2f}%"
        for b, m in val.items()
    )
    Console().print(
        f"trained {record['model']['name']} ({record['norm']}) on {record['dataset']} in "
        f"{record['wall_time_s']:.0f} s; validation: {summary}\n"
        f"checkpoints: {record['last_checkpoint']}, {record['best_checkpoint']}"
    )
