"""What a count returns (:class:`RegionCount`, :class:`Progress`), where a
search puts the regions it finds (:class:`Found`), and how it stops short
(:class:`Interrupted`, :class:`OverBudget`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..patterns import PatternWriter

__all__ = ["Found", "Interrupted", "OverBudget", "Progress", "RegionCount", "pack_patterns", "prefixes_of", "unpack_patterns"]


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running count, passed to the ``progress`` callback."""

    regions: int
    nodes: int
    lp_solves: int
    seconds: float


@dataclass(frozen=True)
class RegionCount:
    """The result of :func:`count_regions`.

    Attributes
    ----------
    regions : int
        Regions found. When ``complete`` is False (time limit or interrupt)
        this is a lower bound.
    complete : bool
        Whether the whole box was searched.
    seconds : float
        Wall time of the count.
    lp_solves : int
        Solver calls: LPs for ``"tree"`` and ``"milp"`` (the relaxations at
        the nodes of its branch-and-bound tree), MILPs for ``"milp-resolve"``.
    method : str
    tol : float
        The margin used (see the module docstring).
    n_stable : int
        Hidden units stable over the box at the margin ``tol`` (see
        :meth:`~pyregions.PreactivationBounds.stable_at`), never branched on.
    n_hidden : int
    thin : int
        Counted regions with no point at distance ``thin_tol`` from their
        walls: 0 when ``thin_tol <= tol``. When it is not 0, the count
        depends on the margin between ``tol`` and ``thin_tol``. A lower bound
        when ``complete`` is False; for the MILP methods, whose regions are
        checked once all are found, then 0 or a part of the regions checked.
    thin_tol : float
    milp_solves : int
        MILP solves: 1 for ``"milp"`` (0 when no unit splits the box), one
        per region and a last one for ``"milp-resolve"``, 0 for ``"tree"``.
    milp_nodes : int
        Branch-and-bound nodes of the MILP: of its one tree for ``"milp"``,
        HiGHS's over all its solves for ``"milp-resolve"``; 0 for ``"tree"``.
    patterns : array of uint8 or int8, or None
        With ``return_patterns=True``, one row per region. For a pure ReLU
        network the bool pattern over all hidden units (layer by layer)
        packed by ``np.packbits(axis=1)`` (uint8); with any maxout layer the
        int8 state of each unit, unpacked: 0 or 1 for a ReLU unit, the
        winning piece for a maxout unit (as
        :meth:`~pyregions.Network.activation_patterns`).
    """

    regions: int
    complete: bool
    seconds: float
    lp_solves: int
    method: str
    tol: float
    n_stable: int
    n_hidden: int
    thin: int = 0
    thin_tol: float = 0.0
    milp_solves: int = 0
    milp_nodes: int = 0
    patterns: np.ndarray | None = field(default=None, repr=False)

    @property
    def lp_solves_per_region(self) -> float:
        return self.lp_solves / max(self.regions, 1)

    def unpacked_patterns(self) -> np.ndarray:
        """The patterns as an array of shape (regions, n_hidden): bool for a
        pure ReLU network, int8 states with maxout layers."""
        if self.patterns is None:
            msg = (
                "patterns were not kept in memory: count with return_patterns=True, "
                "or read a patterns file with pyregions.read_patterns"
            )
            raise ValueError(msg)
        return unpack_patterns(self.patterns, self.n_hidden)


def pack_patterns(patterns: np.ndarray) -> np.ndarray:
    """Bool patterns bit-packed; int8 maxout states kept as they are."""
    return np.packbits(patterns, axis=1) if patterns.dtype == np.bool_ else patterns


def unpack_patterns(packed: np.ndarray, n_hidden: int) -> np.ndarray:
    if packed.dtype == np.int8:
        return packed.copy()
    return np.unpackbits(packed, axis=1, count=n_hidden).astype(bool)


def prefixes_of(patterns: np.ndarray) -> list[tuple]:
    """Rows of states as tuples: of bool for ReLU, of int with maxout."""
    return [tuple(row) for row in patterns.tolist()]


class Found:
    """Where a search puts the regions it finds: always counted; their
    patterns kept in memory (``keep``) or written to ``writer``, without
    the first ``drop`` columns (a slice's walls), or both dropped.
    """

    def __init__(self, n_hidden: int, dtype, *, keep: bool = True, drop: int = 0):
        self.n_hidden, self.dtype, self.keep, self.drop = n_hidden, dtype, keep, drop
        self.count = 0
        self.blocks: list[np.ndarray] = []
        self.writer: PatternWriter | None = None

    @property
    def records(self) -> bool:
        """Whether the patterns are wanted at all."""
        return self.keep or self.writer is not None

    def add(self, patterns: np.ndarray) -> None:
        """Add regions, one pattern a row."""
        self.count += patterns.shape[0]
        if self.keep:
            self.blocks.append(patterns.copy())
        if self.writer is not None:
            self.writer.write(patterns[:, self.drop :])

    def rows(self) -> np.ndarray:
        """The patterns kept, one row each, every column."""
        return np.concatenate(self.blocks) if self.blocks else np.empty((0, self.n_hidden), self.dtype)

    def patterns(self) -> np.ndarray:
        """The patterns kept, one row each, without the dropped columns."""
        return self.rows()[:, self.drop :]


class Interrupted(Exception):
    """Raised inside the search when the time limit is reached, or when the
    parent of a worker process asks it to stop."""


class OverBudget(Exception):
    """Raised inside the search of a subtree that has visited too many nodes.

    ``remaining`` collects, as it unwinds, the prefixes of the nodes not yet
    visited, in the order the search would have visited them: the node that
    tripped the budget, then the later siblings on its path, deepest first.
    """

    def __init__(self, prefix: tuple):
        super().__init__()
        self.remaining = [prefix]
