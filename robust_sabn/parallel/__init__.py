"""Beyond one process: torchrun data-parallel training, sharded evaluation, device choice.

The engine is PyTorch's own: ``torch.distributed`` launched by ``torchrun`` (or by
``robust-sabn train|eval --nproc N``, which starts torchrun's elastic agent in-process,
:mod:`robust_sabn.parallel.launch`). A process started by either finds its rank in the
environment (:func:`robust_sabn.parallel.context.distributed_context`); a single process has
no context and runs as before.
"""

from robust_sabn.parallel.context import DistContext, distributed_context, is_main_process
from robust_sabn.parallel.devices import resolve_device, speed_settings

__all__ = [
    "DistContext",
    "distributed_context",
    "is_main_process",
    "resolve_device",
    "speed_settings",
]
