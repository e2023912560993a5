"""``register_models``: every exported model in a folder, into RobustBench's model dictionaries.

RobustBench finds a model by name in ``robustbench.model_zoo.model_dicts``, which lives in
memory: an entry put there in one process is gone in the next. The files of an export already
describe each model (the entry JSON beside the weights), so one call in the new process,

    >>> import robust_sabn.zoo
    >>> robust_sabn.zoo.register_models("models")

puts every exported CIFAR-10/100 or ImageNet model back, and RobustBench's own
``load_model`` / ``benchmark`` work on them. Models of datasets RobustBench has no enum for
(``fashion-mnist``, ``svhn``, ``npz``) cannot enter its dictionaries; they are listed with
``in_robustbench=False`` and load with :func:`robust_sabn.zoo.load_model`, which has
RobustBench's signature.

The exports in ``./models`` (RobustBench's default ``model_dir``, relative to the working
directory) need no call: where robust-sabn is installed, its start-up hook
(:mod:`robust_sabn.compat.site_hook`) has RobustBench's dictionaries add them on first use
(:func:`register_default_exports`). RobustBench has no model-folder setting, so any other
folder needs the one call above; :func:`zoo_listing` lists a folder's exports and accuracies.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from robust_sabn.errors import UserInputError
from robust_sabn.zoo.layout import ROBUSTBENCH_DATASETS, zoo_paths
from robust_sabn.zoo.load import architecture_factory, read_entry
from robust_sabn.zoo.robustbench_zoo import ModelFactory, register_robustbench_entry

_MODEL_INFO_FOLDER = "model_info"


@dataclass(frozen=True)
class ExportedModel:
    """One exported model found in a model folder."""

    name: str
    dataset: str
    threat_model: str
    in_robustbench: bool
    """Whether it is in RobustBench's dictionaries (False: a dataset RobustBench lacks)."""


def exported_models(model_dir: str | Path = "./models") -> list[ExportedModel]:
    """The exported models under ``model_dir`` (entry JSONs in ``<dataset>/<threat_model>/``).

    Raises:
        UserInputError: ``model_dir`` is not a folder, or an entry JSON is damaged or misfiled.
    """
    base = Path(model_dir)
    if not base.is_dir():
        raise UserInputError(f"model folder {base} not found; export a model there with "
                             f"robust-sabn zoo export CHECKPOINT --name NAME --model-dir {base}")
    found = []
    for path in sorted(base.glob("*/*/*.json")):
        dataset, threat_model = path.parent.parent.name, path.parent.name
        if dataset == _MODEL_INFO_FOLDER:
            continue
        read_entry(base, dataset, threat_model, path.stem)
        found.append(ExportedModel(path.stem, dataset, threat_model,
                                   dataset in ROBUSTBENCH_DATASETS))
    return found


def zoo_listing(model_dir: str | Path = "./models") -> list[dict[str, Any]]:
    """One row per export under ``model_dir``: name, dataset, threat_model, architecture,
    clean_acc, robust_acc and attack (percent strings from the model_info; None when the export
    has no evaluation), and model_info (its path, or None).

    Raises:
        UserInputError: as :func:`exported_models`.
    """
    rows = []
    for model in exported_models(model_dir):
        entry = read_entry(model_dir, model.dataset, model.threat_model, model.name) or {}
        paths = zoo_paths(model_dir, model.dataset, model.threat_model, model.name)
        try:
            info = json.loads(paths.model_info.read_text()) if paths.model_info.is_file() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserInputError(f"{paths.model_info} is not JSON ({exc}); export {model.name} "
                                 "again with --force") from exc
        rows.append({
            "name": model.name, "dataset": model.dataset, "threat_model": model.threat_model,
            "architecture": info.get("architecture") or entry.get("leaderboard", {}).get(
                "architecture"),
            "clean_acc": info.get("clean_acc"),
            "robust_acc": info.get("external") or info.get("autoattack_acc"),
            "attack": info.get("attack") or ("autoattack-standard" if "autoattack_acc" in info
                                             else None),
            "model_info": str(paths.model_info) if info else None,
        })
    return rows


def register_models(model_dir: str | Path = "./models", *, trust_remote_code: bool = False
                    ) -> list[ExportedModel]:
    """Add every exported model under ``model_dir`` to RobustBench's model dictionaries.

    Afterwards ``robustbench.utils.load_model(model_name=NAME, model_dir=model_dir,
    dataset=..., threat_model=...)`` loads them in this process. Calling it again is harmless.
    An entry naming an ``arch`` outside robust-sabn is refused (its module would be imported)
    unless it was given to :func:`robust_sabn.zoo.register_architecture` or
    ``trust_remote_code`` is True.

    Returns:
        every exported model found; ``in_robustbench`` is False for the datasets RobustBench
        has no enum for (load those with :func:`robust_sabn.zoo.load_model`).

    Raises:
        UserInputError: no such folder, a damaged entry, an untrusted ``arch``, or a name
            RobustBench's own zoo uses.
    """
    models = exported_models(model_dir)
    for model in models:
        if model.in_robustbench:
            factory = architecture_factory(model.name, model_dir, model.dataset,
                                           model.threat_model,
                                           trust_remote_code=trust_remote_code)
            register_robustbench_entry(model.name, model.dataset, model.threat_model, factory)
    return models


def register_default_exports(model_dir: str | Path, dataset: str, threat_model: str) -> None:
    """Put the exports of ``dataset``/``threat_model`` under ``model_dir`` into RobustBench's
    dictionary (called by :class:`robust_sabn.compat.robustbench_models.ZooModels` on first use).

    Architectures are resolved when RobustBench builds a model, so an entry naming an untrusted
    ``arch`` fails then, with :func:`architecture_factory`'s message; a file that is not a
    loadable entry is skipped with a warning naming it.
    """
    base = Path(model_dir).resolve()
    for path in sorted((base / dataset / threat_model).glob("*.json")):
        name = path.stem
        try:
            read_entry(base, dataset, threat_model, name)
            register_robustbench_entry(name, dataset, threat_model,
                                       _deferred_factory(name, base, dataset, threat_model))
        except UserInputError as exc:
            warnings.warn(f"robust-sabn skipped {path}: {exc}", stacklevel=2)


def _deferred_factory(name: str, model_dir: Path, dataset: str, threat_model: str
                      ) -> ModelFactory:
    """A factory that reads ``name``'s entry and builds its architecture when called."""

    def build() -> nn.Module:
        return architecture_factory(name, model_dir, dataset, threat_model)()

    return build
