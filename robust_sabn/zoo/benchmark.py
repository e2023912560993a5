"""``run_benchmark``: RobustBench's own ``benchmark`` (clean + AutoAttack) on local CIFAR data.

``robustbench.eval.benchmark`` loads the test set with torchvision (``download=True``, which only
downloads when the extracted files are missing or fail their MD5 check) and runs AutoAttack
(standard version) through the ``autoattack`` module, here the shim of
:mod:`robust_sabn.compat`. :func:`run_benchmark` first checks that the test set is present and
intact in ``data_dir``, so nothing is downloaded unless ``download=True``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from robust_sabn.artifacts import new_record
from robust_sabn.compat import import_robustbench
from robust_sabn.errors import UserInputError
from robust_sabn.nn.mode import model_mode
from robust_sabn.units import check_threat_model
from robust_sabn.zoo.load import load_model, read_entry
from robust_sabn.zoo.robustbench_zoo import load_robustbench_model

BENCHMARK_DATASETS = ("cifar10", "cifar100")
"""Datasets ``run_benchmark`` takes (RobustBench's ImageNet needs its own folder layout)."""
_TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def require_test_set(dataset: str, data_dir: str | Path) -> None:
    """Check that torchvision finds ``dataset``'s test set, intact, under ``data_dir``.

    Raises:
        UserInputError: files missing or failing torchvision's checksum.
    """
    from torchvision import datasets

    from robust_sabn.data.sources import torchvision_checksum_failures

    loader = datasets.CIFAR10 if dataset == "cifar10" else datasets.CIFAR100
    try:
        loader(root=str(data_dir), train=False, download=False)
    except RuntimeError as exc:
        folder = Path(data_dir) / _TORCHVISION_FOLDERS[dataset]
        altered = torchvision_checksum_failures(dataset, Path(data_dir))
        state = (f"found but its checksum differs ({', '.join(p.name for p in altered)} fail "
                 "torchvision's MD5 check)" if altered else "not found")
        raise UserInputError(
            f"{dataset} test set in {folder} {state}; extract the official python-version "
            "archive there, or pass --download"
        ) from exc


def run_benchmark(model_name: str, *, data_dir: str | Path, model_dir: str | Path = "./models",
                  dataset: str = "cifar10", threat_model: str = "Linf", eps: float = 8 / 255,
                  n_examples: int = 100, batch_size: int = 100, device: str = "cpu",
                  download: bool = False, trust_remote_code: bool = False) -> dict[str, Any]:
    """RobustBench's ``benchmark`` on an exported model or ``robustbench:NAME``; a JSON record.

    Args:
        model_name: a name exported to ``model_dir``, or ``robustbench:NAME`` for a zoo model.
        data_dir: folder holding torchvision's extracted CIFAR files.
        eps: radius on the [0, 1] pixel scale.
        n_examples: first N test images.
        download: let torchvision (and RobustBench, for zoo weights) download missing files.
        trust_remote_code: import an exported entry's unregistered ``arch``
            (:func:`robust_sabn.zoo.load_model`).

    Returns:
        record of kind ``"robustbench-benchmark"`` with ``clean_accuracy`` and
        ``robust_accuracy["autoattack-standard"]`` (fractions in [0, 1]). AutoAttack runs with
        RobustBench's settings, which seed its attacks from the clock.

    Raises:
        UserInputError: unsupported dataset, bad threat model or size, missing model or data.
    """
    if dataset not in BENCHMARK_DATASETS:
        raise UserInputError(
            f"zoo benchmark runs on {', '.join(BENCHMARK_DATASETS)}, not {dataset!r}; "
            "use robust-sabn eval for other datasets"
        )
    check_threat_model(threat_model)
    if n_examples < 1 or batch_size < 1:
        raise UserInputError("--n-examples and --batch-size must be at least 1")
    if model_name.startswith("robustbench:"):
        model = load_robustbench_model(model_name, model_dir, dataset, threat_model,
                                       download=download)
        described: dict[str, Any] = {"robustbench": model_name.removeprefix("robustbench:")}
    else:
        model = load_model(model_name, model_dir, dataset, threat_model,
                           trust_remote_code=trust_remote_code)
        entry = read_entry(model_dir, dataset, threat_model, model_name)
        described = entry["model"] if entry is not None else {"zoo": model_name}
    if not download:
        require_test_set(dataset, data_dir)
    import_robustbench()
    from robustbench.eval import benchmark

    start = time.perf_counter()
    with model_mode(model, False):
        clean, robust = benchmark(
            model, n_examples=n_examples, dataset=dataset, threat_model=threat_model,
            data_dir=str(data_dir), device=torch.device(device), batch_size=batch_size, eps=eps,
        )
    return new_record(
        "robustbench-benchmark", model=described, model_name=model_name, dataset=dataset,
        split="test", n_examples=n_examples, threat_model=threat_model, eps=eps,
        clean_accuracy=float(clean),
        robust_accuracy={"autoattack-standard": float(robust)},
        wall_time_s=round(time.perf_counter() - start, 3),
    )
