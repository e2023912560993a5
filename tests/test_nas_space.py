"""NAS-Bench-201 space: genotype strings, parameter-free counts, paths, branch indices."""

from __future__ import annotations

import itertools

import pytest

from robust_sabn.errors import UserInputError
from robust_sabn.nas.space import (
    EDGES,
    NUM_CELLS,
    OPS,
    Genotype,
    all_genotypes,
    branch_index,
    num_branches,
)

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"


def test_example_parses_to_edges_in_nb201_order() -> None:
    g = Genotype.parse(EXAMPLE)
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert g.ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "none",
                     "nor_conv_1x1")
    assert g.codes == (3, 3, 4, 1, 0, 2)
    assert str(g) == EXAMPLE


def test_round_trip_of_every_cell() -> None:
    seen = set()
    for genotype in all_genotypes():
        text = str(genotype)
        assert Genotype.parse(text) == genotype
        seen.add(text)
    assert len(seen) == NUM_CELLS == 15625


@pytest.mark.parametrize(("text", "problem"), [
    ("", "3 '+'-separated node groups"),
    ("|none~0|+|none~0|none~1|", "3 '+'-separated node groups"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end with '|'"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 inputs, got 1"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read 'op~0'"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "must read 'op~0'"),
])
def test_malformed_strings_are_named(text: str, problem: str) -> None:
    with pytest.raises(UserInputError) as info:
        Genotype.parse(text)
    message = str(info.value)
    assert problem in message and "\n" not in message and "e.g." in message


def test_parameter_free_count_and_path() -> None:
    g = Genotype.parse(EXAMPLE)
    assert g.parameter_free_count() == 3  # avg_pool, skip, none
    assert g.has_input_output_path()
    cut = Genotype.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert not cut.has_input_output_path()
    through_1 = Genotype.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
    assert through_1.has_input_output_path()


def test_no_path_cells_number_341() -> None:
    # 3<-0 must be none; of the 5**5 settings of the other edges, those with no route through
    # node 1 or 2: a route needs (1<-0 and 3<-1) or (2<-0 and 3<-2) or (1<-0, 2<-1, 3<-2) alive.
    alive = (4, 1)  # ways for an edge to be alive / none
    count = 0
    for a, b, c, d, f in itertools.product((True, False), repeat=5):
        if not ((a and d) or (b and f) or (a and c and f)):
            ways = 1
            for flag in (a, b, c, d, f):
                ways *= alive[0] if flag else alive[1]
            count += ways
    assert count == 341
    assert sum(not g.has_input_output_path() for g in all_genotypes()) == 341


def test_branch_index_by_hand() -> None:
    # codes per edge: 1<-0: 2, 2<-0: 4, 2<-1: 3, 3<-0: 0, 3<-1: 1, 3<-2: 4
    sampled = (2, 4, 3, 0, 1, 4)
    assert branch_index(sampled, 0) == 0
    assert branch_index(sampled, 1) == 2  # op(1<-0)
    assert branch_index(sampled, 2) == 4 + 5 * 3  # op(2<-0) + 5 op(2<-1)
    assert [num_branches(j) for j in range(3)] == [1, 5, 25]
    assert branch_index((4,) * 6, 2) == 24 == num_branches(2) - 1
    assert len(OPS) == 5
