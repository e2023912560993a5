"""``robust-sabn style ...``: train, evaluate and apply AdaIN / SaAdaIN style transfer.

Heavy modules are imported inside the commands so ``robust-sabn --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from robust_sabn.artifacts.result import ResultRecord
from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import Device, Resume, output_file, run_folder
from robust_sabn.cli.parse import parse_device

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Arbitrary style transfer: AdaIN vs SaAdaIN with a frozen VGG-19 encoder.")

_DEFAULT = "default: the preset's"
_WEIGHTS_HELP = ("Encoder: 'random' (offline; a seeded random-feature encoder, not comparable to "
                 "VGG numbers), 'hub' (torchvision's VGG-19 in the torch hub cache) or the path "
                 "of torchvision's vgg19 file or AdaIN's vgg_normalised.pth")


@app.command("train")
def train_command(
    out: Annotated[Path, run_folder("Run folder (config, metrics.jsonl, last.pt, "
                                    "train_record.json).")] = Path("runs/style"),
    norm: Annotated[str, typer.Option(help="adain or saadain (AdaIN with a shared affine).")
                    ] = "saadain",
    preset: Annotated[str, typer.Option(help="cpu (small, offline) or paper (COCO/WikiArt, "
                                             "GPU).")] = "cpu",
    content_dir: Annotated[Path | None, typer.Option(
        help="Content images (any image files, recursive); with --style-dir. Default: "
             "scikit-image's bundled photographs.")] = None,
    style_dir: Annotated[Path | None, typer.Option(
        help="Style images (any image files, recursive). Default: scikit-image's bundled "
             "textures and pictures.")] = None,
    offline_set: Annotated[str, typer.Option(
        help="Images used without --content-dir/--style-dir: 'scikit-image' (6 bundled "
             "photographs as content, 6 textures and pictures as style) or 'fashion-mnist' "
             "(Fashion-MNIST as content, all 12 scikit-image pictures as style).")
    ] = "scikit-image",
    encoder_weights: Annotated[str, typer.Option(help=_WEIGHTS_HELP)] = "random",
    iterations: Annotated[int | None, typer.Option(help=f"Training iterations ({_DEFAULT}).")
                          ] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"Pairs per iteration ({_DEFAULT}).")
                          ] = None,
    crop: Annotated[int | None, typer.Option(help=f"Crop side in pixels ({_DEFAULT}).")] = None,
    resize: Annotated[int | None, typer.Option(
        help=f"Shorter side before cropping, pixels ({_DEFAULT}).")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate (default 1e-4), decayed "
                                                  "as lr / (1 + 5e-5 * iteration).")] = None,
    lr_warmup: Annotated[int | None, typer.Option(
        help="Iterations over which the learning rate rises linearly to --lr (default 0, as "
             "the paper).")] = None,
    style_weight: Annotated[float | None, typer.Option(help="Style loss weight (default 10).")
                            ] = None,
    seed: Annotated[int, typer.Option(help="Decoder init and training crops.")] = 0,
    data_seed: Annotated[int, typer.Option(help="Train/validation split and validation pairs.")
                         ] = 0,
    val_pairs: Annotated[int | None, typer.Option(help=f"Validation pairs ({_DEFAULT}).")
                         ] = None,
    val_images: Annotated[int | None, typer.Option(
        help=f"Images held out of each folder for validation ({_DEFAULT}).")] = None,
    val_every: Annotated[int | None, typer.Option(help=f"Iterations per validation "
                                                       f"({_DEFAULT}).")] = None,
    second_encoder_seed: Annotated[int, typer.Option(
        help="Seed of the random encoder the validation losses are also measured with "
             "(never trained with); -1 turns it off.")] = 1,
    device: Device = "auto",
    resume: Resume = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
    nproc: Annotated[int, typer.Option(
        help="Train data-parallel with N local processes (torchrun's elastic agent; gloo on "
             "CPU, NCCL on GPU); --batch-size is the global batch and must split evenly. "
             "The same gradients as one process on that batch, up to float rounding: "
             "AdaIN/SaAdaIN use per-sample statistics, so there is no --sync-norm. Under "
             "torchrun leave it at 1.")] = 1,
) -> None:
    """Train a style-transfer decoder (and SaAdaIN's shared affine) on a frozen encoder, then
    write the run's stylization grid (grid.png and its record grid.json).

    Under torchrun (or with --nproc N) rank 0 alone writes the run folder and prints.
    """

    from robust_sabn.artifacts.paths import check_output_dir
    from robust_sabn.parallel.context import is_main_process
    from robust_sabn.parallel.devices import resolve_device
    from robust_sabn.parallel.launch import launched_ranks
    from robust_sabn.runs.distributed import check_global_batch
    from robust_sabn.style.config import make_config
    from robust_sabn.style.grid import write_run_grid
    from robust_sabn.style.trainer import train_style

    config = make_config(
        preset, norm=norm, content_dir=str(content_dir) if content_dir else None,
        style_dir=str(style_dir) if style_dir else None, offline_set=offline_set,
        encoder_weights=encoder_weights,
        iterations=iterations, batch_size=batch_size, crop=crop, resize=resize, lr=lr,
        lr_warmup=lr_warmup,
        style_weight=style_weight, seed=seed, data_seed=data_seed, val_pairs=val_pairs,
        val_images=val_images, val_every=val_every,
        device=parse_device(device),
    )
    config = config.model_copy(update={
        "second_encoder_seed": second_encoder_seed if second_encoder_seed >= 0 else None})
    out = check_output_dir(out)
    if nproc > 1:
        check_global_batch(nproc, **{"--batch-size": config.batch_size})
    if launched_ranks(nproc):
        return
    record = train_style(config, out, resume=resume, quiet=quiet)
    if is_main_process():
        _print_losses(record, f"trained {record.subject['run']} in {out}")
        grid = write_run_grid(out, device=resolve_device(config.device))
        output_console().print(f"stylization grid: {out / grid.extras['image']} (record "
                               f"{out / 'grid.json'})", highlight=False)


@app.command("eval")
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="last.pt of a style train run.")],
    output: Annotated[Path | None, output_file("Write the evaluation record (JSON) here.")
                      ] = None,
    val_pairs: Annotated[int | None, typer.Option(help="Validation pairs (default: the "
                                                       "run's).")] = None,
    content_dir: Annotated[Path | None, typer.Option(help="Other content images (with "
                                                          "--style-dir).")] = None,
    style_dir: Annotated[Path | None, typer.Option(help="Other style images.")] = None,
    encoder_weights: Annotated[str | None, typer.Option(
        help="New location of the run's VGG-19 file (checked by its SHA-256).")] = None,
    device: Device = "auto",
) -> None:
    """Validation content and style losses of a checkpoint on its held-out pairs."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.artifacts.result import write_result
    from robust_sabn.style.checkpoint import evaluate_checkpoint

    if output is not None:
        check_output_file(output, "-o")
    overrides = {k: v for k, v in (("val_pairs", val_pairs),
                                   ("content_dir", content_dir and str(content_dir)),
                                   ("style_dir", style_dir and str(style_dir))) if v is not None}
    device = parse_device(device)
    record = evaluate_checkpoint(checkpoint, device=device, encoder_weights=encoder_weights,
                                 config_overrides=overrides)
    if output is not None:
        write_result(output, record)
    _print_losses(record, f"evaluated {checkpoint}")


@app.command("stylize")
def stylize_command(
    checkpoint: Annotated[Path, typer.Argument(help="last.pt of a style train run.")],
    content: Annotated[Path, typer.Option(help="Content image.")],
    style: Annotated[Path, typer.Option(help="Style image.")],
    output: Annotated[Path, output_file("Output PNG.")],
    alpha: Annotated[float, typer.Option(help="Style strength in [0, 1] (0: content "
                                              "reconstructed, 1: full style).")] = 1.0,
    size: Annotated[int, typer.Option(help="Resize both images' shorter side to this many "
                                           "pixels.")] = 512,
    encoder_weights: Annotated[str | None, typer.Option(
        help="New location of the run's VGG-19 file (checked by its SHA-256).")] = None,
    device: Device = "auto",
) -> None:
    """Stylize one content image with one style image."""
    from robust_sabn.artifacts.paths import check_output_file
    from robust_sabn.errors import UserInputError
    from robust_sabn.style.checkpoint import load_style_network
    from robust_sabn.style.images import MIN_SIDE, stylize_file

    device = parse_device(device)
    if not 0.0 <= alpha <= 1.0:
        raise UserInputError(f"--alpha {alpha} is outside [0, 1]; 1 is full style, 0 none")
    if size < MIN_SIDE:
        raise UserInputError(f"--size {size} is too small; give at least {MIN_SIDE} pixels")
    check_output_file(output, "--output", suffixes=(".png",))
    for option, path in (("--content", content), ("--style", style)):
        if not path.is_file():
            raise UserInputError(f"{option} {path} is not a file; give an image file")
    net, _, _, _ = load_style_network(checkpoint, device=device, encoder_weights=encoder_weights)
    stylize_file(net, content, style, alpha=alpha, size=size, output=output, device=device)
    output_console().print(f"wrote {output}", highlight=False)


def _print_losses(record: ResultRecord, headline: str) -> None:
    """The record's metrics as a table, and its encoder."""
    table = Table("metric", "features", "value", title=headline)
    for metric in record.metrics:
        table.add_row(metric.name, str(metric.condition.get("features", "-")),
                      f"{metric.value:.5f}")
    console = output_console()
    console.print(table)
    console.print(f"encoder: {record.subject.get('encoder')}", highlight=False)
