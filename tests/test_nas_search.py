"""DARTS and GDAS steps for every norm, the per-epoch summary, exact resume, retraining."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from robust_sabn.artifacts import read_jsonl, read_result
from robust_sabn.artifacts.user_files import read_run_config
from robust_sabn.data.splits import ImageTensors
from robust_sabn.errors import UserInputError
from robust_sabn.nas.config import RetrainConfig, SearchConfig
from robust_sabn.nas.data import SearchData, resize
from robust_sabn.nas.network import Supernet
from robust_sabn.nas.retrain import retrain
from robust_sabn.nas.scoring import cell_hash, score_genotype
from robust_sabn.nas.search import (
    alpha_entropy,
    cosine_lr,
    gdas_tau,
    gumbel_hard_weights,
    make_optimizers,
    run_search,
    search_step,
)
from robust_sabn.nas.space import EDGE_NAMES, Genotype
from robust_sabn.parallel.devices import resolve_device
from robust_sabn.runs.names import RECORD_NAME


def _state(run: Path) -> dict:
    """The search checkpoint of ``run``."""
    return torch.load(run / "search.pt", weights_only=True)


def fake_data(n: int = 32, size: int = 8, seed: int = 0) -> SearchData:
    g = torch.Generator().manual_seed(seed)

    def part(count: int) -> ImageTensors:
        return ImageTensors(
            images=torch.randint(0, 256, (count, 1, size, size), dtype=torch.uint8, generator=g),
            labels=torch.randint(0, 10, (count,), generator=g), name="fashion-mnist",
            augment_pad=1, augment_flip=False)

    return SearchData(weights=part(n // 2), arch=part(n // 2), test=part(n // 2))


def tiny_config(**changes: object) -> SearchConfig:
    base = SearchConfig(dataset="fashion-mnist", search_examples=32, channels=4,
                        cells_per_stage=1, epochs=2, schedule_epochs=2, batch_size=8)
    return replace(base, **changes)


@pytest.mark.parametrize("algorithm", ["darts", "gdas"])
@pytest.mark.parametrize("norm", ["bn", "ccbn", "saauxbn"])
def test_one_step_moves_weights_and_alpha(algorithm: str, norm: str) -> None:
    config = tiny_config(algorithm=algorithm, norm=norm)
    torch.manual_seed(0)
    net = Supernet(norm=norm, channels=4, cells_per_stage=1, in_channels=1)
    w_opt, a_opt = make_optimizers(net, config)
    alpha0 = net.alpha.detach().clone()
    stem0 = net.stem[0].weight.detach().clone()
    batch = (torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,)))
    stats = search_step(net, w_opt, a_opt, batch, batch, algorithm=algorithm, grad_clip=5.0,
                        generator=torch.Generator().manual_seed(0), tau=10.0)
    assert torch.isfinite(torch.tensor([stats.weight_loss, stats.arch_loss])).all()
    assert 0 <= stats.weight_correct <= 8
    assert not torch.equal(net.alpha.detach(), alpha0)
    assert not torch.equal(net.stem[0].weight.detach(), stem0)
    # Adam's first step moves every alpha entry with a gradient by about lr
    moved = (net.alpha.detach() - alpha0).abs()
    assert moved.max() == pytest.approx(config.arch_lr, rel=0.05)


def test_gumbel_weights_are_one_hot_with_soft_gradient() -> None:
    alpha = torch.zeros(6, 5, requires_grad=True)
    weights, ops = gumbel_hard_weights(alpha, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(weights.detach(), torch.nn.functional.one_hot(torch.tensor(ops), 5)
                       .float())
    (weights * torch.arange(5.0)).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_schedules_and_entropy() -> None:
    config = tiny_config(epochs=35, schedule_epochs=50, algorithm="gdas")
    assert cosine_lr(config, 0) == pytest.approx(0.025)
    assert cosine_lr(config, 50) == pytest.approx(0.001)
    assert cosine_lr(config, 25) == pytest.approx(0.013)
    assert gdas_tau(config, 0) == 10.0 and gdas_tau(config, 34) == pytest.approx(0.1)
    uniform = alpha_entropy(torch.zeros(6, 5))
    assert uniform == pytest.approx([torch.log(torch.tensor(5.0)).item()] * 6)
    peaked = alpha_entropy(torch.tensor([[100.0, 0, 0, 0, 0]] * 6))
    assert max(peaked) < 1e-6


def test_search_summary_and_exact_resume(tmp_path: Path) -> None:
    data = fake_data()
    config = tiny_config(norm="saauxbn")
    whole = run_search(config, tmp_path / "whole", data=data)
    history = _state(tmp_path / "whole")["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert read_jsonl(tmp_path / "whole" / "metrics.jsonl") == history
    assert read_result(tmp_path / "whole" / "train_record.json") == whole
    assert whole.status == "ok" and whole.extras["genotypes"] == [r["genotype"] for r in history]
    row = history[-1]
    genotype = Genotype.parse(row["genotype"])
    assert row["parameter_free_ops"] == genotype.parameter_free_count()
    assert set(row["alpha_entropy"]) == set(EDGE_NAMES)
    assert genotype == Genotype.parse(whole.extras["genotype"])
    # device "auto" (the default) is saved as the device it chose here
    saved = torch.load(tmp_path / "whole" / "search.pt", weights_only=True)["config"]
    assert config.device == "auto" and saved["device"] == resolve_device("auto")

    first = run_search(replace(config), tmp_path / "split", data=data)
    assert _state(tmp_path / "split")["history"] == history
    assert first.metrics == whole.metrics
    with pytest.raises(UserInputError, match="--resume"):
        run_search(config, tmp_path / "split", data=data)
    with pytest.raises(UserInputError, match=r"options \['norm'\] differ from the saved run "
                                             r"\(norm: 'saauxbn' -> 'bn'\)"):
        run_search(tiny_config(norm="bn"), tmp_path / "split", data=data, resume=True)


def test_killed_search_resumes_to_the_same_alpha(tmp_path: Path) -> None:
    data = fake_data()
    config = tiny_config(norm="ccbn", algorithm="darts")
    run_search(config, tmp_path / "whole", data=data)
    # a run stopped after epoch 1: the same checkpoint a one-epoch prefix writes
    one_epoch = tmp_path / "cut"
    stopper: list[int] = []

    def stop_after_first(summary: dict) -> None:
        stopper.append(summary["epoch"])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(config, one_epoch, data=data, on_epoch=stop_after_first)
    assert stopper == [1]
    run_search(config, one_epoch, data=data, resume=True)
    resumed, whole = _state(one_epoch), _state(tmp_path / "whole")
    torch.testing.assert_close(resumed["state_dict"]["alpha"], whole["state_dict"]["alpha"],
                               rtol=0, atol=0)
    assert resumed["history"] == whole["history"]


RETRAIN_CELL = Genotype.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|"
                              "avg_pool_3x3~1|nor_conv_3x3~2|")


def tiny_retrain_config(**changes: object) -> RetrainConfig:
    base = RetrainConfig(dataset="fashion-mnist", search_examples=32, test_examples=16,
                         channels=4, cells_per_stage=1, epochs=2, batch_size=8)
    return replace(base, **changes)


def test_retrain_writes_a_run_folder_and_returns_its_record(tmp_path: Path) -> None:
    data, config = fake_data(n=32), tiny_retrain_config()
    a = retrain(RETRAIN_CELL, config, 0, tmp_path / "a", data=data)
    b = retrain(RETRAIN_CELL, config, 0, tmp_path / "b", data=data)
    assert read_result(tmp_path / "a" / RECORD_NAME) == a
    assert (a.task, a.kind, a.status) == ("nas", "retraining", "ok")
    assert a.subject["genotype"] == str(RETRAIN_CELL) and a.subject["seed"] == 0
    (accuracy,) = a.find("accuracy", split="test")
    assert accuracy.n == 16 and accuracy.value * 16 == round(accuracy.value * 16)
    assert a.metrics == b.metrics  # seeded
    assert _without_times(a.extras["curves"]) == _without_times(b.extras["curves"])
    rows = read_jsonl(tmp_path / "a" / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1] and rows == a.extras["curves"]
    assert a.extras["train_loss"] == rows[-1]["train_loss"] > 0
    # 32 images, batches of 8: the last of 8 steps has the cosine lr of step 7 of 8
    assert rows[-1]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * 7 / 8)) / 2)
    saved = read_run_config(tmp_path / "a" / "config.json")
    assert saved == {**config.to_dict(), "device": resolve_device("auto"),
                     "genotype": str(RETRAIN_CELL), "seed": 0}
    with pytest.raises(UserInputError, match="pass --resume"):
        retrain(RETRAIN_CELL, config, 0, tmp_path / "a", data=data)
    with pytest.raises(UserInputError, match=r"options \['seed'\] differ"):
        retrain(RETRAIN_CELL, config, 1, tmp_path / "a", data=data, resume=True)


def _without_times(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_a_killed_retraining_resumes_to_the_same_weights(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import robust_sabn.nas.retrain as retraining

    data, config = fake_data(n=32), tiny_retrain_config()
    whole = retrain(RETRAIN_CELL, config, 3, tmp_path / "whole", data=data)
    epochs = retraining._train_epoch

    def killed_in_second_epoch(*args: object) -> float:
        if args[-1] == 1:
            raise KeyboardInterrupt
        return epochs(*args)

    monkeypatch.setattr(retraining, "_train_epoch", killed_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        retrain(RETRAIN_CELL, config, 3, tmp_path / "cut", data=data)
    assert not (tmp_path / "cut" / RECORD_NAME).exists()
    monkeypatch.setattr(retraining, "_train_epoch", epochs)
    resumed = retrain(RETRAIN_CELL, config, 3, tmp_path / "cut", data=data, resume=True)
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.metrics == whole.metrics
    assert _without_times(resumed.extras["curves"]) == _without_times(whole.extras["curves"])


def test_resize_keeps_labels_and_scales_padding() -> None:
    data = fake_data(size=28).weights
    data.augment_pad = 2
    small = resize(data, 14)
    assert small.images.shape[2:] == (14, 14) and small.augment_pad == 1
    assert torch.equal(small.labels, data.labels)


def test_a_non_finite_loss_stops_the_search_and_keeps_the_last_finite_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.nn.functional as F

    import robust_sabn.nas.search as search
    from robust_sabn.runs.divergence import TrainingDiverged

    data = fake_data()  # 16 weight examples, batch 8: 2 steps (4 losses) per epoch
    calls: list[int] = []
    real_cross_entropy = F.cross_entropy

    def cross_entropy_that_turns_nan(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        loss = real_cross_entropy(logits, y)
        return loss * float("nan") if len(calls) > 4 else loss  # from epoch 2's first step

    monkeypatch.setattr(search.F, "cross_entropy", cross_entropy_that_turns_nan)
    with pytest.raises(TrainingDiverged, match="epoch 2"):
        run_search(tiny_config(norm="saauxbn"), tmp_path, data=data)
    state = torch.load(tmp_path / "search.pt", weights_only=True)
    assert len(state["history"]) == 1
    assert all(torch.isfinite(t).all() for t in state["state_dict"].values()
               if t.is_floating_point())


def test_scoring_reuses_a_finished_retraining_and_reads_old_cache_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, config = fake_data(n=32), tiny_retrain_config(epochs=1)
    monkeypatch.setattr("robust_sabn.nas.retrain.load_retrain_data", lambda config: data)
    calls: list[Path] = []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(Path(str(args[3])))
        return retrain(*args, **kwargs)

    def score(seeds: list[int]) -> dict[int, float]:
        record = score_genotype(RETRAIN_CELL, subject={}, retrain=config, retrain_seeds=seeds,
                                tables=[], cache_dir=tmp_path, retrain_fn=counted)
        return {int(m.condition["retrain_seed"]): m.value for m in record.metrics}

    first = score([0])
    assert [p.name for p in calls] == [f"{cell_hash(str(RETRAIN_CELL), config.to_dict())}-seed0"]
    run = read_result(calls[0] / RECORD_NAME)
    assert first == {0: run.value("accuracy", split="test")}
    assert score([0]) == first and len(calls) == 1  # the finished run is read, not redone
    old = tmp_path / f"{cell_hash(str(RETRAIN_CELL), config.to_dict())}-seed5.json"
    old.write_text('{"genotype": "x", "seed": 5, "accuracy": 0.25, "n": 16}')
    assert score([5]) == {5: 0.25} and len(calls) == 1
