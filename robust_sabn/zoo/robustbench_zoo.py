"""RobustBench's model dictionary: add our entries, load through ``robustbench.utils.load_model``.

RobustBench keeps its zoo as plain dicts, ``model_dicts[BenchmarkDataset][ThreatModel][name] =
{"model": factory, "gdrive_id": ...}``, and ``robustbench.utils.load_model`` builds
``factory()``, reads ``MODEL_DIR/<dataset>/<threat_model>/<name>.pt`` (downloading it from Google
Drive only when the file is absent) and loads it strictly, after two pieces of key surgery: any
key containing ``"module."`` or ``"model."`` loses its first 7 or 6 characters, and for ImageNet
every key gets a ``"model."`` prefix. :func:`check_state_dict_keys` makes sure the first is a
no-op for our models; :class:`ImageNetEntryModel` holds the model as ``.model`` for the second.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from robust_sabn.compat import import_robustbench
from robust_sabn.errors import UserInputError
from robust_sabn.zoo.layout import ROBUSTBENCH_DATASETS

ModelFactory = Callable[[], nn.Module]
LOCAL_WEIGHTS_ID = "robust-sabn:local-file"
"""``gdrive_id`` of our entries: their weights are local files, never downloaded."""
_OWNER_KEY = "robust_sabn_entry"
_ROBUSTBENCH_THREAT_MODELS = ("Linf", "L2", "corruptions", "corruptions_3d")
_MANGLED_SUBSTRINGS = ("module.", "model.")
_DOWNLOAD_HOST = ("drive.google.com", 443)


class ImageNetEntryModel(nn.Module):
    """Holds a model as ``.model``: RobustBench prefixes ImageNet state-dict keys with "model."."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, K) of images x (N, C, H, W) in [0, 1]."""
        return self.model(x)


def check_state_dict_keys(keys: Iterable[str]) -> None:
    """Check that RobustBench's loader leaves these state-dict keys as they are.

    Raises:
        ValueError: a key contains ``"module."`` or ``"model."``, which RobustBench would cut.
    """
    bad = [k for k in keys if any(s in k for s in _MANGLED_SUBSTRINGS)]
    if bad:
        raise ValueError(
            f"state-dict keys {bad[:3]} contain 'module.' or 'model.', which "
            "robustbench.utils.load_model rewrites; rename those submodules"
        )


def _enums() -> tuple[Any, Any]:
    import_robustbench()
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    return BenchmarkDataset, ThreatModel


def robustbench_models(dataset: str, threat_model: str) -> OrderedDict[str, dict[str, Any]]:
    """RobustBench's (mutable) entry dict for ``dataset``/``threat_model``, created if absent.

    Raises:
        UserInputError: a dataset or threat model RobustBench does not know.
    """
    if dataset not in ROBUSTBENCH_DATASETS:
        raise UserInputError(
            f"RobustBench has no dataset {dataset!r} (it knows "
            f"{', '.join(ROBUSTBENCH_DATASETS)}); load robust-sabn exports of {dataset} with "
            "robust_sabn.zoo.load_model(model_name, model_dir, dataset, threat_model), which "
            "keeps RobustBench's signature"
        )
    if threat_model not in _ROBUSTBENCH_THREAT_MODELS:
        raise UserInputError(
            f"RobustBench has no threat model {threat_model!r}; choose one of "
            f"{', '.join(_ROBUSTBENCH_THREAT_MODELS)}"
        )
    benchmark_dataset, threat = _enums()
    from robustbench.model_zoo import model_dicts

    by_threat = model_dicts[benchmark_dataset(dataset)]
    return by_threat.setdefault(threat(threat_model), OrderedDict())


def timm_backed(name: str, dataset: str, threat_model: str) -> bool:
    """Whether RobustBench would serve ``name`` from timm (it checks timm before its dict)."""
    import timm

    import_robustbench()
    return bool(timm.is_model(f"{name.lower().replace('-', '_')}_{dataset}_{threat_model.lower()}"))


def is_our_entry(entry: dict[str, Any] | None) -> bool:
    """Whether a RobustBench dict entry was registered by robust-sabn."""
    return bool(entry and entry.get(_OWNER_KEY))


