"""Where a zoo model's files live, and which names, datasets and threat models are valid.

A model folder (``model_dir``, RobustBench's default ``models``) uses RobustBench's layout for
weights, with our entry beside them; the model_info lies beside the model folder, as
RobustBench's repository keeps ``models/`` and ``model_info/`` side by side (its
``list_available_models`` and leaderboard code read ``./model_info``)::

    ROOT/
      models/<dataset>/<threat_model>/<NAME>.pt    state dict of a plain-BN model (what
                                                   RobustBench's load_model reads;
                                                   torch.load(weights_only=True))
      models/<dataset>/<threat_model>/<NAME>.json  robust-sabn zoo entry: what rebuilds the
                                                   architecture, where the weights came from,
                                                   and the leaderboard fields
      model_info/<dataset>/<threat_model>/<NAME>.json
                                                   RobustBench model_info (written only with an
                                                   evaluation: its accuracies are required)

e.g. ``models/cifar10/Linf/Sabn2024Demo.pt``. ``<dataset>`` is the robust-sabn dataset name
(``cifar10``, ``cifar100``, ``imagenet`` as in RobustBench; ``fashion-mnist``, ``svhn``, ``npz``
for the others) and ``<threat_model>`` is ``Linf`` or ``L2``. Run RobustBench from ROOT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from robust_sabn.errors import UserInputError
from robust_sabn.units import THREAT_MODELS

ROBUSTBENCH_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet")
"""Datasets RobustBench's model dictionary knows; their models load through RobustBench."""
EXPORT_THREAT_MODELS = THREAT_MODELS
"""Threat models an exported model can be filed under."""
ENTRY_KIND = "zoo-entry"
"""``kind`` of the robust-sabn entry JSON beside the weights."""

MAX_NAME_LENGTH = 100
"""Characters in a zoo name (it becomes ``<name>.json`` and ``<name>.pt`` file names)."""
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class ZooPaths:
    """The three files of one zoo model (see the module docstring)."""

    weights: Path
    entry: Path
    model_info: Path


def zoo_paths(model_dir: str | Path, dataset: str, threat_model: str, name: str) -> ZooPaths:
    """Paths of model ``name``'s files under ``model_dir``."""
    base = Path(model_dir)
    folder = base / dataset / threat_model
    return ZooPaths(
        weights=folder / f"{name}.pt",
        entry=folder / f"{name}.json",
        model_info=base.parent / "model_info" / dataset / threat_model / f"{name}.json",
    )


def zoo_paths_of(weights: str | Path) -> ZooPaths:
    """All three paths of the model whose weights file is ``weights`` (the layout inverted)."""
    weights = Path(weights)
    threat_folder = weights.parent
    return zoo_paths(threat_folder.parent.parent, threat_folder.parent.name, threat_folder.name,
                     weights.stem)


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a valid zoo name (a letter, then letters, digits, ``_``, ``-``).

    Raises:
        UserInputError: any other name, or one over :data:`MAX_NAME_LENGTH` characters (it
            becomes a file name and a dictionary key).
    """
    if len(name) > MAX_NAME_LENGTH:
        raise UserInputError(f"model name {name[:20]}... is {len(name)} characters long; use at "
                             f"most {MAX_NAME_LENGTH} characters")
    if not _NAME.fullmatch(name):
        raise UserInputError(
            f"invalid model name {name!r}: use a letter followed by letters, digits, '_' or '-' "
            "(RobustBench style, e.g. Sabn2024Demo_R18)"
        )
    return name


def datasets_in(model_dir: str | Path) -> list[str]:
    """Dataset folders that exist under ``model_dir`` (for error messages)."""
    base = Path(model_dir)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and p.name != "model_info")
