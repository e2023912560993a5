"""The currency between stages: checkpoints and JSON result records.

Reading records (:mod:`robust_sabn.artifacts.result`) is torch-free; the checkpoint functions
import torch when first used (this package's names are resolved lazily).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "ModelSpec": "checkpoint", "atomic_write_bytes": "atomic", "file_sha256": "digest",
    "load_checkpoint": "checkpoint", "load_model": "checkpoint", "save_checkpoint": "checkpoint",
    "append_jsonl": "records", "environment": "records", "new_record": "records",
    "read_jsonl": "records", "read_record": "records", "write_record": "records",
    "Metric": "result", "ResultRecord": "result", "collect_results": "result",
    "new_result": "result", "package_versions": "result", "read_result": "result",
    "record_json_schema": "result", "write_result": "result",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'robust_sabn.artifacts' has no attribute {name!r}")
    value = getattr(import_module(f"robust_sabn.artifacts.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
