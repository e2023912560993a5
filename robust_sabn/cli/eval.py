"""``robust-sabn eval``: clean, PGD and AutoAttack accuracy of a checkpoint, per branch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from robust_sabn.artifacts.paths import check_output_file
from robust_sabn.attacks.autoattack_adapter import AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS
from robust_sabn.attacks.registry import list_attacks
from robust_sabn.cli.console import output_console
from robust_sabn.cli.options import Device, output_file
from robust_sabn.cli.parse import (
    ARCH_KWARGS_HELP,
    TRUST_REMOTE_CODE_HELP,
    parse_device,
    parse_json_object,
    parse_list,
)
from robust_sabn.data.registry import NPZ_FORMAT
from robust_sabn.evaluate.config import EVAL_DEFAULTS as D


def eval_command(
    checkpoint: Annotated[str, typer.Argument(
        help="A robust-sabn checkpoint (.pt), a TorchScript archive, a torch.export archive "
             "(.pt2; only with --trust-remote-code), a state dict with --arch, or "
             "robustbench:NAME for a RobustBench zoo model.")],
    attacks: Annotated[str, typer.Option(
        help=f"Comma-separated attacks from {', '.join(list_attacks())}; an empty string for "
             "clean accuracy only.")] = ",".join(D.attacks),
    threat_model: Annotated[str, typer.Option(
        help="Linf or L2: the norm of the eps ball (pgd-l2 and L2 AutoAttack need L2, and L2 "
             "needs --eps).")] = D.threat_model,
    eps: Annotated[str | None, typer.Option(
        help="Radius on the [0, 1] pixel scale, e.g. 0.1 or 8/255 (not 8) (default for Linf: "
             "the dataset's, 0.1 for fashion-mnist, 8/255 for CIFAR; L2 has none, e.g. 0.5)."
    )] = None,
    n_examples: Annotated[int, typer.Option(
        help="Evaluate the first N test images, in order (N >= 1).")] = D.n_examples,
    batch_size: Annotated[int, typer.Option(help="Images per attack batch.")] = D.batch_size,
    branch: Annotated[str | None, typer.Option(
        help="Evaluate only this branch: clean or adv (shared for a plain-BN model) "
             "(default: every branch).")] = None,
    version: Annotated[str, typer.Option(
        help=f"AutoAttack version: {', '.join(AUTOATTACK_VERSIONS)}.")] = D.version,
    aa_attacks: Annotated[str | None, typer.Option(
        help=f"Cascade for --version custom, from {', '.join(AUTOATTACK_ATTACKS)}.")] = None,
    pgd_steps: Annotated[int, typer.Option(
        help="Steps k of PGD-k (step size 2.5 * eps / k).")] = D.pgd_steps,
    seed: Annotated[int, typer.Option(help="Seed for the attacks' random starts.")] = D.seed,
    dataset: Annotated[str | None, typer.Option(
        help="Dataset for robustbench:NAME models (default cifar10); required for archives "
             "and state dicts; for a checkpoint it must be the one it was trained on (default: "
             "the checkpoint's).")] = None,
    arch: Annotated[str | None, typer.Option(
        help="Architecture of a state dict, as package.module:factory (factory(**ARCH_KWARGS) "
             "builds the model; modules are found as python -m finds them, the working "
             "directory included; weights load with weights_only=True).")] = None,
    arch_kwargs: Annotated[str | None, typer.Option(help=ARCH_KWARGS_HELP)] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Folder with the dataset files (default: the training run's, else system / cache "
             f"locations); for --dataset npz the .npz file itself: {NPZ_FORMAT}.")] = None,
    model_dir: Annotated[Path, typer.Option(
        help="RobustBench model folder for robustbench:NAME.")] = Path("models"),
    device: Device = "auto",
    output: Annotated[Path | None, output_file(
        "Write the JSON result record to this file (checked before evaluating).")] = None,
    state: Annotated[Path | None, typer.Option(
        help="Resume file: each finished batch (and AutoAttack step) is written to it, and a "
             "killed evaluation run again with the same options continues where it stopped "
             "(the same flags as an uninterrupted run); deleted when done (default: next to "
             "-o, as OUTPUT.state.jsonl; none without -o).")] = None,
    nproc: Annotated[int, typer.Option(
        help="Evaluate with N local processes (torchrun's elastic agent), each on a block of "
             "batches; the same flags as one process. Under torchrun leave it at 1.")] = 1,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No live progress (the result tables are still printed).")] = False,
    trust_remote_code: Annotated[bool, typer.Option(
        "--trust-remote-code", help=TRUST_REMOTE_CODE_HELP)] = False,
    tf32: Annotated[bool, typer.Option(
        "--tf32", help="Allow TF32 matmuls on the GPU (faster, changes the numbers; named in "
             "the record).")] = False,
) -> None:
    """Evaluate a model: clean and robust accuracy per branch, one JSON result record.

    Under torchrun (or with --nproc N) each rank evaluates a contiguous block of batches; rank 0
    gathers the flags and the AutoAttack cascade, prints the tables and writes the record. With
    -o (or --state) a killed run continues where it stopped when started again.
    """

    from robust_sabn.artifacts.result import write_result
    from robust_sabn.evaluate import (
        evaluate_checkpoint,
        parse_eps,
        render_cascade_table,
        render_evaluation_table,
    )
    from robust_sabn.evaluate.foreign import FOREIGN_KINDS, evaluate_foreign, model_file_kind
    from robust_sabn.parallel.context import is_main_process
    from robust_sabn.parallel.devices import apply_tf32
    from robust_sabn.parallel.launch import launched_ranks

    if output is not None:
        check_output_file(output, option="-o")
    if state is None and output is not None:
        state = output.with_name(f"{output.stem}.state.jsonl")
    if state is not None:
        check_output_file(state, option="--state")
    if launched_ranks(nproc):
        return
    apply_tf32(tf32)
    options: dict[str, Any] = dict(
        attacks=tuple(parse_list(attacks)), eps=parse_eps(eps) if eps is not None else None,
        n_examples=n_examples, batch_size=batch_size, branches=[branch] if branch else None,
        version=version, autoattack_attacks=parse_list(aa_attacks) if aa_attacks else None,
        pgd_steps=pgd_steps, seed=seed, dataset=dataset, data_dir=data_dir,
        device=parse_device(device), threat_model=threat_model, progress=not quiet,
        state_path=state,
    )
    if arch is not None or model_file_kind(checkpoint) in FOREIGN_KINDS:
        record = evaluate_foreign(checkpoint, arch=arch,
                                  arch_kwargs=parse_json_object(arch_kwargs, "--arch-kwargs"),
                                  trust_remote_code=trust_remote_code, **options)
    else:
        record = evaluate_checkpoint(checkpoint, model_dir=model_dir, **options)
    if not is_main_process():
        return
    console = output_console()
    evaluated = record.extras.get("settings", {}).get("n_examples")
    if isinstance(evaluated, int) and evaluated < n_examples:
        console.print(f"--n-examples {n_examples}: the test split holds {evaluated} images; "
                      "evaluated all of them", highlight=False)
    console.print(render_evaluation_table(record))
    autoattack = record.extras.get("autoattack") or {}
    if autoattack:
        console.print(render_cascade_table(record))
    for flag in (f for result in autoattack.values() for f in result.get("flags", [])):
        console.print(f"[yellow]AutoAttack warning:[/] {flag}")
    if output is not None:
        write_result(output, record)
        console.print(f"record written to {output}")
