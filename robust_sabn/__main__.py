"""``python -m robust_sabn ARGS`` is the ``robust-sabn ARGS`` command (what each torchrun rank
runs: ``torchrun --nproc-per-node N -m robust_sabn train ...``). In a torchrun rank (the agent
sets ``TORCHELASTIC_ERROR_FILE``) an uncaught error is written where the agent reads it
(``record``), so a failed rank is named with its error; elsewhere nothing is imported for it,
so ``python -m robust_sabn --help`` imports no torch."""

import os

from robust_sabn.cli import main

if os.environ.get("TORCHELASTIC_ERROR_FILE"):
    from torch.distributed.elastic.multiprocessing.errors import record

    main = record(main)
main()
