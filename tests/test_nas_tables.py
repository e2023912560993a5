"""Scoring tables: the analog-nasbench encoding, the allow-listed unpickler, NB201 file errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from robust_sabn.errors import UserInputError
from robust_sabn.nas.space import Genotype, all_genotypes
from robust_sabn.nas.tables import (
    CellTable,
    analog_key,
    default_analog_path,
    load_analog_table,
    load_nb201_table,
)


@pytest.fixture(scope="module")
def analog() -> CellTable:
    return load_analog_table()


def test_exactly_the_cells_without_a_path_score_ten_percent(analog: CellTable) -> None:
    no_path, ten = set(), set()
    for genotype in all_genotypes():
        if not genotype.has_input_output_path():
            no_path.add(genotype)
        if analog.score(genotype)["cifar10"] == pytest.approx(0.10, abs=1e-12):
            ten.add(genotype)
    assert len(no_path) == 341
    assert ten == no_path


def test_analog_key_order(analog: CellTable) -> None:
    g = Genotype.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|nor_conv_1x1~0|"
                       "avg_pool_3x3~1|none~2|")
    # positions: 0->1, 0->2, 0->3, 1->2, 1->3, 2->3; codes 0 skip 1 none 2 conv3 3 conv1 4 pool
    assert analog_key(g) == (0, 1, 3, 2, 4, 1)
    best = max(all_genotypes(), key=lambda c: analog.score(c)["cifar10"])
    assert best.parameter_free_count() <= 2  # the best CIFAR-10 cells are conv-heavy
    assert 0.9 < analog.score(best)["cifar10"] <= 1.0


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /dev/null",))


def test_allow_list_refuses_foreign_objects(tmp_path: Path) -> None:
    evil = tmp_path / "data.anb"
    evil.write_bytes(pickle.dumps({(0,) * 6: _RunsCode()}))
    with pytest.raises(UserInputError, match=r"not allowed"):
        load_analog_table(evil)


@pytest.mark.parametrize(("content", "problem"), [
    (b"\x80\x04garbage", "cannot read"),
    (pickle.dumps({(0, 0, 0, 0, 0, 0): 1.0}), "expected 15625 cells"),
    (pickle.dumps([1, 2, 3]), "expected 15625 cells"),
])
def test_corrupt_or_foreign_analog_files(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "data.anb"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=problem):
        load_analog_table(path)
    with pytest.raises(UserInputError, match="not found"):
        load_analog_table(tmp_path / "missing.anb")
    assert default_analog_path().name == "data.anb"


def test_nb201_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not found"):
        load_nb201_table(tmp_path / "NAS-Bench-201-v1_0-e61699.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a torch file")
    with pytest.raises(UserInputError, match="not a readable NAS-Bench-201 table"):
        load_nb201_table(corrupt)
    foreign = tmp_path / "foreign.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(UserInputError, match="not a readable NAS-Bench-201 table"):
        load_nb201_table(foreign)


def _fake_nb201(path: Path, cells: dict[str, dict[str, float]]) -> None:
    """A NAS-Bench-201 file in the real format holding ``cells`` (test accuracy in % per
    dataset), built with the API's own classes; one seed, one epoch each."""
    from nas_201_api.api_utils import ArchResults, ResultsCount

    infos = {}
    for index, (arch, accs) in enumerate(cells.items()):
        results = ArchResults(index, arch)
        for dataset, acc in accs.items():
            count = ResultsCount(dataset, None, [50.0], [1.0], 0.1, 10.0,
                                 {"arch_str": arch}, 777, 1, None)
            sets = ["ori-test"] if dataset == "cifar10" else ["x-valid", "x-test", "ori-test"]
            count.update_eval({f"{s}@0": acc if s != "ori-test" or dataset == "cifar10"
                               else acc - 1 for s in sets},
                              {f"{s}@0": 1.0 for s in sets}, {f"{s}@0": 1.0 for s in sets})
            results.update(dataset, 777, count)
        infos[index] = {"less": results.state_dict(), "full": results.state_dict()}
    torch.save({"meta_archs": list(cells), "arch2infos": infos,
                "evaluated_indexes": list(range(len(cells)))}, path)


def test_nb201_table_lookup_through_the_api(tmp_path: Path) -> None:
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|" \
           "skip_connect~2|"
    path = tmp_path / "NAS-Bench-201-fake.pth"
    _fake_nb201(path, {cell: {"cifar10": 93.5, "cifar100": 70.25, "ImageNet16-120": 44.5}})
    table = load_nb201_table(path)
    assert table.name == "nb201"
    scores = table.score(Genotype.parse(cell))
    # CIFAR-10: ori-test; CIFAR-100 and ImageNet16-120: x-test (ori-test is 1 point lower here)
    assert scores == pytest.approx({"cifar10": 0.935, "cifar100": 0.7025,
                                    "ImageNet16-120": 0.445})
    other = Genotype.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(UserInputError, match="no entry"):
        table.score(other)
