"""Per-batch seeds pinned: every per-example flag of an evaluation equals torchattacks' PGD and
pyautoattack's AutoAttack called directly on each batch b with seed ``seed + b``, on 128 points
in 2 batches; and AutoAttack's ``plus`` and ``rand`` versions run end to end on a tiny model.

The PGD comparison checks that it can fail: seeding every batch alike (no batch index) gives
other flags on these points. AutoAttack's flags on them do not depend on its seed (APGD finds
the same points from any start), so a spy on pyautoattack checks the seed each batch gets.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchattacks
from evaluation_helpers import (
    SyntheticSplit,
    single_torch_thread,
    synthetic_split,
    train_tiny_model,
)
from pyautoattack import AutoAttack
from torch import Tensor, nn

from robust_sabn.adversarial.record import branch_results, example_flags
from robust_sabn.evaluate import as_unit_float, evaluate_model
from robust_sabn.nn import fixed_branch

__all__ = ["single_torch_thread"]  # the autouse fixture, imported for its effect

N, BATCH, SEED, EPS = 128, 64, 5, 0.08
PGD_STEPS, PGD_STEP = 2, 0.02


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return train_tiny_model()


@pytest.fixture(scope="module")
def split() -> SyntheticSplit:
    return synthetic_split(N, seed=7)


@pytest.fixture(scope="module")
def flags(model: nn.Module, split: SyntheticSplit) -> dict[tuple[str, str], list[bool]]:
    record = evaluate_model(
        model, split, attacks=("pgd", "autoattack"), eps=EPS, n_examples=N, batch_size=BATCH,
        seed=SEED, branches=["adv"], pgd_steps=PGD_STEPS, pgd_step_size=PGD_STEP,
        version="custom", autoattack_attacks=["apgd-ce"])
    return example_flags(record)


def _per_batch(x: Tensor, y: Tensor, attack: Callable[[Tensor, Tensor, int], list[bool]],
               seed_of: Callable[[int], int]) -> list[bool]:
    """Flags of ``attack(x_b, y_b, seed)`` over the batches b, in order."""
    flags: list[bool] = []
    for b, start in enumerate(range(0, len(y), BATCH)):
        flags += attack(x[start:start + BATCH], y[start:start + BATCH], seed_of(b))
    return flags


def _view(model: nn.Module) -> nn.Module:
    # a new view is in train mode, and torchattacks restores the mode it finds: eval() first
    return fixed_branch(model, "adv").eval()


def test_pgd_flags_are_torchattacks_seeded_with_seed_plus_batch(
        model: nn.Module, split: SyntheticSplit, flags: dict) -> None:
    view = _view(model)
    x, y = as_unit_float(split.images), split.labels

    def pgd(xb: Tensor, yb: Tensor, seed: int) -> list[bool]:
        torch.manual_seed(seed)
        x_adv = torchattacks.PGD(view, eps=EPS, alpha=PGD_STEP, steps=PGD_STEPS)(xb, yb)
        with torch.no_grad():
            return view(x_adv).argmax(1).eq(yb).tolist()

    expected = _per_batch(x, y, pgd, lambda b: SEED + b)
    assert flags[("adv", f"pgd-{PGD_STEPS}")] == expected
    assert _per_batch(x, y, pgd, lambda b: SEED) != expected, "flags do not depend on seeds"
    assert 0.1 < sum(expected) / N < 0.9


def test_autoattack_flags_are_pyautoattack_seeded_with_seed_plus_batch(
        model: nn.Module, split: SyntheticSplit, flags: dict) -> None:
    view = _view(model)
    x, y = as_unit_float(split.images), split.labels

    def autoattack(xb: Tensor, yb: Tensor, seed: int) -> list[bool]:
        adversary = AutoAttack(view, eps=EPS, version="custom", attacks=["apgd-ce"], seed=seed)
        _, y_adv = adversary.run_standard_evaluation(xb, yb, batch_size=BATCH)
        return y_adv.eq(yb).tolist()

    assert flags[("adv", "autoattack-custom")] == _per_batch(x, y, autoattack,
                                                             lambda b: SEED + b)


def test_autoattack_is_seeded_with_seed_plus_batch_index(split: SyntheticSplit,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seeds: list[int] = []
    construct = AutoAttack.__init__

    def spy(self: AutoAttack, *args: object, **kwargs: object) -> None:
        seeds.append(kwargs["seed"])  # type: ignore[arg-type]
        construct(self, *args, **kwargs)

    monkeypatch.setattr(AutoAttack, "__init__", spy)
    evaluate_model(_template_classifier(), split, attacks=("autoattack",), eps=0.3,
                   n_examples=12, batch_size=4, seed=SEED, version="custom",
                   autoattack_attacks=["apgd-ce"])
    assert sorted(set(seeds)) == [SEED, SEED + 1, SEED + 2]


def _template_classifier() -> nn.Module:
    """A linear classifier of the synthetic images: class c's logit sums its patch's pixels.
    Right on every image, broken at eps 0.3 by AutoAttack's first attack (which keeps the
    slow later stages short)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    weight = torch.zeros(10, 1, 8, 8)
    for c in range(10):
        row, col = (c // 4) * 2 + 1, (c % 4) * 2
        weight[c, 0, row:row + 2, col:col + 2] = 1.0
    with torch.no_grad():
        model[1].weight.copy_(weight.flatten(1))
        model[1].bias.zero_()
    return model.eval()


@pytest.mark.parametrize("version", ["plus", "rand"])
def test_autoattack_plus_and_rand_run_on_a_tiny_model(split: SyntheticSplit, version: str) -> None:
    record = evaluate_model(_template_classifier(), split, attacks=("autoattack",), eps=0.3,
                            n_examples=4, batch_size=4, seed=SEED, version=version)
    flags = example_flags(record)
    assert flags[("shared", "clean")] == [True] * 4
    assert flags[("shared", f"autoattack-{version}")] == [False] * 4
    entry = branch_results(record)["shared"]["autoattack"]
    assert entry["version"] == version and entry["cascade"][0]["robust_accuracy"] == 0.0
