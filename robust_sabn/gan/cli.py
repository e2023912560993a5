"""``robust-sabn gan ...``: train, evaluate and sample class-conditional GANs.

``robust-sabn train --task gan ARGS`` and ``robust-sabn eval --task gan ARGS`` forward here.
Heavy modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import Device, Resume, output_file, run_folder
from robust_sabn.cli.parse import parse_device
from robust_sabn.errors import UserInputError
from robust_sabn.gan.config import PRESETS
from robust_sabn.gan.names import CLASSIFIER_LABEL, GENERATOR_LABELS

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Class-conditional GANs: CCBN vs SaBN generators, IS/FID.")

_FROM_PRESET = "default: the preset's, else the built-in"


@app.command("reference")
def reference_command(
    out: Annotated[Path, run_folder("Folder for classifier.pt and reference.json.")],
    dataset: Annotated[str, typer.Option(help="Dataset to classify.")] = "fashion-mnist",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 3,
    max_train_examples: Annotated[int | None, typer.Option(
        help="Train on the first N training images only (default: all).")] = None,
    width: Annotated[int, typer.Option(help="small_cnn width.")] = 32,
    schedule: Annotated[str, typer.Option(
        help="Learning-rate schedule: constant (Adam 1e-3) or cosine (decayed to 0).")
    ] = "constant",
    augment: Annotated[bool, typer.Option(
        help="Random crop/flip of the training images.")] = True,
    data_dir: Annotated[str | None, typer.Option(help="Where the dataset files are.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
    device: Device = "auto",
) -> None:
    """Train and cache the reference classifier (offline FID/IS features, conditional
    accuracy)."""
    from robust_sabn.artifacts.paths import check_output_dir
    from robust_sabn.gan.workflow import train_reference

    check_output_dir(out, option="--out")
    record = train_reference(dataset, out, data_dir=data_dir, epochs=epochs, width=width,
                             max_train_examples=max_train_examples, schedule=schedule,
                             augment=augment, progress=not quiet,
                             device=parse_device(device))
    output_console().print(f"reference classifier: {out / 'classifier.pt'} (test accuracy "
                           f"{100 * (record.value('test_accuracy') or 0):.2f} %)",
                           highlight=False)


@app.command("train")
def train_command(
    out: Annotated[Path, run_folder("Run folder.")],
    norm: Annotated[str, typer.Option(
        help="Generator norm: ccbn, sabn, or bn (unconditional control).")] = "sabn",
    generator: Annotated[str, typer.Option(
        help=f"Generator: {', '.join(GENERATOR_LABELS)}.")] = "sngan32",
    preset: Annotated[str | None, typer.Option(
        help=f"Recipe: {', '.join(PRESETS)}; explicit options override it.")] = None,
    dataset: Annotated[str | None, typer.Option(help=f"Dataset ({_FROM_PRESET}).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of weights, data order, latents.")] = 0,
    iterations: Annotated[int | None, typer.Option(help="Generator iterations.")] = None,
    g_batch: Annotated[int | None, typer.Option(help="Fakes per G step.")] = None,
    d_batch: Annotated[int | None, typer.Option(help="Reals per D step.")] = None,
    n_critic: Annotated[int | None, typer.Option(help="D steps per G step.")] = None,
    g_width: Annotated[int | None, typer.Option(help="Generator channels.")] = None,
    d_width: Annotated[int | None, typer.Option(help="Discriminator channels.")] = None,
    ema_decay: Annotated[float | None, typer.Option(help="Generator EMA decay.")] = None,
    aux_weight: Annotated[float | None, typer.Option(
        help="Weight of an auxiliary classification loss on a D head (AC-GAN; 0: the paper's "
             "projection alone).")] = None,
    ema_start: Annotated[int | None, typer.Option(
        help="Iterations before the EMA starts averaging.")] = None,
    eval_every: Annotated[int | None, typer.Option(
        help="Iterations between probe FIDs (needs --reference; 0: none).")] = None,
    probe_samples: Annotated[int | None, typer.Option(help="Fakes per probe FID.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(
        help="Iterations between checkpoints.")] = None,
    max_train_examples: Annotated[int | None, typer.Option(
        help="Train on the first N training images only.")] = None,
    reference: Annotated[Path | None, typer.Option(
        help="Reference classifier (classifier.pt of `gan reference`) for the probe FID.")
    ] = None,
    device: Device = "auto",
    data_dir: Annotated[str | None, typer.Option(help="Where the dataset files are.")] = None,
    resume: Resume = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
    nproc: Annotated[int, typer.Option(
        help="Train data-parallel with N local processes (torchrun's elastic agent; gloo on "
             "CPU, NCCL on GPU); --g-batch and --d-batch are the global batches. Under "
             "torchrun leave it at 1.")] = 1,
    sync_norm: Annotated[bool, typer.Option(
        "--sync-norm", help="Data-parallel: normalise the generator with the global batch's "
             "statistics (default: each rank's own, as PyTorch's BN under DDP).")] = False,
) -> None:
    """Train a class-conditional GAN (hinge loss, n_critic D steps, generator EMA).

    Under torchrun (or with --nproc N) rank 0 alone writes the run folder and prints."""

    from robust_sabn.artifacts.paths import check_output_dir
    from robust_sabn.gan.config import GANConfig
    from robust_sabn.gan.workflow import train_run
    from robust_sabn.parallel.context import is_main_process
    from robust_sabn.parallel.launch import launched_ranks

    if launched_ranks(nproc):
        return

    config = GANConfig.from_preset(
        preset, dataset=dataset, generator=generator, norm=norm, seed=seed,
        iterations=iterations, g_batch=g_batch, d_batch=d_batch, n_critic=n_critic,
        g_width=g_width, d_width=d_width, ema_decay=ema_decay, ema_start=ema_start,
        aux_weight=aux_weight, eval_every=eval_every, probe_samples=probe_samples,
        checkpoint_every=checkpoint_every,
        max_train_examples=max_train_examples, device=parse_device(device), data_dir=data_dir)
    check_output_dir(out, option="--out")
    if reference is not None and not reference.is_file():
        raise UserInputError(f"--reference {reference} not found; make one with "
                             "robust-sabn gan reference --out DIR")
    record = train_run(config, out, reference=reference, resume=resume, quiet=quiet,
                       sync_norm=sync_norm)
    if not is_main_process():
        return
    fid = [m for m in record.metrics if m.name == "probe_fid"]
    last = f", last probe classifier FID {fid[-1].value:.2f}" if fid else ""
    output_console().print(f"trained {config.generator} {config.norm}: {out / 'generator.pt'} "
                           f"(EMA generator){last}", highlight=False)


@app.command("eval")
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="generator.pt of a GAN run.")],
    reference: Annotated[Path, typer.Option(
        help="Reference classifier (classifier.pt of `gan reference`).")],
    output: Annotated[Path, output_file("Evaluation record (.json) to write.")],
    n_samples: Annotated[int, typer.Option(
        help="Fakes, scored against as many real test images.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the latents.")] = 0,
    inception_weights: Annotated[Path | None, typer.Option(
        help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth for standard "
             "Inception FID/IS (default: the torch hub cache if it holds it, else the "
             "reference classifier).")] = None,
    device: Device = "auto",
    data_dir: Annotated[str | None, typer.Option(help="Where the dataset files are.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """FID, KID, IS, intra-class FID and class-conditional accuracy of a generator."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.gan.features import check_inception_weights
    from robust_sabn.gan.workflow import evaluate_run

    device = parse_device(device)
    check_output_file(output, option="-o")
    if inception_weights is not None:
        check_inception_weights(inception_weights)
    if not reference.is_file():
        raise UserInputError(f"--reference {reference} not found; make one with "
                             "robust-sabn gan reference --out DIR")
    record = evaluate_run(checkpoint, reference, output, n_samples=n_samples, seed=seed,
                          inception_weights=inception_weights, device=device,
                          data_dir=data_dir, progress=not quiet)
    features = next((m.condition.get("features") for m in record.metrics), "classifier")
    console = output_console()
    if features == "classifier":
        console.print(CLASSIFIER_LABEL, highlight=False)
    for metric in record.metrics:
        console.print(f"{metric.name}: {metric.value:.4f} (n={metric.n})", highlight=False)
    console.print(f"record: {output}", highlight=False)


