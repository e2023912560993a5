"""RobustBench interface: export a branch as a zoo model, load zoo models, run the benchmark.

Exported models use RobustBench's file layout (see :mod:`robust_sabn.zoo.layout`). Where
robust-sabn is installed, ``robustbench.utils.load_model`` finds the models exported to
``./models`` in any new process (the start-up hook of :mod:`robust_sabn.compat.site_hook`);
:func:`register_models` adds those of another folder::

    from robustbench.utils import load_model

    model = load_model(model_name="Mine2026_SmallCNN", model_dir="models", dataset="cifar10",
                       threat_model="Linf")

Datasets RobustBench has no enum for (``fashion-mnist``, ``svhn``, ``npz``) load with
:func:`load_model`, which has RobustBench's signature.
"""

from robust_sabn.units import eps_text
from robust_sabn.zoo.benchmark import BENCHMARK_DATASETS, require_test_set, run_benchmark
from robust_sabn.zoo.export import (
    build_model_info,
    evaluation_accuracies,
    export_model,
    export_state_dict,
)
from robust_sabn.zoo.layout import (
    EXPORT_THREAT_MODELS,
    ROBUSTBENCH_DATASETS,
    ZooPaths,
    zoo_paths,
    zoo_paths_of,
)
from robust_sabn.zoo.load import architecture_factory, load_model, read_entry, register_architecture
from robust_sabn.zoo.register import (
    ExportedModel,
    exported_models,
    register_models,
    zoo_listing,
)
from robust_sabn.zoo.robustbench_zoo import check_state_dict_keys, load_robustbench_model

__all__ = [
    "BENCHMARK_DATASETS",
    "EXPORT_THREAT_MODELS",
    "ROBUSTBENCH_DATASETS",
    "ExportedModel",
    "ZooPaths",
    "architecture_factory",
    "build_model_info",
    "check_state_dict_keys",
    "eps_text",
    "evaluation_accuracies",
    "export_model",
    "export_state_dict",
    "exported_models",
    "load_model",
    "load_robustbench_model",
    "read_entry",
    "register_architecture",
    "register_models",
    "require_test_set",
    "run_benchmark",
    "zoo_listing",
    "zoo_paths",
    "zoo_paths_of",
]
