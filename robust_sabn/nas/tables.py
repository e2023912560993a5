"""Lookup tables that score a NAS-Bench-201 cell without training it.

* ``nb201``: the real NAS-Bench-201 table (the user's ``NAS-Bench-201-v1_*.pth``), read through
  the ``nas_201_api`` package (extra ``nas``): test accuracy after NB201's 200-epoch training on
  CIFAR-10 (ori-test), CIFAR-100 and ImageNet16-120 (x-test), averaged over NB201's seeds.
* ``analog-nasbench``: the CIFAR-10 accuracies of all 15,625 cells that ship with the PyPI package
  ``analog-nasbench`` (its authors' own digital training runs, not NB201's numbers), a "transfer
  to CIFAR-10" column. Its file is a pickle; it is read by an unpickler that admits only the
  package's two plain record classes, so it cannot run code. Keys are 6-tuples over the edges
  (0->1, 0->2, 0->3, 1->2, 1->3, 2->3) with op codes 0 skip_connect, 1 none, 2 nor_conv_3x3,
  3 nor_conv_1x1, 4 avg_pool_3x3 (inferred from the data and checked by the tests: exactly the
  341 cells with no input-output path score 10 %).

Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import importlib.util
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_sabn.errors import UserInputError
from robust_sabn.nas.space import EDGES, NUM_CELLS, Genotype

ANALOG_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1",
                               "avg_pool_3x3")
ANALOG_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
"""(target, source) of each position of an analog-nasbench key."""

NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
_ALLOWED_CLASSES = {("analognasbench.data", "Architecture"),
                    ("analognasbench.data", "DriftMeasurement")}


@dataclass(frozen=True)
class CellTable:
    """A scoring table.

    Attributes:
        name: ``nb201`` or ``analog-nasbench`` (the ``table`` condition of metrics).
        label: how reports name it.
        lookup: genotype -> {dataset: test accuracy in [0, 1]}.
    """

    name: str
    label: str
    lookup: Callable[[Genotype], dict[str, float]]

    def score(self, genotype: Genotype) -> dict[str, float]:
        """Test accuracy (fraction) per dataset of ``genotype``."""
        return self.lookup(genotype)


def analog_key(genotype: Genotype) -> tuple[int, ...]:
    """The analog-nasbench key of ``genotype``."""
    return tuple(ANALOG_OPS.index(genotype.ops[EDGES.index(edge)]) for edge in ANALOG_EDGES)


class _PlainRecord:
    """Stands in for analog-nasbench's record classes: a bag of attributes, no behaviour."""


class _AllowListUnpickler(pickle.Unpickler):
    """Builds only plain containers and :class:`_PlainRecord`; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_CLASSES:
            return _PlainRecord
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def default_analog_path() -> Path:
    """The data file inside the installed ``analognasbench`` package (not imported).

    Raises:
        UserInputError: the package is not installed.
    """
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError("the analog-nasbench table needs its package, a dependency of "
                             "robust-sabn: pip install analog-nasbench")
    return Path(next(iter(spec.submodule_search_locations))) / "data.anb"


def load_analog_table(path: str | Path | None = None) -> CellTable:
    """The analog-nasbench CIFAR-10 table (``baseline_accuracy``, digital training).

    Raises:
        UserInputError: the file is missing, corrupt, holds disallowed objects, or is not the
            15,625-cell table.
    """
    path = Path(path) if path is not None else default_analog_path()
    if not path.is_file():
        raise UserInputError(f"analog-nasbench table not found: {path}; reinstall "
                             "analog-nasbench or give the path of its data.anb")
    try:
        data = _AllowListUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as exc:  # pickle raises many types for corrupt input
        raise UserInputError(f"cannot read the analog-nasbench table {path}: {exc}; give the "
                             "data.anb file of the analog-nasbench package") from exc
    accuracies: dict[tuple[int, ...], float] = {}
    if isinstance(data, dict):
        for key, record in data.items():
            value = getattr(record, "baseline_accuracy", None)
            if (isinstance(key, tuple) and len(key) == len(EDGES)
                    and isinstance(value, int | float)):
                accuracies[key] = float(value) / 100.0
    if len(accuracies) != NUM_CELLS:
        raise UserInputError(f"{path} is not the analog-nasbench table: expected {NUM_CELLS} "
                             f"cells with a baseline accuracy, found {len(accuracies)}")

    def lookup(genotype: Genotype) -> dict[str, float]:
        return {"cifar10": accuracies[analog_key(genotype)]}

    return CellTable("analog-nasbench", "analog-nasbench CIFAR-10 (transfer)", lookup)


def load_nb201_table(path: str | Path) -> CellTable:
    """The NAS-Bench-201 table at ``path`` through ``nas_201_api``; the file is read here with
    ``torch.load(weights_only=True)`` and handed over as a dict, so neither the API's own
    ``torch.load`` nor ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` in the environment can unpickle
    code from it.

    Raises:
        UserInputError: the API is not installed, or the file is missing, corrupt or foreign.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"NAS-Bench-201 table not found: {path}; give the path of "
                             "NAS-Bench-201-v1_0-e61699.pth or NAS-Bench-201-v1_1-096897.pth")
    try:
        import torch
        from nas_201_api import NASBench201API
    except ImportError as exc:
        raise UserInputError("--nb201 needs the NAS-Bench-201 API: pip install "
                             "'robust-sabn[nas]'") from exc
    try:
        api = NASBench201API(torch.load(path, map_location="cpu", weights_only=True),
                             verbose=False)
    except Exception as exc:  # torch.load and the API's asserts raise many types
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{path} is not a readable NAS-Bench-201 table ({detail[:200]}); "
                             "give the .pth file from the NAS-Bench-201 release") from exc

    def lookup(genotype: Genotype) -> dict[str, float]:
        index = api.query_index_by_arch(str(genotype))
        if index < 0:
            raise UserInputError(f"{path} has no entry for {genotype}; is it a full "
                                 "NAS-Bench-201 table?")
        return {
            dataset: float(api.get_more_info(index, dataset, hp="200", is_random=False)
                           ["test-accuracy"]) / 100.0
            for dataset in NB201_DATASETS
        }

    return CellTable("nb201", "NAS-Bench-201 (200 epochs)", lookup)
