"""RobustBench interface: export a branch as a zoo model, load zoo models, run the benchmark.

Exported models use RobustBench's file layout (see :mod:`robust_sabn.zoo.layout`), so
``robustbench.utils.load_model`` reads them once :func:`load_model` (or
:func:`register_architecture`) has put their entry into RobustBench's model dictionary.
"""

from robust_sabn.units import eps_text
from robust_sabn.zoo.benchmark import BENCHMARK_DATASETS, require_test_set, run_benchmark
from robust_sabn.zoo.export import build_model_info, evaluation_accuracies, export_model
from robust_sabn.zoo.layout import (
    EXPORT_THREAT_MODELS,
    ROBUSTBENCH_DATASETS,
    ZooPaths,
    zoo_paths,
    zoo_paths_of,
)
from robust_sabn.zoo.load import architecture_factory, load_model, read_entry, register_architecture
from robust_sabn.zoo.robustbench_zoo import check_state_dict_keys, load_robustbench_model

__all__ = [
    "BENCHMARK_DATASETS",
    "EXPORT_THREAT_MODELS",
    "ROBUSTBENCH_DATASETS",
    "ZooPaths",
    "architecture_factory",
    "build_model_info",
    "check_state_dict_keys",
    "eps_text",
    "evaluation_accuracies",
    "export_model",
    "load_model",
    "load_robustbench_model",
    "read_entry",
    "register_architecture",
    "require_test_set",
    "run_benchmark",
    "zoo_paths",
    "zoo_paths_of",
]
