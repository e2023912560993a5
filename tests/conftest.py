"""Shared test setup: one torch thread per test process, and every test starts from the same
torch random state.

The tensors in these tests are tiny: a second intra-op thread only adds synchronisation, and on
a loaded machine its spin-waits made the style and NAS end-to-end tests several times slower.
Subprocesses (CLI runs, torchrun ranks) inherit ``OMP_NUM_THREADS=1``.
"""

import os

import pytest
import torch

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(0)