def _parse_classes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserInputError(f"--classes {text!r}: give class indices such as 0,3,7") from None


@app.command("sample")
def sample_command(
    checkpoint: Annotated[Path, typer.Argument(help="generator.pt of a GAN run.")],
    output: Annotated[Path, output_file("PNG grid to write.")],
    classes: Annotated[str | None, typer.Option(
        help="Comma-separated classes, one grid row each (default: all).")] = None,
    n: Annotated[int, typer.Option("-n", help="Samples per class (grid columns).")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the latents.")] = 0,
    record: Annotated[bool, typer.Option(
        help="Also write the sample record beside the PNG (OUTPUT with .json), which "
             "`robust-sabn report` shows the grid from.")] = True,
    device: Device = "auto",
) -> None:
    """Write a class-by-row sample grid PNG, class names beside the rows, each sample at least
    64 pixels wide (conditional generators only)."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.gan.workflow import sample_run

    check_output_file(output, option="-o", suffixes=(".png",))
    record_path = output.with_suffix(".json") if record else None
    if record_path is not None:
        check_output_file(record_path, option="-o (its .json record)")
    png = sample_run(checkpoint, output, classes=_parse_classes(classes), per_class=n,
                     seed=seed, record_path=record_path,
                     device=parse_device(device))
    console = output_console()
    console.print(f"grid: {png}", highlight=False)
    if record_path is not None:
        console.print(f"record: {record_path}", highlight=False)


@app.command("dump")
def dump_command(
    checkpoint: Annotated[Path, typer.Argument(help="generator.pt of a GAN run.")],
    out: Annotated[Path, run_folder("Folder for the PNG files and labels.csv.")],
    n: Annotated[int, typer.Option("-n", help="Images to write (classes balanced).")] = 10000,
    seed: Annotated[int, typer.Option(help="Seed of the latents (as gan eval's).")] = 0,
    device: Device = "auto",
) -> None:
    """Write N generated images as PNG files to a folder, for scoring elsewhere, e.g.
    torch-fidelity: fidelity --fid --kid --isc --input1 OUT --input2 cifar10-train."""
    from robust_sabn.artifacts.paths import check_output_dir
    from robust_sabn.gan.workflow import dump_run

    check_output_dir(out, option="--out")
    written = dump_run(checkpoint, out, n=n, seed=seed, device=parse_device(device))
    output_console().print(f"{len(written)} PNG files and labels.csv in {out}",
                           highlight=False)
