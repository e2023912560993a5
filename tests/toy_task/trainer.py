"""The toy trainer: full-batch gradient descent of ``toy_line`` on seeded points of
``y = 3 x + 1 + noise``; the run folder holds ``train.json``, a record with the final mean
squared error ``mse`` (the model is trained in train mode, so each norm uses the batch's
statistics, which for the full batch are the data's)."""

from __future__ import annotations

from pathlib import Path

import torch

from robust_sabn.artifacts.result import Metric, ResultRecord, new_result, write_result
from robust_sabn.models import create_model

N_POINTS = 64
RECORD = "train.json"


def toy_points(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``N_POINTS`` points (x, y) of seed ``seed``, shapes (N, 1) each."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(N_POINTS, 1, generator=generator)
    return x, 3 * x + 1 + 0.1 * torch.randn(N_POINTS, 1, generator=generator)


def train_toy(out_dir: Path, *, norm: str, seed: int, steps: int) -> ResultRecord:
    """Fit ``toy_line`` with ``norm`` to the points of ``seed`` in ``steps`` steps (lr 0.5);
    writes and returns ``out_dir/train.json``."""
    x, y = toy_points(seed)
    model = create_model("toy_line", norm=norm).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.mean((model(x.double()) - y.double()) ** 2)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        mse = float(torch.mean((model(x.double()) - y.double()) ** 2))
    record = new_result("toy", "train", subject={"norm": norm, "seed": seed, "steps": steps},
                        metrics=[Metric(name="mse", value=mse, n=N_POINTS)])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(out_dir / RECORD, record)
    return record
