"""One subtree of a count: the unit of work of every process, and the cut
of the tree into subtrees by pattern prefix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..checkpoint import prefix_from_key, prefix_key
from ..exceptions import SolverError
from . import settings
from .results import Found, OverBudget, pack_patterns
from .search import TreeSearch

__all__ = ["Subtree", "count_failure", "count_subtree", "frontier", "serial_order"]


@dataclass(frozen=True)
class Subtree:
    """What a worker sends back for one subtree: its regions (``thin`` of
    them thin), their packed patterns when recorded and, when it proved too
    large, the prefixes of the nodes it left unvisited."""

    patterns: np.ndarray | None
    regions: int
    lp_solves: int
    nodes: int
    complete: bool
    thin: int
    children: list[tuple[bool, ...]] | None = None


def count_subtree(
    problem, prefix, seed, deadline, node_budget, progress=None, *, record=True, found=None,
    split=None,
) -> Subtree:
    """Worker entry point: count the subtree below ``prefix``, returning its
    patterns if ``record`` (or putting them into ``found``, in process).

    Over ``node_budget`` nodes, or when the event ``split`` is set, the
    search stops: what it found is returned with the prefixes of the nodes
    it has not visited, as new subtrees, so no work is done twice.
    """
    rng = np.random.default_rng(seed)
    if found is None:
        found = Found(problem.n_hidden, problem.pattern_dtype, keep=record)
    search = TreeSearch(
        problem, rng, deadline=deadline, progress=progress, node_budget=node_budget, found=found,
        split=split,
    )
    remaining = None
    try:
        # The whole tree is searched as serially, with all the samples.
        tuning = settings.SETTINGS
        samples = tuning.subtree_samples if prefix else tuning.samples
        _, complete = search.run(prefix=prefix, samples=samples)
    except OverBudget as over:
        complete, remaining = True, over.remaining
    patterns = pack_patterns(found.rows()) if found.keep else None
    return Subtree(
        patterns, found.count, search.lp.solves, search.nodes, complete, search.thin, remaining
    )



def frontier(problem, rng, size, deadline):
    """Prefixes of the shallowest depth with at least ``size`` non-empty
    nodes (or the leaves, if there are fewer)."""
    solves = 0
    depth = 0
    while True:
        depth += 1
        search = TreeSearch(problem, rng, deadline=deadline)
        patterns, complete = search.run(stop_depth=depth)
        solves += search.lp.solves
        if not complete or patterns.shape[0] >= size or depth == len(problem.order):
            return patterns[:, list(problem.order[:depth])], complete, solves



def serial_order(key: str, pieces: Sequence[int]) -> tuple[int, ...]:
    """Sort key of a prefix whose units have ``pieces`` (1 for ReLU): the
    serial search visits a ReLU's active side first, maxout pieces in order."""
    states = prefix_from_key(key)
    return tuple(s if k > 1 else 1 - s for s, k in zip(states, pieces))



def count_failure(failures: dict, prefix: tuple, err: Exception) -> None:
    """Note that ``prefix``'s subtree failed with ``err``: raise it at once
    when running it again cannot help, a SolverError once it failed too often."""
    if isinstance(err, (SolverError, ValueError, TypeError)):
        raise err  # the same on any worker
    failures[prefix] = failures.get(prefix, 0) + 1
    if failures[prefix] > settings.SETTINGS.max_subtree_retries:
        msg = f"subtree {prefix_key(prefix)!r} failed {failures[prefix]} times: {err!r}"
        raise SolverError(msg) from err
