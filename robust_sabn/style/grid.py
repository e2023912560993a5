"""The stylization grid of a suite: held-out content rows x style columns, one column per norm.

Content and style images are taken held-out first (the validation images of the runs' split),
then from the training images when more are asked for; each is resized (shorter side ``size``)
and centre-cropped to ``size`` x ``size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from pathlib import Path

import torch
from torch import Tensor

from robust_sabn.artifacts.result import ResultRecord, new_result
from robust_sabn.style.checkpoint import load_style_network
from robust_sabn.style.data import ImageSource
from robust_sabn.style.images import write_grid
from robust_sabn.style.network import NORM_LABELS


def grid_from_checkpoints(checkpoints: Mapping[str, Path], folder: Path, *, contents: int,
                          styles: int, size: int, device: str = "cpu") -> ResultRecord:
    """Write ``folder/grid.png`` from the networks in ``checkpoints`` (norm -> last.pt) and
    return its ``sample`` record (image path relative to the record in ``folder``).

    Raises:
        UserInputError: unreadable checkpoints or images.
    """
    from robust_sabn.style.trainer import TASK, load_data

    nets, config, spec = {}, None, None
    for norm, path in checkpoints.items():
        net, config, spec, _ = load_style_network(path, device=device)
        nets[NORM_LABELS.get(norm, norm)] = net
    assert config is not None and spec is not None
    data = load_data(config)
    content_names, content = _first_images((data.val_content, data.train_content), contents, size)
    style_names, style = _first_images((data.val_style, data.train_style), styles, size)
    held_out = {*data.val_content.names(), *data.val_style.names()}
    write_grid(nets, content.to(device), style.to(device), folder / "grid.png")
    return new_result(TASK, "sample", subject={
        "runs": {label: str(path) for label, path in zip(nets, checkpoints.values(),
                                                         strict=True)},
        "encoder": spec.label, "dataset": data.source, "seed": config.seed,
    }, extras={
        "image": "grid.png", "size": size, "norms": list(nets),
        "contents": content_names, "styles": style_names,
        "held_out": sorted(held_out & {*content_names, *style_names}),
    })


def _first_images(pools: tuple[ImageSource, ...], count: int, size: int
                  ) -> tuple[list[str], Tensor]:
    """The names and (count, 3, size, size) centre squares of the first ``count`` images of
    ``pools`` taken in order (held-out pools first)."""
    chosen = list(islice(((pool, index) for pool in pools for index in range(len(pool))), count))
    names = [pool.name(index) for pool, index in chosen]
    return names, torch.cat([pool.square(index, size) for pool, index in chosen])


RUN_GRID_SIZE = 128
"""Pixels per cell of a single run's grid (at least 64, so a report shows details)."""


def write_run_grid(run_dir: str | Path, *, contents: int = 2, styles: int = 2,
                   size: int = RUN_GRID_SIZE, device: str = "cpu") -> ResultRecord:
    """Write ``run_dir/grid.png`` from the run's ``last.pt`` (held-out images first) and its
    ``sample`` record ``run_dir/grid.json``, which ``robust-sabn report`` on the run shows.

    Raises:
        UserInputError: no readable ``last.pt`` or images.
    """
    from robust_sabn.artifacts.result import write_result

    folder = Path(run_dir)
    checkpoint = folder / "last.pt"
    _, config, _, _ = load_style_network(checkpoint, device=device)
    record = grid_from_checkpoints({config.norm: checkpoint}, folder, contents=contents,
                                   styles=styles, size=size, device=device)
    record = record.model_copy(update={"subject": {**record.subject, "norm": config.norm}})
    write_result(folder / "grid.json", record)
    return record
