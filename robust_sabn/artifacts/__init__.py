"""The currency between stages: checkpoints and JSON result records."""

from robust_sabn.artifacts.checkpoint import (
    ModelSpec,
    atomic_write_bytes,
    file_sha256,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from robust_sabn.artifacts.records import (
    append_jsonl,
    environment,
    new_record,
    package_versions,
    read_jsonl,
    read_record,
    write_record,
)

__all__ = [
    "ModelSpec",
    "append_jsonl",
    "atomic_write_bytes",
    "environment",
    "file_sha256",
    "load_checkpoint",
    "load_model",
    "new_record",
    "package_versions",
    "read_jsonl",
    "read_record",
    "save_checkpoint",
    "write_record",
]
