"""The tree search's tuning constants, in one frozen :class:`SearchSettings`.

None of them changes a count: they trade time against memory, or decide how
finely a count is cut into subtrees. The search reads :data:`SETTINGS` when
it starts, so a test (or an experiment) can replace it with
``dataclasses.replace(SETTINGS, ...)``. How the values were chosen is told
in ``docs/performance.md`` and ``docs/design-notes.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._kernels import simplex as _simplex

__all__ = ["COLD_COMPILE_SECONDS", "DEFAULT_THIN_TOL", "DEFAULT_TOL", "SETTINGS", "SearchSettings"]

DEFAULT_TOL = 1e-8
DEFAULT_THIN_TOL = 1e-6
# About how long the kernels take to compile, once, on one core: the first
# count after an install or an edit of their sources (docs/performance.md).
COLD_COMPILE_SECONDS = 25


@dataclass(frozen=True)
class SearchSettings:
    """Tuning constants of the tree search and of its subtree driver."""

    # Random points of the box drawn as the first witnesses of a search.
    samples: int = 4096
    # A subtree's region is a sliver of the box: most samples would miss it.
    subtree_samples: int = 256
    # Seconds between two progress reports.
    progress_interval: float = 0.25
    # Subtrees per worker at the start, on an executor; large ones are cut
    # further as they show.
    subtrees_per_job: int = 8
    # With local jobs, the count runs alone until it has searched this many
    # nodes (about a second on MNIST 784-11-11): a short count starts no worker.
    fan_out_nodes: int = 50_000
    # A subtree asked to split first searches this many nodes of its own.
    split_after_nodes: int = 5_000
    # Subtrees handed to each local worker at once: one running, one waiting.
    queued_per_worker: int = 2
    # A subtree over this many nodes (about six seconds) hands its unvisited
    # nodes back as new subtrees, so its regions reach progress and checkpoint.
    split_nodes: int = 300_000
    # A subtree whose worker fails is re-run up to this many times.
    max_subtree_retries: int = 3
    # With a checkpoint, cut the tree at least this finely, and save finished
    # subtrees at most this often (seconds).
    checkpoint_subtrees: int = 64
    checkpoint_interval: float = 2.0
    # HiGHS decides far more precisely than the margin (1e-10 is the least it takes).
    lp_feasibility_tolerance: float = 1e-10
    lp_iteration_limit: int = 20_000
    # Beyond this, the Numba simplex hands an LP to HiGHS, which takes about
    # as long as 2,000 of its iterations on a 784-24-24 network's LP.
    simplex_iteration_limit: int = 2_000
    # The simplex works through the first layer's weights only below this condition number.
    factor_condition_limit: float = 1e8
    # Points put across the tight rows of an LP's vertex: up to this many rows
    # flipped at once, and at most this many points per vertex.
    across_flips: int = 3
    across_capacity: int = 1024
    # Points kept across one row for its second child: bounds memory by depth.
    across_kept: int = 8192
    # Proofs of emptiness kept per unit and side (the latest).
    proofs_kept: int = 64
    # A simplex point must satisfy its rows to its own tolerance, with room
    # for the rounding of a recomputation.
    simplex_check_tolerance: float = 2 * _simplex.PRIMAL_TOLERANCE
    # The ReLU layers go to the compiled search (off: the Python search
    # alone, to check one against the other).
    compiled_search: bool = True
    # A serial count on two free coordinates clips polygons instead of
    # solving LPs (off: the compiled LP search, to check one against the other).
    polygon_search: bool = True


SETTINGS = SearchSettings()
