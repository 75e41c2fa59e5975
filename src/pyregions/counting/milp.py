"""The ``"milp"`` and ``"milp-resolve"`` methods: the regions enumerated by
:mod:`pyregions.milp`, then checked for thinness as the tree search checks
its leaves."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..milp import MilpEnumeration, enumerate_regions_milp
from ..patterns import PatternWriter
from .problem import TreeProblem
from .results import Found, Progress
from .search import TreeSearch

__all__ = ["MILP_SEARCHES", "count_with_milp"]

# The MILP's search for each method that uses it (pyregions.milp.SEARCHES).
MILP_SEARCHES = {"milp": "tree", "milp-resolve": "resolve"}


def count_with_milp(
    network, lower, upper, problem: TreeProblem, pre_bounds, walls, method: str, rng, *,
    deadline, start, progress, keep: bool, patterns_file,
) -> tuple[Found, bool, int, int, MilpEnumeration]:
    """Count by ``method``'s MILP over the box ``[lower, upper]`` of
    ``network`` (cut by ``walls``, a slice's faces); return ``(found,
    complete, solves, thin, milp)``, ``solves`` as
    :attr:`~pyregions.RegionCount.lp_solves` counts them."""
    remaining = None if deadline is None else max(deadline - time.time(), 1e-3)
    milp = enumerate_regions_milp(
        network, lower, upper, pre_bounds,
        tol=problem.tol, time_limit=remaining, seed=int(rng.integers(2**31 - 1)),
        search=MILP_SEARCHES[method], domain=walls,
        progress=None if progress is None else _milp_progress(progress, start),
    )
    found = Found(network.n_hidden, milp.patterns.dtype, keep=keep)
    try:
        if patterns_file is not None:
            found.writer = PatternWriter(patterns_file, network.n_hidden, milp.patterns.dtype == np.bool_)
        found.add(milp.patterns)
        solves = milp.lp_solves if method == "milp" else milp.milp_solves
        # A stopped enumeration is not held up by checks of its regions.
        thin, complete = _thin_of(problem, milp.patterns, rng, deadline) if milp.complete else (0, False)
    finally:
        if found.writer is not None:
            found.writer.close()
    return found, complete, solves, thin, milp


def _milp_progress(progress: Callable[[Progress], None], start: float):
    """The MILP's reports of (regions, nodes, solves) as :class:`Progress`."""

    def report(regions: int, nodes: int, solves: int) -> None:
        progress(Progress(regions, nodes, solves, time.perf_counter() - start))

    return report


def _thin_of(problem: TreeProblem, patterns: np.ndarray, rng, deadline) -> tuple[int, bool]:
    """How many of ``patterns`` (regions found by another method) are thin,
    each decided as the tree search decides its leaves, and whether all were
    checked before the deadline or Ctrl-C."""
    if not problem.checks_thin:
        return 0, True
    walls = problem.n_hidden - patterns.shape[1]
    thin = 0
    try:
        for pattern in patterns:
            full = np.concatenate([np.ones(walls, pattern.dtype), pattern])
            search = TreeSearch(problem, rng, deadline=deadline)
            _, checked = search.run(prefix=tuple(full[list(problem.order)].tolist()), samples=0)
            if not checked:
                return thin, False
            thin += search.thin
    except KeyboardInterrupt:  # between two searches (each catches its own)
        return thin, False
    return thin, True
