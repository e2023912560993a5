"""``robust-sabn eval``: clean, PGD and AutoAttack accuracy of a checkpoint, per branch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robust_sabn.artifacts import write_record
from robust_sabn.artifacts.paths import check_output_file
from robust_sabn.attacks.autoattack_adapter import AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS
from robust_sabn.attacks.registry import list_attacks
from robust_sabn.cli.console import output_console
from robust_sabn.cli.parse import parse_device, parse_list


def eval_command(
    checkpoint: Annotated[str, typer.Argument(
        help="A robust-sabn checkpoint (.pt), or robustbench:NAME for a RobustBench zoo model.")],
    attacks: Annotated[str, typer.Option(
        help=f"Comma-separated attacks from {', '.join(list_attacks())}; an empty string for "
             "clean accuracy only.")] = "pgd,autoattack",
    eps: Annotated[str | None, typer.Option(
        help="L-inf radius on the [0, 1] pixel scale, e.g. 0.1 or 8/255 (not 8) "
             "(default: the dataset's, 0.1 for fashion-mnist, 8/255 for CIFAR).")] = None,
    n_examples: Annotated[int, typer.Option(
        help="Evaluate the first N test images, in order (N >= 1).")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Images per attack batch.")] = 256,
    branch: Annotated[str | None, typer.Option(
        help="Evaluate only this branch: clean or adv (shared for a plain-BN model) "
             "(default: every branch).")] = None,
    version: Annotated[str, typer.Option(
        help=f"AutoAttack version: {', '.join(AUTOATTACK_VERSIONS)}.")] = "standard",
    aa_attacks: Annotated[str | None, typer.Option(
        help=f"Cascade for --version custom, from {', '.join(AUTOATTACK_ATTACKS)}.")] = None,
    pgd_steps: Annotated[int, typer.Option(
        help="Steps k of PGD-k (step size 2.5 * eps / k).")] = 20,
    seed: Annotated[int, typer.Option(help="Seed for the attacks' random starts.")] = 0,
    dataset: Annotated[str | None, typer.Option(
        help="Dataset for robustbench:NAME models (default cifar10); for a checkpoint it must "
             "be the one it was trained on (default: the checkpoint's).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Folder with the dataset files (default: the training run's, else system / cache "
             "locations).")] = None,
    model_dir: Annotated[Path, typer.Option(
        help="RobustBench model folder for robustbench:NAME.")] = Path("models"),
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1 or mps.")] = "cpu",
    out: Annotated[Path | None, typer.Option(
        help="Write the JSON result record to this file (checked before evaluating).")] = None,
) -> None:
    """Evaluate a model: clean and robust accuracy per branch, one JSON result record."""
    from robust_sabn.evaluate import (
        evaluate_checkpoint,
        parse_eps,
        render_cascade_table,
        render_evaluation_table,
    )

    if out is not None:
        check_output_file(out, option="--out")
    record = evaluate_checkpoint(
        checkpoint, attacks=tuple(parse_list(attacks)),
        eps=parse_eps(eps) if eps is not None else None, n_examples=n_examples,
        batch_size=batch_size, branches=[branch] if branch else None, version=version,
        autoattack_attacks=parse_list(aa_attacks) if aa_attacks else None, pgd_steps=pgd_steps,
        seed=seed, dataset=dataset, data_dir=data_dir, model_dir=model_dir,
        device=parse_device(device),
    )
    console = output_console()
    console.print(render_evaluation_table(record))
    if any(b.get("autoattack") for b in record["branches"].values()):
        console.print(render_cascade_table(record))
    for flag in (f for b in record["branches"].values() for f in b.get("autoattack", {})
                 .get("flags", [])):
        console.print(f"[yellow]AutoAttack warning:[/] {flag}")
    if out is not None:
        write_record(out, record)
        console.print(f"record written to {out}")