def check_name_free(name: str, dataset: str, threat_model: str) -> None:
    """Check that ``name`` does not shadow a RobustBench zoo model of that dataset/threat model.

    Raises:
        UserInputError: the name is a RobustBench or timm model, or (ImageNet) contains
            "Standard", for which RobustBench skips loading weights.
    """
    entry = robustbench_models(dataset, threat_model).get(name)
    if (entry is not None and not is_our_entry(entry)) or timm_backed(name, dataset, threat_model):
        raise UserInputError(
            f"{name!r} is a RobustBench zoo model for {dataset}/{threat_model}; "
            "pick another name for your model"
        )
    if dataset == "imagenet" and "Standard" in name:
        raise UserInputError(
            f"ImageNet model names must not contain 'Standard' ({name!r}): RobustBench returns "
            "such models without loading their weights"
        )


def register_robustbench_entry(name: str, dataset: str, threat_model: str,
                               factory: ModelFactory) -> None:
    """Put ``name`` -> ``factory`` into RobustBench's model dict (replacing our earlier entry)."""
    check_name_free(name, dataset, threat_model)

    def build() -> nn.Module:
        model = factory()
        return ImageNetEntryModel(model) if dataset == "imagenet" else model

    entry: dict[str, Any] = {"model": build, "gdrive_id": LOCAL_WEIGHTS_ID, _OWNER_KEY: True}
    if dataset == "imagenet":
        entry["preprocessing"] = "Res256Crop224"
    robustbench_models(dataset, threat_model)[name] = entry


def load_via_robustbench(name: str, model_dir: str | Path, dataset: str, threat_model: str
                         ) -> nn.Module:
    """``robustbench.utils.load_model`` on a registered entry whose weights file exists."""
    rb = import_robustbench()
    model = rb.utils.load_model(name, model_dir=str(model_dir), dataset=dataset,
                                threat_model=threat_model)
    if isinstance(model, ImageNetEntryModel):
        model = model.model
    return model.eval()


def _online() -> bool:
    try:
        socket.create_connection(_DOWNLOAD_HOST, timeout=3).close()
    except OSError:
        return False
    return True


def load_robustbench_model(name: str, model_dir: str | Path = "./models",
                           dataset: str = "cifar10", threat_model: str = "Linf", *,
                           download: bool = True) -> nn.Module:
    """Load a RobustBench zoo model (e.g. ``Wong2020Fast``) in eval mode, from ``model_dir``.

    Weights are read from ``MODEL_DIR/<dataset>/<threat_model>/<name>.pt`` (RobustBench's
    layout); only when that file is absent, ``download`` is True and Google Drive is reachable
    does RobustBench download it there. A ``robustbench:`` prefix on ``name`` is accepted.

    Raises:
        UserInputError: unknown dataset, threat model or model name, or weights absent and no
            way to download them (the message names the file expected).
    """
    name = name.removeprefix("robustbench:")
    models = robustbench_models(dataset, threat_model.replace("_3d", ""))
    if is_our_entry(models.get(name)):
        return load_via_robustbench(name, model_dir, dataset, threat_model)
    from_timm = timm_backed(name, dataset, threat_model.replace("_3d", ""))
    if name not in models and not from_timm:
        raise UserInputError(
            f"unknown RobustBench model {name!r} for {dataset}/{threat_model}; "
            f"known ones include {', '.join(list(models)[:4])}"
        )
    folder = Path(model_dir) / dataset / threat_model.replace("_3d", "")
    gdrive_id = None if from_timm else models[name]["gdrive_id"]
    if isinstance(gdrive_id, list):
        expected = [folder / f"{name}.pt_m{i}.pt" for i in range(len(gdrive_id))]
    else:
        expected = [folder / f"{name}.pt"]
    missing = [p for p in expected if not p.is_file()]
    if (missing or from_timm) and not (download and _online()):
        where = "the timm/Hugging Face cache" if from_timm else str(missing[0])
        raise UserInputError(
            f"weights of RobustBench model {name} not found at {where} and no network to "
            f"download them; copy the file there (layout MODEL_DIR/{dataset}/"
            f"{threat_model}/{name}.pt) or run with network access"
        )
    rb = import_robustbench()
    try:
        model = rb.utils.load_model(name, model_dir=str(model_dir), dataset=dataset,
                                    threat_model=threat_model)
    except (OSError, ValueError) as exc:
        raise UserInputError(f"RobustBench could not load {name}: {str(exc)[:200]}") from exc
    return model.eval()
