"""A single NAS search's report shows softmax(alpha) per edge over the epochs as a heat map."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image
from test_nas_search import fake_data, tiny_config

from robust_sabn.nas.search import run_search
from robust_sabn.report import render_records


def test_a_single_search_report_shows_the_alpha_heat_map(tmp_path: Path) -> None:
    config = tiny_config(norm="saauxbn")
    record = run_search(config, tmp_path / "run", data=fake_data(), run_id="saauxbn-seed0")
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    weights = record.extras["alpha_softmax"]
    assert len(weights) == 2  # epochs x 6 edges x 5 ops
    for row, epoch in zip(history, weights, strict=True):
        expected = torch.softmax(torch.tensor(row["alpha"], dtype=torch.float64), dim=1)
        torch.testing.assert_close(torch.tensor(epoch, dtype=torch.float64), expected,
                                   atol=1e-6, rtol=0)

    report, _ = render_records([tmp_path / "run"], tmp_path / "nas.md")
    text = report.read_text()
    assert "## Architecture weights per edge over epochs" in text
    assert "![alpha of DARTS SaAuxBN](nas-alpha-darts-saauxbn.png)" in text
    with Image.open(tmp_path / "nas-alpha-darts-saauxbn.png") as image:
        assert image.size[0] > 300 and image.size[1] > 300
    assert "1 seeds" not in text
