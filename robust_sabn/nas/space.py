"""The NAS-Bench-201 search space, torch-free: operations, edges, genotypes and branch indices.

A cell is a DAG of 4 nodes; node 0 is the cell input, node 3 its output, and every edge
``i <- j`` (j < i) carries one of five operations. The 6 edges are ordered as NAS-Bench-201 orders
them (``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``), and a genotype is written as NAS-Bench-201 writes
it: ``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|``
(one ``|op~source|`` group per target node 1, 2, 3).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from robust_sabn.errors import UserInputError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Candidate operations in NAS-Bench-201's order; an op's index here is its code everywhere."""

PARAMETER_FREE_OPS: frozenset[str] = frozenset({"none", "skip_connect", "avg_pool_3x3"})
"""Operations without weights: the ones DARTS collapses towards."""

NUM_NODES = 4
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""(target, source) of each edge, in NAS-Bench-201's edge order."""

EDGE_NAMES: tuple[str, ...] = tuple(f"{target}<-{source}" for target, source in EDGES)
NUM_CELLS = len(OPS) ** len(EDGES)
"""15,625 cells in the space."""

_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"


def edge_index(target: int, source: int) -> int:
    """Position of edge ``target <- source`` in :data:`EDGES`."""
    return EDGES.index((target, source))


def num_branches(source: int) -> int:
    """Normalization branches of an op on an edge leaving ``source``: ``5 ** source``."""
    return len(OPS) ** source


def branch_index(sampled_ops: Sequence[int], source: int) -> int:
    """The SaBN branch of every op on an edge leaving node ``source``.

    It encodes the ops sampled on the edges entering ``source``:
    ``k = sum_m 5**m * op(source <- m)`` for ``m = 0 .. source - 1`` (0 for the cell input).

    Args:
        sampled_ops: one op code per edge, in :data:`EDGES` order (length 6).
        source: the edge's source node, 0..2.

    Returns:
        k in ``0 .. 5**source - 1``.
    """
    return sum(
        len(OPS) ** m * int(sampled_ops[edge_index(source, m)]) for m in range(source)
    )


@dataclass(frozen=True)
class Genotype:
    """One NAS-Bench-201 cell: an op name per edge, in :data:`EDGES` order.

    ``str(genotype)`` is the NAS-Bench-201 string; :meth:`parse` reads one back.
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES):
            raise ValueError(f"a genotype has {len(EDGES)} ops, got {len(self.ops)}")
        unknown = [op for op in self.ops if op not in OPS]
        if unknown:
            raise ValueError(f"unknown ops {unknown}; choose from {', '.join(OPS)}")

    @classmethod
    def from_codes(cls, codes: Sequence[int]) -> Genotype:
        """The genotype whose edge ``e`` carries ``OPS[codes[e]]``."""
        return cls(tuple(OPS[int(code)] for code in codes))

    @property
    def codes(self) -> tuple[int, ...]:
        """Op code (index in :data:`OPS`) per edge."""
        return tuple(OPS.index(op) for op in self.ops)

    def __str__(self) -> str:
        groups = []
        for target in range(1, NUM_NODES):
            tokens = [f"{self.ops[edge_index(target, s)]}~{s}" for s in range(target)]
            groups.append("|" + "|".join(tokens) + "|")
        return "+".join(groups)

    @classmethod
    def parse(cls, text: str) -> Genotype:
        """Read a NAS-Bench-201 cell string.

        Raises:
            UserInputError: the string is not ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` with ops
                from :data:`OPS` (the message says what is wrong and shows an example).
        """

        def fail(problem: str) -> UserInputError:
            return UserInputError(
                f"malformed genotype {text!r}: {problem}; write it as NAS-Bench-201 does, "
                f"e.g. {_EXAMPLE!r}"
            )

        groups = text.strip().split("+")
        if len(groups) != NUM_NODES - 1:
            raise fail(f"expected {NUM_NODES - 1} '+'-separated node groups, got {len(groups)}")
        ops: dict[int, str] = {}
        for target, group in enumerate(groups, start=1):
            if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
                raise fail(f"node {target}'s group {group!r} must start and end with '|'")
            tokens = group[1:-1].split("|")
            if len(tokens) != target:
                raise fail(f"node {target} needs {target} inputs, got {len(tokens)}")
            for source, token in enumerate(tokens):
                op, sep, origin = token.partition("~")
                if not sep or origin != str(source):
                    raise fail(f"input {token!r} of node {target} must read 'op~{source}'")
                if op not in OPS:
                    raise fail(f"unknown op {op!r}; choose from {', '.join(OPS)}")
                ops[edge_index(target, source)] = op
        return cls(tuple(ops[e] for e in range(len(EDGES))))

    def parameter_free_count(self) -> int:
        """How many of the 6 edges carry a weightless op (none, skip, pool)."""
        return sum(op in PARAMETER_FREE_OPS for op in self.ops)

    def has_input_output_path(self) -> bool:
        """Whether some path of non-``none`` edges leads from node 0 to node 3."""
        reached = {0}
        for (target, source), op in sorted(zip(EDGES, self.ops, strict=True)):
            if op != "none" and source in reached:
                reached.add(target)
        return NUM_NODES - 1 in reached


def all_genotypes() -> Iterator[Genotype]:
    """Every cell of the space (15,625), in lexicographic order of op codes."""
    for codes in itertools.product(range(len(OPS)), repeat=len(EDGES)):
        yield Genotype.from_codes(codes)
