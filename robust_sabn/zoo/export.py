"""``export_model``: one branch of a checkpoint as a RobustBench-style zoo model;
``export_state_dict``: anyone's model (a state dict and its ``package.module:factory``) likewise.

The chosen branch is collapsed into a plain-BN model
(:func:`robust_sabn.nn.collapse.collapse_branch`), whose state dict, entry JSON (the ModelSpec
with ``norm="bn"``) and RobustBench model_info JSON are written in the layout of
:mod:`robust_sabn.zoo.layout`. The model_info accuracies come from an evaluation record of the
same checkpoint or state dict (``robust-sabn eval``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from robust_sabn.adversarial.record import branch_results, settings_of
from robust_sabn.artifacts import (
    ModelSpec,
    atomic_write_bytes,
    file_sha256,
    load_model,
    new_record,
    write_record,
)
from robust_sabn.artifacts.result import ResultRecord, read_result
from robust_sabn.data.registry import check_dataset_name
from robust_sabn.errors import UserInputError
from robust_sabn.evaluate.foreign import load_foreign_model
from robust_sabn.evaluate.options import SHARED_BRANCH
from robust_sabn.nn import branch_names
from robust_sabn.nn.collapse import collapse_branch
from robust_sabn.units import check_threat_model, eps_text
from robust_sabn.zoo.layout import (
    ENTRY_KIND,
    ROBUSTBENCH_DATASETS,
    ZooPaths,
    check_model_name,
    zoo_paths,
)
from robust_sabn.zoo.robustbench_zoo import check_name_free, check_state_dict_keys

AUTOATTACK_KEY = "autoattack-standard"
"""The robust accuracy RobustBench reports: AutoAttack, standard version."""
_ARCHITECTURE_NAMES = {
    "preact_resnet18": "PreActResNet-18", "wrn34_10": "WideResNet-34-10", "small_cnn": "SmallCNN",
}
_NORM_NAMES = {"ccbn": "CCBN", "sabn": "SaBN", "auxbn": "AuxBN", "saauxbn": "SaAuxBN"}


def architecture_text(spec: ModelSpec, branch: str) -> str:
    """Leaderboard architecture, e.g. ``"PreActResNet-18 (SaAuxBN, adv branch, as BN)"``."""
    text = _ARCHITECTURE_NAMES.get(spec.name, spec.name)
    if spec.kwargs:
        text += " " + ",".join(f"{k}={v}" for k, v in sorted(spec.kwargs.items()))
    if spec.norm in _NORM_NAMES:
        text += f" ({_NORM_NAMES[spec.norm]}, {branch} branch, as BN)"
    return text


def _percent(fraction: float) -> str:
    return f"{100 * float(fraction):.2f}"


def evaluation_accuracies(record: ResultRecord, *, checkpoint: Path, branch: str,
                          dataset: str, threat_model: str, attack: str | None = None
                          ) -> dict[str, Any]:
    """Clean and robust accuracy (fractions) under ``attack``, the attack's record key, eps and
    n_examples of ``branch`` in an evaluation record.

    ``attack`` is a record key such as ``"autoattack-standard"`` or ``"pgd-20"``; None takes
    AutoAttack (standard) when the record has it, else the record's only attack.

    Raises:
        UserInputError: the record is not an evaluation of this checkpoint (by SHA-256), has
            another dataset or threat model, or lacks the branch or the attack.
    """
    if (record.task, record.kind) != ("adversarial", "evaluation"):
        raise UserInputError(f"the record is a {record.task} {record.kind} record, not an "
                             "adversarial evaluation; pass the JSON written by robust-sabn eval")
    if record.subject.get("checkpoint_sha256") != file_sha256(checkpoint):
        raise UserInputError(
            f"the evaluation record is not of {checkpoint} (checkpoint SHA-256 differs); "
            f"evaluate it with robust-sabn eval {checkpoint}"
        )
    settings = settings_of(record)
    for field, have, want in (("dataset", record.subject.get("dataset"), dataset),
                              ("threat_model", settings.get("threat_model"), threat_model)):
        if have != want:
            raise UserInputError(
                f"the evaluation record's {field} is {have!r}, expected {want!r}"
            )
    branches = branch_results(record)
    result = branches.get(branch)
    if result is None:
        raise UserInputError(
            f"the evaluation record has no branch {branch!r} "
            f"(it has {', '.join(branches) or 'none'})"
        )
    robust = result.get("robust_accuracy", {})
    if attack is None:
        attack = AUTOATTACK_KEY if AUTOATTACK_KEY in robust or len(robust) != 1 else (
            next(iter(robust)))
    if attack not in robust:
        raise UserInputError(
            f"the evaluation record has no {attack!r} accuracy for branch {branch!r} (it has "
            f"{', '.join(robust) or 'clean accuracy only'}); name one with --attack, or "
            "evaluate with --attacks autoattack --version standard"
        )
    return {"clean": result["clean_accuracy"], "robust": robust[attack], "attack": attack,
            "eps": settings.get("eps"), "n_examples": settings.get("n_examples")}


def build_model_info(*, name: str, title: str | None, authors: str, link: str, venue: str,
                     additional_data: bool, dataset: str, architecture: str,
                     eps: float | None, accuracies: dict[str, Any]) -> dict[str, Any]:
    """A RobustBench model_info dict; accuracies are percent strings with 2 decimals.

    An AutoAttack (standard) accuracy fills ``autoattack_acc``; any other attack's fills
    ``external`` (the field RobustBench's listing and leaderboard read first, meant for other
    evaluations) and no ``autoattack_acc`` is claimed. ``attack`` names the record key either
    way, and the footnote says what was measured on how many points.
    """
    clean, robust, attack = _percent(accuracies["clean"]), _percent(accuracies["robust"]), (
        accuracies["attack"])
    measured = ("AutoAttack (standard)" if attack == AUTOATTACK_KEY
                else f"{attack} (robust-sabn eval), not AutoAttack,")
    footnote = f"Robust accuracy under {measured} on the first {accuracies['n_examples']} " \
        "test points." if accuracies.get("n_examples") is not None else None
    robust_field = "autoattack_acc" if attack == AUTOATTACK_KEY else "external"
    return {
        "link": link, "name": title or name, "authors": authors,
        "additional_data": additional_data, "number_forward_passes": 1, "dataset": dataset,
        "venue": venue, "architecture": architecture,
        "eps": eps_text(eps) if eps is not None else None,
        "clean_acc": clean, "reported": robust, robust_field: robust, "attack": attack,
        "footnote": footnote,
    }


def _record_accuracies(evaluation: ResultRecord | str | Path | None, *, weights: Path,
                       branch: str, dataset: str, threat_model: str, eps: float | None,
                       attack: str | None) -> tuple[dict[str, Any] | None, float | None]:
    """The model_info accuracies from ``evaluation`` (if any) and the eps to record.

    Raises:
        UserInputError: the record does not match (see :func:`evaluation_accuracies`), or
            ``eps`` differs from the record's.
    """
    if evaluation is None:
        if attack is not None:
            raise UserInputError("--attack names an attack of the --evaluation record; give one")
        return None, eps
    record = evaluation if isinstance(evaluation, ResultRecord) else read_result(evaluation)
    accuracies = evaluation_accuracies(record, checkpoint=weights, branch=branch,
                                       dataset=dataset, threat_model=threat_model, attack=attack)
    recorded_eps = accuracies["eps"]
    if eps is not None and recorded_eps is not None and abs(eps - recorded_eps) > 1e-9:
        raise UserInputError(f"eps {eps} differs from the evaluation record's "
                             f"{recorded_eps}; leave --eps out")
    return accuracies, recorded_eps if recorded_eps is not None else eps


def check_export_free(paths: ZooPaths, *, force: bool) -> None:
    """Refuse to overwrite an existing export unless ``force``.

    Raises:
        UserInputError: a file of the export exists (the message names it) and not ``force``.
    """
    existing = [p for p in (paths.weights, paths.entry, paths.model_info) if p.exists()]
    if existing and not force:
        raise UserInputError(
            f"{paths.weights.stem} is already exported: {existing[0]}; pass --force "
            "(force=True) to overwrite it, or choose another --name"
        )


def _write_export(paths: ZooPaths, state: dict[str, torch.Tensor], *, entry: dict[str, Any],
                  about: dict[str, Any], accuracies: dict[str, Any] | None,
                  eps: float | None) -> Path:
    """Write the weights, then the entry (``entry``, the leaderboard fields ``about``, and the
    weights' name and SHA-256), then the model_info when there are accuracies; returns the
    weights path.

    Without an evaluation no model_info is written (RobustBench's listing and leaderboard need
    its accuracies; it skips models that have none), and a stale one is removed.
    """
    atomic_write_bytes(paths.weights, lambda f: torch.save(state, f))
    leaderboard = {**about, "eps": eps_text(eps) if eps is not None else None}
    write_record(paths.entry, new_record(ENTRY_KIND, **entry, leaderboard=leaderboard,
                                         weights=paths.weights.name,
                                         weights_sha256=file_sha256(paths.weights)))
    if accuracies is None:
        paths.model_info.unlink(missing_ok=True)
    else:
        write_record(paths.model_info, build_model_info(**about, eps=eps, accuracies=accuracies))
    return paths.weights


def export_model(checkpoint: str | Path, *, name: str, model_dir: str | Path,
                 branch: str = "adv", threat_model: str = "Linf",
                 evaluation: ResultRecord | str | Path | None = None,
                 eps: float | None = None, title: str | None = None, authors: str = "",
                 link: str = "", venue: str = "", additional_data: bool = False,
                 attack: str | None = None, force: bool = False) -> Path:
    """Write one branch of ``checkpoint`` as zoo model ``name``; returns the weights path.

    Files (see :mod:`robust_sabn.zoo.layout`): ``MODEL_DIR/<dataset>/<threat_model>/<name>.pt``
    (state dict of the collapsed plain-BN model), ``<name>.json`` beside it (entry with the
    ModelSpec) and, with an evaluation, ``model_info/<dataset>/<threat_model>/<name>.json``
    beside ``MODEL_DIR``, where RobustBench's listing reads it.

    Args:
        checkpoint: a robust-sabn checkpoint (.pt); its ``dataset`` names the folder.
        name: zoo name (RobustBench style, e.g. ``Sabn2024Demo_R18``).
        model_dir: root of the model folder.
        branch: branch to export (``"adv"`` or ``"clean"``); ignored for plain-BN models.
        threat_model: ``Linf`` or ``L2``.
        evaluation: evaluation record (a ResultRecord or its JSON path) of this checkpoint; fills
            ``clean_acc``, the robust accuracy and ``eps`` of the model_info.
        attack: the record's attack key to list (default: ``autoattack-standard`` when there,
            else the record's only attack); see :func:`build_model_info`.
        force: overwrite an existing export of ``name``.
        eps: radius on the [0, 1] scale for the model_info when there is no record.
        title, authors, link, venue, additional_data: model_info fields (``title`` is its
            ``name``, the paper title; default: ``name``).

    Raises:
        UserInputError: unreadable checkpoint, checkpoint without a dataset, bad name, branch or
            threat model, a name RobustBench already uses, an existing export without
            ``force``, or a record that does not match.
    """
    checkpoint = Path(checkpoint)
    check_model_name(name)
    check_threat_model(threat_model)
    model, ckpt = load_model(checkpoint)
    dataset = ckpt.get("dataset")
    if not dataset:
        raise UserInputError(f"{checkpoint} records no dataset; cannot file it in a model folder")
    if dataset in ROBUSTBENCH_DATASETS:
        check_name_free(name, dataset, threat_model)
    paths = zoo_paths(model_dir, dataset, threat_model, name)
    check_export_free(paths, force=force)
    names = branch_names(model)
    if names and branch not in names:
        raise UserInputError(f"unknown branch {branch!r}; the checkpoint's branches are {names}")
    record_branch = branch if names else "shared"
    accuracies, eps = _record_accuracies(evaluation, weights=checkpoint, branch=record_branch,
                                         dataset=dataset, threat_model=threat_model, eps=eps,
                                         attack=attack)

    spec = ModelSpec.from_dict(ckpt["model"])
    bn_spec = dataclasses.replace(spec, norm="bn", num_branches=1)
    state = {k: v.detach().clone() for k, v in collapse_branch(model, branch).state_dict().items()}
    check_state_dict_keys(state)
    bn_spec.build().load_state_dict(state)
    return _write_export(
        paths, state,
        entry={"name": name, "dataset": dataset, "threat_model": threat_model,
               "model": bn_spec.to_dict(),
               "source": {"checkpoint": str(checkpoint),
                          "checkpoint_sha256": file_sha256(checkpoint), "branch": record_branch,
                          "norm": spec.norm, "epoch": ckpt.get("epoch")}},
        about={"name": name, "title": title, "authors": authors, "link": link, "venue": venue,
               "additional_data": additional_data, "dataset": dataset,
               "architecture": architecture_text(spec, record_branch)},
        accuracies=accuracies, eps=eps,
    )


def export_state_dict(weights: str | Path, *, arch: str, dataset: str, name: str,
                      arch_kwargs: dict[str, Any] | None = None,
                      model_dir: str | Path, threat_model: str = "Linf",
                      evaluation: ResultRecord | str | Path | None = None,
                      eps: float | None = None, title: str | None = None, authors: str = "",
                      link: str = "", venue: str = "", additional_data: bool = False,
                      attack: str | None = None, force: bool = False) -> Path:
    """Write anyone's model, a state dict of ``arch``, as zoo model ``name``.

    The entry records ``{"arch": "package.module:factory"}`` (and its ``kwargs``, the factory's
    keyword arguments ``arch_kwargs``) as the model, so
    :func:`robust_sabn.zoo.register_models` and :func:`robust_sabn.zoo.load_model` rebuild it
    in a new process by importing that (installed) factory. Other arguments as
    :func:`export_model`; ``evaluation`` is a record of ``robust-sabn eval WEIGHTS --arch ARCH``.

    Raises:
        UserInputError: weights that do not load strictly into ``arch`` (read with
            ``weights_only=True``), an unknown dataset, a bad name or threat model, keys
            RobustBench's loader would rewrite, or a record that does not match.
    """
    weights = Path(weights)
    check_model_name(name)
    check_threat_model(threat_model)
    check_dataset_name(dataset)
    foreign = load_foreign_model(weights, arch=arch, arch_kwargs=arch_kwargs)
    if dataset in ROBUSTBENCH_DATASETS:
        check_name_free(name, dataset, threat_model)
    paths = zoo_paths(model_dir, dataset, threat_model, name)
    check_export_free(paths, force=force)
    accuracies, eps = _record_accuracies(evaluation, weights=weights, branch=SHARED_BRANCH,
                                         dataset=dataset, threat_model=threat_model, eps=eps,
                                         attack=attack)
    state = {k: v.detach().clone() for k, v in foreign.model.state_dict().items()}
    try:
        check_state_dict_keys(state)
    except ValueError as exc:
        raise UserInputError(f"{weights}: {exc}; RobustBench could not load it") from exc
    return _write_export(
        paths, state,
        entry={"name": name, "dataset": dataset, "threat_model": threat_model,
               "model": {"arch": arch, **({"kwargs": arch_kwargs} if arch_kwargs else {})},
               "source": {"file": str(weights), "sha256": file_sha256(weights), "arch": arch}},
        about={"name": name, "title": title, "authors": authors, "link": link, "venue": venue,
               "additional_data": additional_data, "dataset": dataset,
               "architecture": foreign.describe()["name"]},
        accuracies=accuracies, eps=eps,
    )
