"""Device choice (``--device auto``) and the speed knobs a run names in its record.

``auto`` is the first CUDA GPU when there is one (the local rank's GPU under torchrun), else
Apple's MPS, else the CPU. TF32 matmuls and bf16 autocast change numbers, so they are opt-in
(``--tf32``, ``--amp``) and never the default for evaluation numbers.
"""

from __future__ import annotations

import os
from typing import Any

import torch

AUTO = "auto"


def resolve_device(device: str | None) -> str:
    """A concrete device name for ``device``; ``None`` and ``"auto"`` pick the best one here.

    Under torchrun (``LOCAL_RANK`` set) ``auto`` and a bare ``cuda`` become ``cuda:LOCAL_RANK``,
    so every rank of a node gets its own GPU.
    """
    local_rank = os.environ.get("LOCAL_RANK")
    if device in (None, AUTO):
        if torch.cuda.is_available():
            device = "cuda"
        elif torch.backends.mps.is_available():
            return "mps"
        else:
            return "cpu"
    if device == "cuda" and local_rank is not None:
        return f"cuda:{int(local_rank) % max(torch.cuda.device_count(), 1)}"
    return device


def training_memory_format(device: str) -> torch.memory_format:
    """The layout of weights and batches in training: channels_last on the CPU (the hybrid
    PGD-5 step of small_cnn measured 0.80 and 0.82 of the contiguous one in
    ``bench/cpu_knobs.py``), contiguous elsewhere (not measured there)."""
    if torch.device(device).type == "cpu":
        return torch.channels_last
    return torch.contiguous_format


def apply_tf32(enabled: bool) -> None:
    """Allow (or forbid) TF32 matmuls and convolutions on Ampere+ GPUs; no effect on CPU."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def speed_settings(device: str, *, amp: bool = False, memory_format: str | None = None
                   ) -> dict[str, Any]:
    """What a run's record says about its speed knobs: device, CPU threads, TF32 of matmuls
    and of cuDNN convolutions (as torch has them now; PyTorch allows the latter by default,
    ``robust-sabn train|eval`` forbid both unless ``--tf32``), AMP, and the training memory
    format when there is one.

    Args:
        device: the concrete device (after :func:`resolve_device`).
        amp: whether bf16 autocast was on.
        memory_format: the training layout ("channels_last", "contiguous_format") or None.
    """
    return {
        "device": device, "cpu_threads": torch.get_num_threads(),
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_tf32": bool(torch.backends.cudnn.allow_tf32), "amp": "bf16" if amp else None,
        **({"memory_format": memory_format} if memory_format else {}),
    }
