"""``python -m robust_sabn ARGS`` is the ``robust-sabn ARGS`` command (what each torchrun rank
runs: ``torchrun --nproc-per-node N -m robust_sabn train ...``). An uncaught error is written
where torchrun's agent reads it (``record``), so a failed rank is named with its error."""

from torch.distributed.elastic.multiprocessing.errors import record

from robust_sabn.cli import main

record(main)()
