"""Two real gloo ranks in the default run (a world of one skips every all-reduce):

- DDP with ``--sync-norm`` layers takes the steps one process takes on the global batch: same
  weights and running statistics (the statistics' all-reduce forward, and its backward that
  carries every rank's gradient through the shared statistics, both matter).
- Sharded evaluation: each rank attacks its block of batches and the gathered flags are one
  process's, rank 1's included.

One launch of two plain processes (no torchrun agent) serves both tests.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from evaluation_helpers import synthetic_images, synthetic_split
from npz_helpers import rank_env

from robust_sabn.adversarial.record import example_flags
from robust_sabn.evaluate import evaluate_model
from robust_sabn.models import create_model

GLOBAL_BATCH, STEPS, LR = 8, 2, 0.5
EVAL = {"attacks": ("pgd",), "eps": 0.05, "n_examples": 24, "batch_size": 4, "seed": 2,
        "pgd_steps": 2, "device": "cpu"}

RANK_SCRIPT = """
import json, sys
import torch
import torch.nn.functional as F
sys.path.insert(0, {tests!r})
from evaluation_helpers import synthetic_images, synthetic_split
from robust_sabn.adversarial.record import example_flags
from robust_sabn.evaluate import evaluate_model
from robust_sabn.models import create_model
from robust_sabn.parallel.context import distributed_context
from robust_sabn.parallel.data_parallel import data_parallel_module

torch.set_num_threads(1)
ctx = distributed_context("cpu")
torch.manual_seed(0)
model = create_model("small_cnn", norm="saauxbn", in_channels=1, width=2)
ddp = data_parallel_module(model, ctx, "cpu", sync_norm=True)
optimizer = torch.optim.SGD(model.parameters(), lr={lr})
x, y = synthetic_images({batch} * {steps}, seed=3)
share = {batch} // ctx.world_size
for step in range({steps}):
    lo = step * {batch} + ctx.rank * share
    loss = F.cross_entropy(ddp(x[lo:lo + share], branch="adv"), y[lo:lo + share])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
flags = example_flags(evaluate_model(model.eval(), synthetic_split(40), **{evaluation}))
if ctx.is_main:
    torch.save(model.state_dict(), {out!r} + "/weights.pt")
    with open({out!r} + "/flags.json", "w") as f:
        json.dump({{"|".join(key): value for key, value in flags.items()}}, f)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run both ranks; the folder holds rank 0's weights.pt and flags.json."""
    out = tmp_path_factory.mktemp("two-ranks")
    script = out / "rank.py"
    script.write_text(textwrap.dedent(RANK_SCRIPT).format(
        tests=str(Path(__file__).parent), lr=LR, batch=GLOBAL_BATCH, steps=STEPS,
        evaluation=repr(EVAL), out=str(out)))
    port = str(_free_port())
    ranks = [subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=rank_env(120, WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
                                MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
        for rank in range(2)]
    for rank in ranks:
        _, stderr = rank.communicate(timeout=300)
        assert rank.returncode == 0, stderr[-3000:]
    return out


def test_ddp_with_sync_norm_takes_one_process_steps(two_ranks: Path) -> None:
    torch.manual_seed(0)
    model = create_model("small_cnn", norm="saauxbn", in_channels=1, width=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = synthetic_images(GLOBAL_BATCH * STEPS, seed=3)
    for step in range(STEPS):
        batch = slice(step * GLOBAL_BATCH, (step + 1) * GLOBAL_BATCH)
        loss = F.cross_entropy(model(x[batch], branch="adv"), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ranks = torch.load(two_ranks / "weights.pt", weights_only=True)
    one = model.state_dict()
    assert ranks.keys() == one.keys()
    for key, value in one.items():
        torch.testing.assert_close(ranks[key].float(), value.float(), rtol=1e-4, atol=1e-5,
                                   msg=lambda m, k=key: f"{k}: {m}")


def test_sharded_evaluation_gathers_one_process_flags(two_ranks: Path) -> None:
    model = create_model("small_cnn", norm="saauxbn", in_channels=1, width=2)
    model.load_state_dict(torch.load(two_ranks / "weights.pt", weights_only=True))
    one = example_flags(evaluate_model(model.eval(), synthetic_split(40), **EVAL))
    ranks = {tuple(key.split("|")): value
             for key, value in json.loads((two_ranks / "flags.json").read_text()).items()}
    assert ranks == one
    assert all(len(flags) == 24 for flags in one.values())
