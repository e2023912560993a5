"""RobustBench's model dictionaries, aware of the robust-sabn exports in ``./models``.

``robustbench.utils.load_model(name, model_dir, dataset, threat_model)`` looks ``name`` up in
``model_dicts[dataset][threat_model]``, an in-memory dict, so a model exported in another
process is unknown there and the lookup fails with a bare ``KeyError``. :func:`adopt_model_dicts`
(run by the start-up hook of :mod:`robust_sabn.compat.site_hook` once RobustBench built the
dicts) turns each ``Linf``/``L2`` dict into a :class:`ZooModels`, which on first use adds the
models exported to ``./models`` (RobustBench's default ``model_dir``, relative to the working
directory as its ``./model_info`` is) and answers an unknown name with a message naming
``robust_sabn.zoo.register_models(MODEL_DIR)``, the one call exports elsewhere need.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from pathlib import Path
from typing import Any

DEFAULT_MODEL_DIR = Path("models")
"""RobustBench's default ``model_dir`` (relative to the working directory)."""
_THREAT_MODELS = ("Linf", "L2")


class UnknownZooModelError(KeyError):
    """A name in neither RobustBench's zoo nor the exports RobustBench can see (a KeyError, as
    RobustBench's own lookup raises), with a readable message."""

    def __str__(self) -> str:
        return str(self.args[0])


class ZooModels(OrderedDict[str, dict[str, Any]]):
    """RobustBench's models of one dataset and threat model, plus our exports in ./models.

    The exports are added on first use (any lookup or listing), not at import, and only once.
    """

    def __init__(self, models: dict[str, dict[str, Any]], dataset: str, threat_model: str
                 ) -> None:
        super().__init__(models)
        self.dataset = dataset
        self.threat_model = threat_model
        self._exports_added = False

    def _add_exports(self) -> None:
        if self._exports_added:
            return
        self._exports_added = True
        from robust_sabn.zoo.register import register_default_exports

        register_default_exports(DEFAULT_MODEL_DIR, self.dataset, self.threat_model)

    def __missing__(self, name: str) -> dict[str, Any]:
        self._add_exports()
        if super().__contains__(name):
            return super().__getitem__(name)
        folder = DEFAULT_MODEL_DIR / self.dataset / self.threat_model
        raise UnknownZooModelError(
            f"{name!r} is neither a RobustBench {self.dataset}/{self.threat_model} model nor a "
            f"robust-sabn export in ./{folder}; for a model exported to another folder run "
            "robust_sabn.zoo.register_models(MODEL_DIR) first"
        )

    def __contains__(self, name: object) -> bool:
        self._add_exports()
        return super().__contains__(name)

    def __iter__(self) -> Iterator[str]:
        self._add_exports()
        return super().__iter__()

    def __len__(self) -> int:
        self._add_exports()
        return super().__len__()

    def keys(self) -> KeysView[str]:
        self._add_exports()
        return super().keys()

    def values(self) -> ValuesView[dict[str, Any]]:
        self._add_exports()
        return super().values()

    def items(self) -> ItemsView[str, dict[str, Any]]:
        self._add_exports()
        return super().items()


def adopt_model_dicts(model_dicts: dict[Any, dict[Any, Any]]) -> None:
    """Make every ``Linf``/``L2`` dict of RobustBench's ``model_dicts`` a :class:`ZooModels`
    (created empty where RobustBench has none), in place."""
    from robustbench.model_zoo.enums import ThreatModel

    for dataset, by_threat in model_dicts.items():
        for name in _THREAT_MODELS:
            threat = ThreatModel(name)
            current = by_threat.get(threat, {})
            if not isinstance(current, ZooModels):
                by_threat[threat] = ZooModels(current, dataset.value, name)
