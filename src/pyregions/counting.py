"""Exact counting of linear regions over an input box.

A *region* is an activation pattern of the hidden units whose set in the box
has nonempty interior. The count is taken with a tolerance ``tol``, a
Euclidean distance in input space: a pattern counts when its set contains a
point of the box at distance at least ``tol`` from the hyperplane of every
unit that splits it,

.. math::

    \\sigma_i \\, (c_i^\\top x + d_i) \\ge \\mathrm{tol} \\, \\lVert c_i \\rVert_2,
    \\qquad \\sigma_i = +1 \\text{ (active) or } -1 \\text{ (inactive)},

where :math:`c_i^\\top x + d_i` is unit *i*'s pre-activation on the region.
A unit whose pre-activation is constant on the region (:math:`c_i = 0`, for
instance when every unit it reads is inactive) is no hyperplane there: its
state is the sign of :math:`d_i`, 0 counting as inactive. A unit that is
stable over the whole box (its pre-activation bounds do not straddle 0) is no
wall of any region and is never branched on. Regions thinner than ``tol``
are not counted; in general position and with ``tol`` small this is the
paper's count.

Scale
-----
Every decision of the search is taken in input units: each row put on the
search path is divided by its norm, :math:`\\sigma_i (c_i^\\top x + d_i) /
\\lVert c_i \\rVert_2 \\ge \\mathrm{tol}`, so the LPs (decided to 1e-10, by
the simplex and by HiGHS), the Farkas proofs of emptiness, the points put
across a vertex and the witnesses all measure distances, whatever the size
of the weights. Hence the count, and every pattern, is unchanged when a
hidden unit's incoming weights and bias are multiplied by any :math:`s > 0`
and its outgoing weights by :math:`1/s` (tested for :math:`s` from 1e-8 to
1e8), and networks with tiny weights (1e-6 per layer) are counted exactly.

"Constant on the region" is decided relative to scale too: a row is
constant when :math:`\\lVert c_i \\rVert \\le 10^{-12} \\sum_j |W_{ij}|
\\lVert c_j \\rVert` (the sum over the units of the layer before that are
active on the region, or the row's own norm in the first layer), that is
when the weights summed into it cancel to within rounding; such a row is
the residue of an exact cancellation, not a hyperplane. A genuinely small
row, such as a product of small weights, is far above that and is split.

The precision is absolute, in input units: at a point :math:`x` a unit
row's activity is computed to about :math:`10^{-16} \\lVert x \\rVert`,
so in a box with coordinates up to 1e4 to about 1e-12, still below the
LPs' 1e-10, itself 100 times below the default ``tol`` (1e-8). Keep
``tol`` at least 1e-8 and, in a box much wider than 1e4, at least about
1e-12 times its width.

Thin regions
------------
A region counted at ``tol`` that has no point at distance ``thin_tol``
(default 1e-6) from its walls is *thin* (:attr:`RegionCount.thin`): its
count depends on the margin chosen between the two. A leaf is shown not
thin by a witness that far from every row of its path (the points put
across a vertex are put sixteen times ``thin_tol`` from its rows for this, and
an LP's vertex is moved as far inside its own region); only the others
cost an LP, with the rows raised to ``thin_tol``. With ``thin_tol <= tol``
nothing is thin and nothing is checked.

A maxout unit's state is its winning piece. Its region for piece *p* is

.. math::

    a_p(x) - a_q(x) \\ge \\mathrm{tol} \\, \\lVert c_p - c_q \\rVert_2
    \\quad \\text{for every other piece } q \\text{ that can win in the box,}

the same margin from each tie hyperplane; a piece parallel to *p* on the
region is no hyperplane there (the larger constant wins, the lower index on
a tie), and a piece that never wins in the box
(:attr:`~pyregions.PreactivationBounds.never_wins`) is never branched on. A
ReLU is the rank-2 case with pieces :math:`(0, a)`, kept on its own faster
path.

Methods
-------
``"tree"`` (default)
    Depth-first search over the units in layer order. A node fixes the states
    of the units so far, so its region is a polytope and the next unit's
    pre-activation (each piece's, for maxout) is affine on it. A ReLU node
    has two children, a maxout node one per candidate piece. Each child is
    shown non-empty by a *witness* (a point known to lie inside it with the
    margin above) whenever possible: random samples of the box, the points
    of earlier LPs, and points just across the tight rows of those LPs'
    vertices, in the regions on the other side of one to three of the path's
    units, which the search has still to visit. Only a child with no
    witness costs an LP, solved by the dense dual simplex of
    :mod:`pyregions._simplex`, warm-started from an earlier LP's basis
    (HiGHS takes the rare LPs it leaves undecided). An empty child costs an
    LP too, but the Farkas proof of its emptiness is kept, checked, and
    reused at every later node it still covers. In a ReLU network the
    search runs as one compiled loop (:mod:`pyregions._layer_search`), from
    the root, or from the first of the deepest layers it can take.
``"milp"``
    The paper's mixed-integer formulation (:mod:`pyregions.milp`), every
    region enumerated in one branch-and-bound tree over its binaries, HiGHS
    solving the nodes' LP relaxations: the faithful reference.
``"milp-resolve"``
    The same formulation solved by HiGHS's MIP solver once per region, each
    region cut off by a no-good row before the next solve: the slowest, a
    check by a complete MILP solver.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import highspy
import numpy as np

from . import _highs, _kernels, _layer_search, _simplex, _workers
from ._validation import check_int, check_positive, check_seed
from .checkpoint import (
    CheckpointState,
    SubtreeResult,
    fingerprint,
    prefix_from_key,
    prefix_key,
)
from .domain import Box
from .exceptions import SolverError, WorkerStartError
from .milp import enumerate_regions_milp
from .network import Network
from .patterns import PatternWriter
from .slices import Slice
from .tightening import PreactivationBounds, check_network_and_box, preactivation_bounds

__all__ = [
    "COLD_COMPILE_SECONDS", "DEFAULT_THIN_TOL", "DEFAULT_TOL", "Progress", "RegionCount",
    "count_regions", "kernels_compiled",
]

DEFAULT_TOL = 1e-8
# About how long the kernels take to compile, once, on one core: the first
# count after an install or an edit of their sources (docs/performance.md).
COLD_COMPILE_SECONDS = 30
DEFAULT_THIN_TOL = 1e-6
DEFAULT_SAMPLES = 4096
# A subtree's region is a sliver of the box: most samples would miss it,
# and drawing them cost more than the LPs they saved.
SUBTREE_SAMPLES = 256
METHODS = ("tree", "milp", "milp-resolve")
# The MILP's search for each method that uses it (pyregions.milp.SEARCHES).
MILP_SEARCHES = {"milp": "tree", "milp-resolve": "resolve"}
PROGRESS_INTERVAL = 0.25
# Code in _TreeProblem.stable of a unit that is a wall of the domain (a face
# of a slice of the box): only its active side is searched.
WALL = 2
# Faces of a slice's box closer than this to its bounding box are kept as walls.
WALL_MARGIN = 1e-9
# Subtrees per worker at the start, on an executor; large ones are cut
# further as they show.
SUBTREES_PER_JOB = 8
# With local jobs, the count runs alone in this process until it has searched
# this many nodes (about a second on MNIST 784-11-11): a count that ends
# sooner never pays for starting workers.
FAN_OUT_NODES = 50_000
# A subtree asked to split (someone has run out of work) first searches at
# least this many nodes of its own, so that subtrees are not cut too finely.
SPLIT_AFTER_NODES = 5_000
# Subtrees handed to each local worker at once: one running, one waiting.
QUEUED_PER_WORKER = 2
# A subtree on an executor, or on a local process once there are workers,
# that visits more nodes than this (about six seconds of work) stops, and
# hands the nodes it has not visited back as new subtrees: so its regions
# reach the progress and the checkpoint. Smaller, and more of the work is redone in each subtree
# (witnesses, proofs, bases): a 2-core count of MNIST 784-11-11 took 19 s
# at 100,000 and 17 to 18 s at 300,000 and at 1,000,000, against 28 s serially.
SPLIT_NODES = 300_000
# A subtree whose worker fails (lost process, killed Dask worker) is re-run
# up to this many times before the count gives up.
MAX_SUBTREE_RETRIES = 3
# With a checkpoint, cut the tree at least this finely, so that an interrupted
# run loses little, and save finished subtrees at most this often (seconds).
CHECKPOINT_SUBTREES = 64
CHECKPOINT_INTERVAL = 2.0
# LPs decide at the margin tol; HiGHS must be far more precise than that
# (1e-10 is the smallest tolerance HiGHS accepts).
LP_FEASIBILITY_TOLERANCE = 1e-10
LP_ITERATION_LIMIT = 20_000
# Beyond this, the Numba simplex hands an LP to HiGHS.
SIMPLEX_ITERATION_LIMIT = 500
# The simplex works through the first layer's weights only if their
# condition number is below this.
FACTOR_CONDITION_LIMIT = 1e8
# Points put across the tight rows of an LP's vertex: up to this many rows
# flipped at once (1 to 4: 0.87, 0.77, 0.73, 0.72 LPs per region over the
# first 30 s of MNIST 784-11-11, before the wider reuse of proofs), and at
# most this many points per vertex.
ACROSS_FLIPS = 3
ACROSS_CAPACITY = 1024
# Points kept across one row for its second child: a cap keeps the search's
# memory bounded by its depth (see docs/performance.md).
ACROSS_KEPT = 8192
# Proofs of emptiness kept per unit and side (the latest), under the same
# earlier layers: each check tries them all. On MNIST 784-11-11 a side
# collected 27 on average; without a cap, a long first layer could collect
# one per node.
PROOFS_KEPT = 64
# A point of the simplex must satisfy the rows to its own tolerance, with
# room for the rounding of a recomputation.
SIMPLEX_CHECK_TOLERANCE = 2 * _simplex.PRIMAL_TOLERANCE


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
        return _unpack(self.patterns, self.n_hidden)


def count_regions(
    network: Network,
    box: Box,
    *,
    method: str = "tree",
    tol: float = DEFAULT_TOL,
    thin_tol: float = DEFAULT_THIN_TOL,
    time_limit: float | None = None,
    seed=None,
    jobs: int = 1,
    executor: Executor | None = None,
    return_patterns: bool = False,
    patterns: str | os.PathLike | None = None,
    progress: Callable[[Progress], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    through=None,
) -> RegionCount:
    """Count the linear regions of ``network`` over ``box``.

    Parameters
    ----------
    network : Network
    box : Box
        A bounded input domain; its dimension must match the network.
    method : {"tree", "milp", "milp-resolve"}, default="tree"
        ``"tree"`` is the fast exact search; ``"milp"`` the paper's MILP,
        enumerated in one branch-and-bound tree; ``"milp-resolve"`` the same
        MILP re-solved by HiGHS once per region (see the module docstring).
    tol : float, default=1e-8
        Margin, a distance in input units: regions thinner than this are not
        counted (see the module docstring). Keep it at or above 1e-8, 100
        times the precision to which the LPs are decided (1e-10).
    thin_tol : float, default=1e-6
        Regions counted with no point at this distance from their walls are
        reported as ``thin``: a region with such a witness costs nothing
        more, any other one LP.
    time_limit : float, optional
        Seconds; when reached the count stops and ``complete`` is False.
    seed : None, int or numpy.random.Generator
        Seeds the witness samples and the LPs' costs. The count does not
        depend on it.
    jobs : int, default=1
        Processes for ``"tree"``, this one included. The count starts here
        alone and starts ``jobs - 1`` worker processes only once it has
        searched ``FAN_OUT_NODES`` nodes (about a second) without finishing;
        the rest of the tree is then cut into subtrees by pattern prefix,
        cut further whenever a process runs out of work. The result is
        identical whatever ``jobs``. The workers import the main script
        again: call this under ``if __name__ == "__main__":``.
    executor : concurrent.futures.Executor, optional
        Run the subtrees on this executor instead (a process pool, or
        ``dask.distributed.Client.get_executor()``); ``jobs`` then sets how
        finely the tree is cut. The executor is not shut down.
    return_patterns : bool, default=False
        Keep the pattern of every region in memory (bit-packed), in
        ``RegionCount.patterns``. Without it (and without ``patterns``) the
        count keeps no per-region state: its memory does not grow with the
        number of regions.
    patterns : path-like, optional
        Write the pattern of every region to this file as it is found (as
        subtrees finish, when the tree is cut), for counts too large to hold
        in memory; read it back with :func:`pyregions.read_patterns`. Each
        region is written once, also with ``jobs``, ``executor`` and
        ``checkpoint`` (a resumed count cuts the file back to the finished
        subtrees first). An interrupted count leaves the patterns found so
        far.
    progress : callable, optional
        Called with a :class:`Progress` about four times a second (and after
        each finished subtree when the tree is cut; before each MILP solve
        for ``"milp-resolve"``).
    through : array_like, shape (2 or 3, n_inputs), optional
        Count only in the slice of the box by the line (2 points) or plane
        (3 points) through these points, e.g. MNIST images: the regions of
        the network restricted to the slice, a region counting when its part
        of the slice has nonempty interior within the slice. Distances (and
        ``tol``) are measured in the slice, in input units. The box's faces
        become walls of the slice; the first layer must be ReLU.
    checkpoint : path-like, optional
        For ``"tree"``: keep the finished subtrees in this file (replaced
        atomically every few seconds and at the end). If the file exists the
        count resumes from it, redoing only unfinished subtrees, and ends
        with exactly the uninterrupted total. A checkpoint of another
        network, box or ``tol`` is refused.

    Returns
    -------
    RegionCount

    Raises
    ------
    ShapeError
        When the box does not match the network.
    ValueError
        For an unknown method or a non-positive ``tol`` or ``thin_tol``.
    SolverError
        When neither the simplex nor HiGHS can decide an LP.
    CheckpointError
        When ``checkpoint`` is unreadable or belongs to another count.
    WorkerStartError
        When the worker processes for ``jobs`` stop as they start, or when
        this is called in one of them as it imports a script with no main
        guard.

    Notes
    -----
    Ctrl-C (KeyboardInterrupt) stops the count cleanly: the result has
    ``complete=False`` and the regions found so far, and the checkpoint, if
    any, keeps every finished subtree. With ``jobs``, the workers stop too
    and hand back what their subtrees found; on an ``executor``, the
    subtrees still running are cancelled.

    Examples
    --------
    >>> import numpy as np
    >>> from pyregions import Box, Network, count_regions
    >>> net = Network([np.array([[1.0], [-1.0]])], [np.array([0.0, 0.5])])
    >>> count_regions(net, Box(-1, 1)).regions
    3
    """
    check_network_and_box(network, box)
    if method not in METHODS:
        msg = f"method must be one of {METHODS}, got {method!r}"
        raise ValueError(msg)
    tol = check_positive(tol, "tol")
    thin_tol = check_positive(thin_tol, "thin_tol")
    jobs = check_int(jobs, "jobs", minimum=1)
    if jobs > 1 and executor is None and method == "tree":
        _refuse_in_starting_worker(jobs)
    if checkpoint is not None and method != "tree":
        msg = f"checkpoints are kept by the tree search only, not by method {method!r}"
        raise ValueError(msg)
    if return_patterns and patterns is not None:
        msg = "choose return_patterns=True (in memory) or patterns=FILE (on disk), not both"
        raise ValueError(msg)
    if time_limit is not None:
        time_limit = check_positive(time_limit, "time_limit", unit=" of seconds")
    lower, upper = box.bounds(network.n_inputs)
    rng = check_seed(seed)
    start = time.perf_counter()
    # Wall-clock, so that worker processes read the same deadline.
    deadline = None if time_limit is None else time.time() + time_limit
    original = network
    walls = None
    if through is not None:
        plane = Slice.through(through, lower, upper)
        network, lower, upper = plane.network(network), plane.lower, plane.upper
        box = Box(lower, upper)
        walls = plane.walls(WALL_MARGIN)
    pre_bounds = preactivation_bounds(network, box, method="lp")
    problem = _TreeProblem.build(network, lower, upper, pre_bounds, tol, thin_tol=thin_tol)
    if walls is not None:
        problem = problem.with_walls(*walls)
    milp = None
    if method in MILP_SEARCHES:
        remaining = None if deadline is None else max(deadline - time.time(), 1e-3)
        milp = enumerate_regions_milp(
            network, lower, upper, pre_bounds, tol=tol, time_limit=remaining,
            seed=int(rng.integers(2**31 - 1)), search=MILP_SEARCHES[method], domain=walls,
            progress=None if progress is None else _milp_progress(progress, start),
        )
        found = _Found(network.n_hidden, milp.patterns.dtype, keep=return_patterns)
    else:
        found = _Found(
            problem.n_hidden, problem.pattern_dtype, keep=return_patterns,
            drop=problem.n_hidden - network.n_hidden,
        )
    try:
        if milp is not None:
            if patterns is not None:
                found.writer = PatternWriter(patterns, network.n_hidden, milp.patterns.dtype == np.bool_)
            found.add(milp.patterns)
            solves = milp.lp_solves if method == "milp" else milp.milp_solves
            # A stopped enumeration is not held up by checks of its regions.
            thin, complete = _thin_of(problem, milp.patterns, rng, deadline) if milp.complete else (0, False)
        else:
            complete, solves, thin = _count_tree(
                problem, rng, found, jobs=jobs, executor=executor, deadline=deadline,
                progress=progress, checkpoint=checkpoint, patterns_file=patterns,
            )
    finally:
        if found.writer is not None:
            found.writer.close()
    network = original
    return RegionCount(
        regions=found.count,
        complete=complete,
        seconds=time.perf_counter() - start,
        lp_solves=solves,
        method=method,
        tol=float(tol),
        n_stable=pre_bounds.n_stable_at(tol),
        n_hidden=network.n_hidden,
        thin=thin,
        thin_tol=float(thin_tol),
        milp_solves=0 if milp is None else milp.milp_solves,
        milp_nodes=0 if milp is None else milp.nodes,
        patterns=_pack(found.patterns()) if return_patterns else None,
    )


def kernels_compiled() -> bool:
    """Whether the search's compiled kernels are in Numba's cache: if not,
    the next count first compiles them, once, for about
    ``COLD_COMPILE_SECONDS`` seconds of one core.

    The cache lies beside the sources, or in ``NUMBA_CACHE_DIR`` when set.
    """
    return _layer_search.cached()


def _main_guard_hint(jobs: int) -> str:
    return (
        f"count_regions(..., jobs={jobs}) starts worker processes, and each imports the "
        "main script again: put the script's code under `if __name__ == \"__main__\":`, "
        "or count with jobs=1"
    )


def _refuse_in_starting_worker(jobs: int) -> None:
    """Refuse to count with workers in a worker process that is still
    importing the main script (multiprocessing's own flag for that phase):
    the script has no main guard, and would start workers without end."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        msg = f"called while a worker process imports the main script: {_main_guard_hint(jobs)}"
        raise WorkerStartError(msg)


def _refuse_unguarded_main(jobs: int) -> None:
    """Refuse to start workers while the main script's top-level code runs
    outside its main guard: each worker would run that code again."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    frame = inspect.currentframe()
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if path is None or frame is None:
        return  # interactive, or called from no script: the workers import nothing to run
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return
    line = frame.f_lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_guard(node.test) and node.lineno <= line <= node.end_lineno:
            return
    msg = f"{path}, line {line}: {_main_guard_hint(jobs)}"
    raise WorkerStartError(msg)


def _is_main_guard(test: ast.expr) -> bool:
    """Whether ``test`` is ``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = {side.id for side in sides if isinstance(side, ast.Name)}
    constants = {side.value for side in sides if isinstance(side, ast.Constant)}
    return names == {"__name__"} and constants == {"__main__"}


def _milp_progress(progress: Callable[[Progress], None], start: float):
    """The MILP's reports of (regions, nodes, solves) as :class:`Progress`."""

    def report(regions: int, nodes: int, solves: int) -> None:
        progress(Progress(regions, nodes, solves, time.perf_counter() - start))

    return report


def _thin_of(problem: _TreeProblem, patterns: np.ndarray, rng, deadline) -> tuple[int, bool]:
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
            search = _TreeSearch(problem, rng, deadline=deadline)
            _, checked = search.run(prefix=tuple(full[list(problem.order)].tolist()), samples=0)
            if not checked:
                return thin, False
            thin += search.thin
    except KeyboardInterrupt:  # between two searches (each catches its own)
        return thin, False
    return thin, True


def _pack(patterns: np.ndarray) -> np.ndarray:
    """Bool patterns bit-packed; int8 maxout states kept as they are."""
    return np.packbits(patterns, axis=1) if patterns.dtype == np.bool_ else patterns


def _unpack(packed: np.ndarray, n_hidden: int) -> np.ndarray:
    if packed.dtype == np.int8:
        return packed.copy()
    return np.unpackbits(packed, axis=1, count=n_hidden).astype(bool)


def _prefixes(patterns: np.ndarray) -> list[tuple]:
    """Rows of states as tuples: of bool for ReLU, of int with maxout."""
    return [tuple(row) for row in patterns.tolist()]


class _Found:
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


def _count_tree(problem, rng, found, *, jobs, executor, deadline, progress, checkpoint, patterns_file):
    """Run the tree search in one piece, or cut into subtrees, into ``found``.

    Returns ``(complete, lp_solves, thin)``; the patterns kept in memory
    come in the serial search's order however the tree was cut.
    """
    if jobs == 1 and executor is None and checkpoint is None:
        if patterns_file is not None:
            found.writer = PatternWriter(patterns_file, problem.n_hidden - found.drop, not problem.maxout)
        search = _TreeSearch(problem, rng, deadline=deadline, progress=progress, found=found)
        _, complete = search.run()
        return complete, search.lp.solves, search.thin
    run = _SubtreeRun(problem, rng, jobs, executor, deadline, progress, checkpoint)
    return run.run(found, patterns_file)


def _serial_order(key: str, pieces: Sequence[int]) -> tuple[int, ...]:
    """Sort key of a prefix whose units have ``pieces`` (1 for ReLU): the
    serial search visits a ReLU's active side first, maxout pieces in order."""
    states = prefix_from_key(key)
    return tuple(s if k > 1 else 1 - s for s, k in zip(states, pieces))


class _SubtreeRun:
    """A count cut into subtrees by pattern prefix, run in or out of process.

    Subtrees are disjoint and together cover the tree, so their counts add up
    to the serial total whatever runs them. A subtree can stop early and come
    back with what it found and the nodes it left unvisited, as new subtrees
    (later in the serial order than what it found): on an executor when it
    exceeds ``SPLIT_NODES`` nodes, locally when it exceeds ``FAN_OUT_NODES``
    before the workers start or when another process runs out of work. So no
    worker is left with a giant tail and no work is redone; a subtree whose
    worker fails is re-run, and each result is recorded under its prefix
    once, so nothing is counted twice.
    """

    def __init__(self, problem, rng, jobs, executor, deadline, progress, checkpoint):
        self.problem, self.rng, self.jobs = problem, rng, jobs
        self.executor, self.deadline, self.progress = executor, deadline, progress
        self.checkpoint = checkpoint
        self.partial: list[_Subtree] = []  # unfinished subtrees: a lower bound
        self.started = time.perf_counter()
        self.last_save = self.started
        self.found: _Found | None = None
        self.writer: PatternWriter | None = None

    def run(self, found: _Found, patterns_file) -> tuple[bool, int, int]:
        """Count into ``found``, writing patterns to ``patterns_file`` if
        given; return ``(complete, lp_solves, thin)``."""
        self.found = found
        resumed = self.checkpoint is not None and Path(self.checkpoint).exists()
        state = self._initial_state(patterns_file)
        if state is not None and patterns_file is not None:
            self.writer = PatternWriter(
                patterns_file, self.problem.n_hidden - found.drop, not self.problem.maxout,
                keep=sum(r.regions for r in state.finished.values()) if resumed else None,
            )
        complete = state is not None
        try:
            if complete and state.pending:
                try:
                    if self.executor is None:
                        complete = self._run_local(state)
                    else:
                        complete = self._run_on_executor(state)
                finally:
                    self._save(state, force=True)
            return self._assemble(state, complete)
        finally:
            if self.writer is not None:
                self.writer.close()

    def _initial_state(self, patterns_file) -> CheckpointState | None:
        problem = self.problem
        kept = "file" if patterns_file is not None else "memory" if self.found.keep else "none"
        key = fingerprint(
            *problem.weights, *problem.biases, problem.lower, problem.upper, problem.stable,
            np.asarray(problem.order), *(c for c in problem.candidates if c is not None),
            extra=f"tol={problem.tol!r},thin_tol={problem.thin_tol!r};patterns={kept}",
        )
        if self.checkpoint is not None and Path(self.checkpoint).exists():
            return CheckpointState.load(self.checkpoint, key)
        # Locally the whole tree is one subtree, cut as it runs.
        size = SUBTREES_PER_JOB * self.jobs if self.executor is not None else 1
        if self.checkpoint is not None:
            size = max(size, CHECKPOINT_SUBTREES)
        prefixes, solves = [()], 0
        if size > 1:
            cut, complete, solves = _frontier(problem, self.rng, size, self.deadline)
            if not complete:
                return None
            prefixes = _prefixes(cut)
        state = CheckpointState(key, problem.n_hidden, prefixes, packed=not problem.maxout)
        state.frontier_solves = solves
        self._save(state, force=True)
        return state

    def _run_local(self, state: CheckpointState) -> bool:
        """Count the pending subtrees in this process: alone until it has
        searched ``FAN_OUT_NODES`` nodes without finishing them, then with
        ``jobs - 1`` :class:`_Workers` beside it.

        This process never waits for the workers to start: it counts on,
        and hands them subtrees once they are up. Whoever runs out of work
        asks the others to split their subtrees, so none keeps a long tail.
        """
        todo = deque(state.pending)
        workers = None
        alone = FAN_OUT_NODES  # nodes left before the workers start
        try:
            while todo or (workers is not None and workers.running):
                if workers is not None:
                    if not self._collect(state, workers, todo):
                        self._gather(state, workers)
                        return False
                    if not todo:
                        continue
                    workers.call_when_idle()
                prefix = todo.popleft()
                if workers is not None:
                    part = self._count_here(state, prefix, SPLIT_NODES, workers.wanted)
                elif self.jobs > 1:
                    part = self._count_here(state, prefix, max(alone, 1), None)
                    alone -= part.nodes
                else:
                    part = self._count_here(state, prefix, None, None)
                if part.children is not None:
                    # This process goes on where it stopped.
                    todo.extendleft(reversed(part.children))
                    if workers is None and self.jobs > 1:
                        _refuse_unguarded_main(self.jobs)
                        workers = _Workers(
                            self.jobs - 1, self.problem, self.found.keep or self.writer is not None,
                            self.deadline, self._seed,
                        )
                if not self._take(state, prefix, part):
                    if workers is not None:
                        self._gather(state, workers)
                    return False
        except KeyboardInterrupt:
            # Between two subtrees: what is recorded stands (_take is atomic).
            if workers is not None:
                self._gather(state, workers)
            return False
        finally:
            if workers is not None:
                workers.close()
        return True

    def _count_here(self, state, prefix, node_budget, split) -> _Subtree:
        """Count ``prefix``'s subtree in this process, its patterns straight
        to the file."""
        report = None if self.progress is None else self._after(self._summary(state))
        found = _Found(
            self.problem.n_hidden, self.problem.pattern_dtype,
            keep=self.found.keep, drop=self.found.drop,
        )
        found.writer = self.writer
        return _count_subtree(
            self.problem, prefix, self._seed(), self.deadline, node_budget, report, found=found,
            split=split,
        )

    def _collect(self, state, workers: _Workers, todo: deque) -> bool:
        """Record what the workers have finished and hand them more from
        ``todo``; with nothing left to count here, ask them to split and wait
        for one. False when the count stops (time limit, Ctrl-C)."""
        idle = not todo
        if idle:
            workers.split_request.set()
        try:
            finished = workers.finished(todo, wait_for_one=idle)
        except KeyboardInterrupt:
            return False
        going = True
        for prefix, part in finished:
            if part.children is not None:
                todo.extend(part.children)
            going = self._take(state, prefix, part) and going
        if todo:
            workers.split_request.clear()
        if going:
            workers.feed(todo)
        return going

    def _gather(self, state, workers: _Workers) -> None:
        """Record what the workers hold when the count stops: asked to
        split, each hands back what it found within a few milliseconds."""
        workers.split_request.set()
        for future in workers.running:
            future.cancel()  # those not started yet
        while workers.running:
            for prefix, part in workers.finished(None, wait_for_one=True):
                self._take(state, prefix, part)

    def _take(self, state, prefix, part: _Subtree) -> bool:
        """Record a subtree's result, whole even on Ctrl-C (a checkpoint
        saved half-way would count it twice); False if it stopped short."""
        with _workers.sigint_blocked():
            if part.children is not None:
                # Pending before finished: a checkpoint saved in between must
                # not lose the unvisited nodes.
                state.pending.extend(part.children)
            elif not part.complete:
                self.partial.append(part)
                return False
            self._finish(state, prefix, part)
            return True

    def _run_on_executor(self, state: CheckpointState) -> bool:
        executor = self.executor
        failures: dict[tuple[bool, ...], int] = {}
        running = {}

        def submit(prefix):
            future = executor.submit(
                _count_subtree, self.problem, prefix, self._seed(), self.deadline, SPLIT_NODES,
                record=self.found.keep or self.writer is not None,
            )
            running[future] = prefix

        complete = True
        try:
            for prefix in state.pending:
                submit(prefix)
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    prefix = running.pop(future)
                    try:
                        part = future.result()
                    except Exception as err:
                        _count_failure(failures, prefix, err)
                        submit(prefix)
                        continue
                    complete = self._take(state, prefix, part) and complete
                    for child in part.children or ():
                        submit(child)
        except KeyboardInterrupt:
            complete = False
        finally:
            for future in running:
                future.cancel()
        return complete and not state.pending

    def _after(self, done: Progress) -> Callable[[Progress], None]:
        """A progress callback for one subtree that adds what is ``done``."""

        def report(update: Progress) -> None:
            self.progress(Progress(
                done.regions + update.regions, done.nodes + update.nodes,
                done.lp_solves + update.lp_solves, time.perf_counter() - self.started,
            ))

        return report

    def _seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    def _finish(self, state, prefix, part) -> None:
        # Written before it is recorded, and recorded before it leaves the
        # pending list: the file's first rows are always those of the
        # finished subtrees, so a resumed count cuts off the rest.
        self._write(part)
        if self.writer is not None:
            self.writer.flush()
        kept = part.patterns if self.found.keep else None
        state.finished[prefix_key(prefix)] = SubtreeResult(
            kept, part.regions, part.lp_solves, part.nodes, part.thin
        )
        state.pending.remove(prefix)
        self._save(state)
        if self.progress is not None:
            self.progress(self._summary(state))

    def _summary(self, state) -> Progress:
        results = list(state.finished.values())
        return Progress(
            sum(r.regions for r in results), sum(r.nodes for r in results),
            state.frontier_solves + sum(r.lp_solves for r in results),
            time.perf_counter() - self.started,
        )

    def _save(self, state, *, force=False) -> None:
        now = time.perf_counter()
        if self.checkpoint is not None and (force or now - self.last_save >= CHECKPOINT_INTERVAL):
            state.save(self.checkpoint)
            self.last_save = now

    def _write(self, part: _Subtree) -> None:
        """Write a worker's patterns to the patterns file, if any."""
        if self.writer is not None and part.patterns is not None:
            self.writer.write(_unpack(part.patterns, self.problem.n_hidden)[:, self.found.drop :])

    def _assemble(self, state, complete) -> tuple[bool, int, int]:
        """Put every subtree's regions into ``self.found``; return
        ``(complete, lp_solves, thin)``."""
        if state is None:
            return False, 0, 0
        for part in self.partial:
            self._write(part)
        summary = self._summary(state)
        partial_regions = sum(p.regions for p in self.partial)
        if self.found.keep:
            layer_of = self.problem.layer_of
            pieces = [self.problem.pieces[layer_of[unit]] for unit in self.problem.order]
            keys = sorted(state.finished, key=lambda key: _serial_order(key, pieces))
            packed = [state.finished[k].patterns for k in keys] + [p.patterns for p in self.partial]
            for block in packed:
                self.found.add(_unpack(block, self.problem.n_hidden))
        else:
            self.found.count = summary.regions + partial_regions
        solves = summary.lp_solves + sum(p.lp_solves for p in self.partial)
        thin = sum(r.thin for r in state.finished.values()) + sum(p.thin for p in self.partial)
        return complete, solves, thin


class _Workers:
    """``count`` local worker processes that count subtrees beside the main one.

    They are handed subtrees once they are up (the main process counts on
    meanwhile), ``QUEUED_PER_WORKER`` each at most, so that the main process
    keeps the rest to hand out as they free up. ``wanted`` is set when a
    worker has nothing left: the main process's search splits and comes
    back to feed it. ``split_request``, shared with the workers, is set while
    the main process has nothing to count: their searches split and send
    back the nodes they have not visited.
    """

    def __init__(self, count, problem, record, deadline, seeds: Callable[[], int]):
        self.count, self.problem, self.record = count, problem, record
        self.deadline, self.seeds = deadline, seeds
        # spawn, not fork: HiGHS may hold threads that a fork would not copy.
        self.context = multiprocessing.get_context("spawn")
        self.split_request = self.context.Event()
        self.wanted = threading.Event()
        self.running: dict[Future, tuple] = {}
        self.failures: dict[tuple, int] = {}
        self._start()

    def _start(self) -> None:
        self.pool = _workers.WorkerPool(self.count, _keep_split_request, (self.split_request,))
        self.ready = self.pool.submit(_warm_up)
        self.ready.add_done_callback(self._freed)

    @property
    def up(self) -> bool:
        """Whether a worker has started and loaded the kernels."""
        return self.ready.done() and self.ready.exception() is None

    def feed(self, todo: deque) -> None:
        """Hand the workers subtrees from the end of ``todo`` (the nearest
        the root, so the largest), once they are up; the first stays for
        the main process."""
        while self.up and len(todo) > 1 and len(self.running) < QUEUED_PER_WORKER * self.count:
            prefix = todo.pop()
            future = self.pool.submit(
                _count_piece, self.problem, prefix, self.seeds(), self.deadline, SPLIT_NODES,
                self.record,
            )
            self.running[future] = prefix
            future.add_done_callback(self._freed)

    def _freed(self, _future: Future) -> None:
        # In the pool's thread: a worker with nothing left calls the main process.
        if self._idle():
            self.wanted.set()

    def call_when_idle(self) -> None:
        """Set ``wanted`` if a worker has nothing to do now, else clear it
        until one has."""
        if self._idle():
            self.wanted.set()
        else:
            self.wanted.clear()

    def _idle(self) -> bool:
        return self.up and sum(not future.done() for future in list(self.running)) < self.count

    def finished(self, todo: deque | None, *, wait_for_one: bool) -> list[tuple[tuple, _Subtree]]:
        """The subtrees finished since the last call, as ``(prefix,
        result)``; those that failed go back to ``todo`` (dropped if None,
        left pending). A broken pool is replaced."""
        if todo is not None and self.ready.done() and self.ready.exception() is not None:
            msg = f"the worker processes stopped as they started. {_main_guard_hint(self.count + 1)}"
            raise WorkerStartError(msg) from self.ready.exception()
        if not self.running:
            return []
        done, _ = wait(self.running, timeout=None if wait_for_one else 0, return_when=FIRST_COMPLETED)
        results, broken = [], False
        for future in done:
            prefix = self.running.pop(future)
            try:
                results.append((prefix, future.result()))
            except Exception as err:
                if todo is not None:
                    _count_failure(self.failures, prefix, err)
                    todo.append(prefix)
                broken = broken or isinstance(err, BrokenProcessPool)
        if broken:
            # A lost worker breaks the whole pool: take back every subtree
            # the old one held, and start a new one unless the count stops.
            self.pool.shutdown(cancel_futures=True)
            if todo is not None:
                todo.extend(self.running.values())
                self._start()
            self.running.clear()
        return results

    def close(self) -> None:
        # On an error, what still runs comes back at its next tick.
        self.split_request.set()
        for future in self.running:
            future.cancel()
        if not self.ready.done():
            # Still starting, and no longer needed: stop them rather than
            # wait for their start-up.
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.terminate()
        self.pool.shutdown(wait=self.ready.done(), cancel_futures=True)


# In a local worker process: the event by which the main process asks its
# searches to split (set by _keep_split_request).
_split_request = None


def _keep_split_request(split_request) -> None:
    """Set-up of a local worker process (which leaves Ctrl-C to the main
    one: it asks the workers to split, and they answer at once)."""
    global _split_request
    _split_request = split_request


def _warm_up() -> None:
    """Load the kernels in a new worker process, counting a tiny network."""
    rng = np.random.default_rng(0)
    network = Network([rng.normal(size=(3, 2)), rng.normal(size=(3, 3))], [rng.normal(size=3)] * 2)
    lower, upper = -np.ones(2), np.ones(2)
    bounds = preactivation_bounds(network, Box(lower, upper), method="lp")
    problem = _TreeProblem.build(network, lower, upper, bounds, DEFAULT_TOL, thin_tol=DEFAULT_THIN_TOL)
    _TreeSearch(problem, rng).run()


def _count_piece(problem, prefix, seed, deadline, node_budget, record) -> _Subtree:
    """Local worker entry point: :func:`_count_subtree`, split on request."""
    return _count_subtree(
        problem, prefix, seed, deadline, node_budget, record=record, split=_split_request
    )


def _count_failure(failures: dict, prefix: tuple, err: Exception) -> None:
    """Note that ``prefix``'s subtree failed with ``err``: raise it at once
    when running it again cannot help, a SolverError once it failed too often."""
    if isinstance(err, (SolverError, ValueError, TypeError)):
        raise err  # the same on any worker
    failures[prefix] = failures.get(prefix, 0) + 1
    if failures[prefix] > MAX_SUBTREE_RETRIES:
        msg = f"subtree {prefix_key(prefix)!r} failed {failures[prefix]} times: {err!r}"
        raise SolverError(msg) from err


def _frontier(problem, rng, size, deadline):
    """Prefixes of the shallowest depth with at least ``size`` non-empty
    nodes (or the leaves, if there are fewer)."""
    solves = 0
    depth = 0
    while True:
        depth += 1
        search = _TreeSearch(problem, rng, deadline=deadline)
        patterns, complete = search.run(stop_depth=depth)
        solves += search.lp.solves
        if not complete or patterns.shape[0] >= size or depth == len(problem.order):
            return patterns[:, list(problem.order[:depth])], complete, solves


@dataclass(frozen=True)
class _Subtree:
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


def _count_subtree(
    problem, prefix, seed, deadline, node_budget, progress=None, *, record=True, found=None,
    split=None,
) -> _Subtree:
    """Worker entry point: count the subtree below ``prefix``, returning its
    patterns if ``record`` (or putting them into ``found``, in process).

    Over ``node_budget`` nodes, or when the event ``split`` is set, the
    search stops: what it found is returned with the prefixes of the nodes
    it has not visited, as new subtrees, so no work is done twice.
    """
    rng = np.random.default_rng(seed)
    if found is None:
        found = _Found(problem.n_hidden, problem.pattern_dtype, keep=record)
    search = _TreeSearch(
        problem, rng, deadline=deadline, progress=progress, node_budget=node_budget, found=found,
        split=split,
    )
    remaining = None
    try:
        # The whole tree is searched as serially, with all the samples.
        samples = SUBTREE_SAMPLES if prefix else DEFAULT_SAMPLES
        _, complete = search.run(prefix=prefix, samples=samples)
    except _OverBudget as over:
        complete, remaining = True, over.remaining
    patterns = _pack(found.rows()) if found.keep else None
    return _Subtree(
        patterns, found.count, search.lp.solves, search.nodes, complete, search.thin, remaining
    )


@dataclass(frozen=True, eq=False)
class _TreeProblem:
    """What a tree search needs, in the box's free coordinates.

    Inputs fixed by the box (``lower == upper``) are folded into the first
    layer's bias, so the search and its distances live in the box's own
    affine hull, where "nonempty interior" is meant. A maxout layer's
    weights are stored flat, one row per piece: row ``i * k + p`` is piece
    ``p`` of unit ``i``.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    lower: np.ndarray
    upper: np.ndarray
    stable: np.ndarray  # per hidden unit: +1 stably active, -1 stably inactive, 0 split (or maxout)
    tol: float
    order: tuple[int, ...]  # hidden units in search order, layer by layer
    pieces: tuple[int, ...]  # per layer: 1 for ReLU, the rank k for maxout
    # Per layer: None for ReLU; for maxout, bool (n, k), the pieces that can win in the box.
    candidates: tuple[np.ndarray | None, ...]
    # Leaves with no point at this distance from their walls are thin.
    thin_tol: float = 0.0

    @classmethod
    def build(
        cls,
        network: Network,
        lower: np.ndarray,
        upper: np.ndarray,
        pre_bounds: PreactivationBounds,
        tol: float,
        order: Sequence[int] | None = None,
        *,
        thin_tol: float = 0.0,
    ) -> _TreeProblem:
        free = lower < upper
        flat = [
            (layer.weights.reshape(-1, layer.n_inputs), layer.bias.ravel())
            for layer in network.layers
        ]
        W0, b0 = flat[0]
        weights = (np.ascontiguousarray(W0[:, free]),) + tuple(W for W, _ in flat[1:])
        biases = (b0 + W0[:, ~free] @ lower[~free],) + tuple(b for _, b in flat[1:])
        stable = np.concatenate(pre_bounds.stable_at(tol))
        pieces = tuple(getattr(layer, "rank", 1) for layer in network.layers)
        candidates = tuple(
            None if k == 1 else ~pre_bounds.never_wins[layer] for layer, k in enumerate(pieces)
        )
        n_hidden = network.n_hidden
        order = tuple(range(n_hidden)) if order is None else tuple(order)
        layer_of = np.repeat(np.arange(len(network.widths)), network.widths)
        if sorted(order) != list(range(n_hidden)) or np.any(np.diff(layer_of[list(order)]) < 0):
            msg = "order must list every hidden unit once, layer by layer"
            raise ValueError(msg)
        return cls(
            weights, biases, lower[free], upper[free], stable, float(tol), order, pieces,
            candidates, float(thin_tol),
        )

    def with_walls(self, rows: np.ndarray, rhs: np.ndarray) -> _TreeProblem:
        """The problem on the polytope {x in box : rows @ x >= rhs}.

        Each row becomes a unit at the head of the first layer, marked
        ``WALL``: searched first, only on its inside, and read by no later
        layer.  The search then needs nothing else to honour the polytope.
        """
        if self.pieces[0] != 1:
            msg = "walls need a ReLU first layer"
            raise ValueError(msg)
        n = rows.shape[0]
        weights = (np.concatenate([rows, self.weights[0]]),) + self.weights[1:]
        if len(weights) > 1:
            second = self.weights[1]
            weights = weights[:1] + (
                np.concatenate([np.zeros((second.shape[0], n)), second], axis=1),
            ) + self.weights[2:]
        biases = (np.concatenate([-rhs, self.biases[0]]),) + self.biases[1:]
        stable = np.concatenate([np.full(n, WALL, np.int8), self.stable])
        order = tuple(range(n)) + tuple(unit + n for unit in self.order)
        return replace(self, weights=weights, biases=biases, stable=stable, order=order)

    @property
    def n_hidden(self) -> int:
        return self.stable.shape[0]

    @property
    def checks_thin(self) -> bool:
        """Whether a leaf can be thin: below ``tol`` no counted region is."""
        return self.thin_tol > self.tol

    @property
    def widths(self) -> list[int]:
        """Units per hidden layer."""
        return [b.shape[0] // k for b, k in zip(self.biases, self.pieces)]

    @property
    def layer_of(self) -> np.ndarray:
        """The layer of each hidden unit."""
        return np.repeat(np.arange(len(self.pieces)), self.widths)

    @property
    def maxout(self) -> bool:
        """Whether any layer is maxout; patterns are then int8 states."""
        return max(self.pieces) > 1

    @property
    def pattern_dtype(self) -> type:
        return np.int8 if self.maxout else np.bool_

    @property
    def max_rows(self) -> int:
        """The most rows a search path can hold: one per ReLU unit, k - 1 per
        maxout unit of rank k."""
        return sum(n * max(k - 1, 1) for n, k in zip(self.widths, self.pieces))

    def preactivations(self, points: np.ndarray) -> np.ndarray:
        """All hidden pre-activations at ``points`` (free coordinates).

        Column ``u`` is unit ``u``'s pre-activation for a ReLU unit, its
        winning piece (first on a tie) for a maxout unit. With maxout layers,
        the value of every piece follows, layer by layer, in the flat order.
        """
        return self.propagate(points @ self.weights[0].T + self.biases[0])

    def propagate(self, first: np.ndarray) -> np.ndarray:
        """:meth:`preactivations` from the first layer's (flat, per piece)."""
        columns, pieces = [], []
        a = first
        for layer, k in enumerate(self.pieces):
            if k == 1:
                columns.append(a)
                h = np.maximum(a, 0.0)
            else:
                by_unit = a.reshape(a.shape[0], a.shape[1] // k, k)
                columns.append(np.argmax(by_unit, axis=2).astype(np.float64))
                pieces.append(a)
                h = by_unit.max(axis=2)
            if layer + 1 < len(self.pieces):
                a = h @ self.weights[layer + 1].T + self.biases[layer + 1]
        return np.concatenate(columns + pieces, axis=1)


@contextlib.contextmanager
def _recursion_room(frames: int):
    """Room for a search one Python frame per unit deep: a CNN has hundreds
    of units, and an image's plane a wall per face of the box it meets,
    over a thousand (a few thousand frames fit the C stack easily)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(previous + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _path_holds(row_ids: Sequence[int], index: int, row_id: int) -> bool:
    """Whether the path still holds, at ``index``, the row named ``row_id``.

    Row ids are unique along a search and the path is a stack, so when that
    row is still there, so is every row below it: what was built on the first
    ``index + 1`` rows (a basis, coefficients, a proof) is still valid.
    """
    return 0 <= index < len(row_ids) and row_ids[index] == row_id


class _FeasibilityLP:
    """The LPs of one search: is ``{x in box : rows @ x >= rhs}`` empty?

    Each LP goes first to the Numba dual simplex of :mod:`pyregions._simplex`,
    warm-started from the basis of the deepest earlier LP whose rows are all
    still on the path (a parent's optimal basis stays dual feasible when the
    child's rows are appended). Its proofs of emptiness are checked by
    :func:`pyregions._kernels.refutes`. An LP it cannot decide, or whose proof
    fails the check, goes to :class:`_HighsFeasibility`.
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray, seed: int, factor: np.ndarray):
        self.lower, self.upper = lower, upper
        self.n = lower.shape[0]
        self.weights = np.random.default_rng(seed).uniform(1.0, 2.0, self.n)
        # Bases of earlier feasible LPs on the current path, shallowest
        # first: (rows, id of the last row, basis, columns at their upper bound).
        self.bases: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        # Every row of the search combines the first layer's weights
        # (``factor``); the simplex works on these combinations when there
        # are fewer weight rows than path rows. Path rows' coefficients are
        # kept with their ids, like the bases. Rounding in them can only
        # mislead the simplex's pivots, whose answers are checked anyway;
        # ill-conditioned weights would mislead it often, so are not used.
        self.factor = np.ascontiguousarray(factor)
        usable = 0 < self.factor.shape[0] < self.n and np.linalg.cond(self.factor) < FACTOR_CONDITION_LIMIT
        self.pseudo_inverse = np.linalg.pinv(self.factor) if usable else None
        self.coefficients = np.empty((0, self.factor.shape[0]))
        self.coefficient_ids: list[int] = []
        self.multipliers: np.ndarray | None = None
        # The basis of the last LP's point, when the simplex found it.
        self.vertex_basis: np.ndarray | None = None
        self.seed = seed
        self.highs: _HighsFeasibility | None = None
        self.solves = 0
        self.fallbacks = 0  # LPs handed to HiGHS
        self._point = np.empty(self.n)

    def point_in(self, rows: np.ndarray, rhs: np.ndarray, row_ids: list[int]) -> np.ndarray | None:
        """A point of ``{x in box : rows @ x >= rhs}``, or None if it is empty.

        ``row_ids`` name the rows (unique along the search), so that a basis
        is reused only while the path still holds every row it was built on.
        """
        self.solves += 1
        k = len(row_ids)
        basic, at_upper = self.basis_for(row_ids)
        m = basic.shape[0]
        basic = np.concatenate([basic, np.arange(self.n + m, self.n + k)])
        at_upper = at_upper.copy()
        multipliers = np.empty(k)
        rows = np.ascontiguousarray(rows)
        coefficients, factor = self._factored(rows, row_ids)
        status, _ = _simplex.solve(
            rows, coefficients, factor, rhs, self.lower, self.upper, self.weights, basic,
            at_upper, self._point, multipliers, SIMPLEX_ITERATION_LIMIT,
        )
        # Both answers are checked here, apart from the simplex's own
        # arithmetic: the point against the rows, the proof by Farkas.
        if status == _simplex.FEASIBLE and np.all(rows @ self._point >= rhs - SIMPLEX_CHECK_TOLERANCE):
            if k:
                self.bases.append((k, row_ids[-1], basic, at_upper))
            self.multipliers = None
            self.vertex_basis = basic
            return self._point.copy()
        if status == _simplex.EMPTY and _kernels.refutes(rows, rhs, multipliers, self.lower, self.upper):
            self.multipliers = multipliers
            return None
        self.vertex_basis = None
        point, self.multipliers = self.undecided(rows, rhs)
        return point

    def undecided(self, rows: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """HiGHS's answer to an LP the simplex could not decide:
        ``(point, None)``, or ``(None, multipliers)`` when empty."""
        self.fallbacks += 1
        if self.highs is None:
            self.highs = _HighsFeasibility(self.lower, self.upper, self.seed)
        return self.highs.point_in(rows, rhs)

    def basis_for(self, row_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The deepest feasible basis whose rows are all still on the path
        (dropping the others), and its columns at their upper bound: the
        slack basis of no rows if there is none."""
        while self.bases:
            m, last_id, basic, at_upper = self.bases[-1]
            if _path_holds(row_ids, m - 1, last_id):
                return basic, at_upper
            self.bases.pop()
        return np.empty(0, dtype=np.int64), np.zeros(self.n, dtype=bool)

    def has_basis_for(self, row_ids: list[int]) -> bool:
        """Whether a feasible LP's basis covers every row of the path."""
        return any(m == len(row_ids) and _path_holds(row_ids, m - 1, last) for m, last, _, _ in self.bases)

    def farkas_multipliers(self) -> np.ndarray | None:
        """Row multipliers proving the last LP empty, if it was."""
        return self.multipliers

    def _factored(self, rows: np.ndarray, row_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(coefficients, factor)`` with ``rows == coefficients @ factor``:
        through the first layer's weights when they are fewer than the rows,
        else the rows themselves."""
        k = rows.shape[0]
        if self.pseudo_inverse is None or k <= self.factor.shape[0]:
            return np.eye(k), rows
        keep = min(len(self.coefficient_ids), k)
        while keep and not _path_holds(row_ids, keep - 1, self.coefficient_ids[keep - 1]):
            keep -= 1
        if keep < k:
            new = rows[keep:] @ self.pseudo_inverse
            self.coefficients = np.concatenate([self.coefficients[:keep], new])
            self.coefficient_ids = self.coefficient_ids[:keep] + list(row_ids[keep:])
        return self.coefficients[:k], self.factor


class _HighsFeasibility:
    """One HiGHS model of ``{x in box : rows @ x >= rhs}`` with a zero
    objective, for the LPs the Numba simplex leaves undecided.

    The margin lives in the row bounds, never in a variable: a margin
    variable sitting at its cap made warm starts stall (hundreds of
    thousands of iterations) in our measurements.
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray, seed: int):
        self.n = lower.shape[0]
        self.highs = _highs.new_model(seed)
        self.highs.setOptionValue("primal_feasibility_tolerance", LP_FEASIBILITY_TOLERANCE)
        self.highs.setOptionValue("dual_feasibility_tolerance", LP_FEASIBILITY_TOLERANCE)
        self.highs.setOptionValue("simplex_iteration_limit", LP_ITERATION_LIMIT)
        empty = np.array([], dtype=np.int32)
        self.highs.addCols(self.n, np.zeros(self.n), lower, upper, 0, empty, empty, np.array([]))
        self._index = np.arange(self.n, dtype=np.int32)

    def point_in(self, rows: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(point, None)`` or, when empty, ``(None, multipliers)`` (None
        when HiGHS gives no ray)."""
        old = self.highs.getNumRow()
        if old:
            self.highs.deleteRows(old, np.arange(old, dtype=np.int32))
        count = rows.shape[0]
        if count:
            starts = np.arange(0, count * self.n, self.n, dtype=np.int32)
            self.highs.addRows(
                count, rhs, np.full(count, highspy.kHighsInf), count * self.n,
                starts, np.tile(self._index, count), rows.ravel(),
            )
        if self._run() == highspy.HighsModelStatus.kInfeasible:
            _, has_ray, ray = self.highs.getDualRay()
            return None, (np.abs(np.asarray(ray)) if has_ray else None)
        return np.array(self.highs.getSolution().col_value), None

    def _run(self):
        """Run HiGHS (default presolve and scaling); from a cleared basis if
        the warm start stalls or fails on a degenerate basis."""
        decided = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible)
        self.highs.run()
        status = self.highs.getModelStatus()
        if status not in decided:
            self.highs.clearSolver()
            self.highs.run()
            status = self.highs.getModelStatus()
        if status not in decided:
            msg = f"HiGHS could not decide a feasibility LP: {self.highs.modelStatusToString(status)}"
            raise SolverError(msg)
        return status


class _Interrupted(Exception):
    """Raised inside the search when the time limit is reached, or when the
    parent of a worker process asks it to stop."""


class _OverBudget(Exception):
    """Raised inside the search of a subtree that has visited too many nodes.

    ``remaining`` collects, as it unwinds, the prefixes of the nodes not yet
    visited, in the order the search would have visited them: the node that
    tripped the budget, then the later siblings on its path, deepest first.
    """

    def __init__(self, prefix: tuple):
        super().__init__()
        self.remaining = [prefix]


class _TreeSearch:
    """Depth-first search of the activation tree of one :class:`_TreeProblem`.

    Witness points are stored once, with every hidden pre-activation from a
    forward pass: a point inside a node's region has the node's pattern, so
    its pre-activation there *is* the next unit's affine function evaluated
    at it, and classifying it costs one lookup instead of an n0-long product.
    A node holds only the indices of its witnesses.
    """

    def __init__(
        self, problem: _TreeProblem, rng: np.random.Generator, *, deadline=None, progress=None,
        node_budget=None, found: _Found | None = None, split=None,
    ):
        self.problem = problem
        self.rng = rng
        self.deadline = deadline
        self.node_budget = node_budget
        self.split = split
        self.progress = progress
        self.lp = _FeasibilityLP(
            problem.lower, problem.upper, int(rng.integers(2**31 - 1)), problem.weights[0]
        )
        n, n_hidden = problem.lower.shape[0], problem.n_hidden
        # Witness points are kept only as their pre-activations: nothing else
        # about them is ever read.
        self.pre = np.empty((0, problem.preactivations(problem.lower[None, :]).shape[1]))
        self.n_points = 0
        self.pattern = np.zeros(n_hidden, dtype=problem.pattern_dtype)
        self.rows = np.empty((problem.max_rows, n))
        self.rhs = np.empty(problem.max_rows)
        # Rows whose other side is a sibling still to be searched.
        self.row_flippable = np.zeros(problem.max_rows, dtype=bool)
        # Each row's distance at a witness, from its stored pre-activations:
        # scale * (pre[plus] - pre[minus]), minus -1 for a ReLU's row.
        self.row_plus = np.zeros(problem.max_rows, dtype=np.intp)
        self.row_minus = np.full(problem.max_rows, -1, dtype=np.intp)
        self.row_scale = np.zeros(problem.max_rows)
        self.thin = 0  # thin leaves found
        # (unit, state) of each row on the path: in one layer, and under the
        # same earlier layers, the same key always means the same row.
        self.row_keys: list[tuple[int, int]] = []
        self.row_ids: list[int] = []
        self.next_row_id = 0
        self.found = _Found(n_hidden, problem.pattern_dtype) if found is None else found
        self.nodes = 0
        self.started = time.perf_counter()
        self.last_report = self.started
        layer_sizes = problem.widths
        self.layer_of = problem.layer_of
        self.offset = np.concatenate([[0], np.cumsum(layer_sizes)])
        # Per hidden unit: whether it is maxout, and its first piece column in self.pre.
        self.is_maxout = np.array([problem.pieces[layer] > 1 for layer in self.layer_of])
        piece_counts = [size * k if k > 1 else 0 for size, k in zip(layer_sizes, problem.pieces)]
        piece_start = n_hidden + np.concatenate([[0], np.cumsum(piece_counts)])
        self.piece_column = [
            int(piece_start[layer] + (unit - self.offset[layer]) * problem.pieces[layer])
            for unit, layer in enumerate(self.layer_of)
        ]
        # Effective affine map (C, d) of each layer on the current region.
        self.maps: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(layer_sizes)
        # Per layer: each row's norm, 0 where it is constant on the region
        # (_kernels.CANCELLATION); the norm as computed; the size of the
        # terms summed into it.
        self.norms: list[np.ndarray | None] = [None] * len(layer_sizes)
        self.raw_norms: list[np.ndarray | None] = [None] * len(layer_sizes)
        self.scales: list[np.ndarray | None] = [None] * len(layer_sizes)
        self.order = np.array(problem.order, dtype=np.intp)
        ordered_layers = self.layer_of[self.order]
        self.layer_starts = set(np.flatnonzero(ordered_layers[1:] != ordered_layers[:-1]) + 1)
        self.depth_of_unit = np.empty(n_hidden, dtype=np.intp)
        self.depth_of_unit[self.order] = np.arange(n_hidden)
        # Per depth: first-layer pre-activations of points found across that
        # depth's row, for its second child.
        self.across: list[list[np.ndarray]] = [[] for _ in range(n_hidden)]
        self.across_out = np.empty((ACROSS_CAPACITY, problem.weights[0].shape[0]))
        self.across_rows = np.empty(ACROSS_CAPACITY, dtype=np.int64)
        # Rows on the path when each layer was entered.
        self.layer_rows = [0] * len(layer_sizes)
        # (unit, side) -> (row index, row id, [keys, ...]): proofs that the
        # side is empty, each valid while the path holds that row, the last
        # of the earlier layers, and the rows of its keys (see
        # _keep_farkas_proof). The search meets the earlier layers' states
        # one after another, so the proofs kept are only those of the last.
        self.refuted: dict[tuple[int, float], tuple[int, int, deque[frozenset]]] = {}
        # The first layer of the deepest layers that :mod:`pyregions._layer_search`
        # can search (ReLU everywhere, few enough units, no walls of a
        # slice among them: walls have one side only), and its depth.
        self.compiled_layer = None
        for layer in range(len(layer_sizes) - 1, -1, -1):
            if (
                problem.maxout or layer_sizes[layer] > _layer_search.MAX_WIDTH
                or np.any(problem.stable[self.offset[layer] : self.offset[layer + 1]] == WALL)
            ):
                break
            self.compiled_layer = layer
        self.compiled_depth = None if self.compiled_layer is None else int(self.offset[self.compiled_layer])
        if self.compiled_layer is not None:
            # Every hidden layer's weights, zero-padded to one shape.
            widest = max(layer_sizes)
            self.weights_stack = np.zeros((len(layer_sizes), widest, widest))
            self.biases_stack = np.zeros((len(layer_sizes), widest))
            for layer in range(1, len(layer_sizes)):
                W = problem.weights[layer]
                self.weights_stack[layer, : W.shape[0], : W.shape[1]] = W
                self.biases_stack[layer, : W.shape[0]] = problem.biases[layer]

    def run(
        self, prefix: Sequence[int] = (), stop_depth: int | None = None, samples: int = DEFAULT_SAMPLES
    ) -> tuple[np.ndarray, bool]:
        """Search the subtree below ``prefix``; return its patterns and completeness.

        Parameters
        ----------
        prefix : sequence of bool or int
            States of the first ``len(prefix)`` units in search order (a
            ReLU's bool, a maxout unit's winning piece): the root of a
            subtree. Its region is tested first unless a witness shows it
            non-empty.
        stop_depth : int, optional
            Treat the nodes at this depth as leaves (to cut the tree into
            subtrees). Their patterns are valid on the first ``stop_depth``
            units in search order only.
        samples : int, default=DEFAULT_SAMPLES
            Random points of the box drawn as the first witnesses.
        """
        self.stop_depth = len(self.problem.order) if stop_depth is None else stop_depth
        witnesses = self._add_samples(samples)
        complete = True
        try:
            for depth, state in enumerate(prefix):
                witnesses = self._follow(depth, int(state), witnesses)
            if prefix and witnesses.size == 0:
                # A prefix handed on by a search over its budget was never
                # tested: its region may be empty.
                k = len(self.row_ids)
                point = self.lp.point_in(self.rows[:k], self.rhs[:k], self.row_ids)
                if point is None:
                    return self._kept(), True
                witnesses = self._witnesses_near(
                    self.problem.preactivations(point[None, :]), len(prefix)
                )
            with _recursion_room(self.stop_depth - len(prefix)):
                self._visit(len(prefix), witnesses)
        except (_Interrupted, KeyboardInterrupt):
            complete = False
        return self._kept(), complete

    def _kept(self) -> np.ndarray | None:
        return self.found.patterns() if self.found.keep else None

    def _prefix(self, depth: int, state=None) -> tuple:
        """The states of the units before ``depth`` in search order, and
        ``state`` after them if given: a node's prefix, or its child's."""
        head = tuple(self.pattern[self.order[:depth]].tolist())
        return head if state is None else (*head, state)

    # -- witnesses ---------------------------------------------------------

    def _add_samples(self, count: int) -> np.ndarray:
        """Store ``count`` random points of the box as witnesses; return their indices."""
        lo, hi = self.problem.lower, self.problem.upper
        # Uniform points crowd the box's centre in high dimension; mixing in
        # points biased towards random corners reaches far more regions.
        uniform = self.rng.uniform(lo, hi, size=(count // 2, lo.shape[0]))
        bias = self.rng.uniform(0.0, 1.0, size=(count - count // 2, 1))
        corners = np.where(self.rng.uniform(size=(count - count // 2, lo.shape[0])) < bias, hi, lo)
        return self._add_preactivations(self.problem.preactivations(np.concatenate([uniform, corners])))

    def _add_preactivations(self, pre: np.ndarray) -> np.ndarray:
        """Store points by their pre-activations; return their indices."""
        count = pre.shape[0]
        if self.n_points + count > self.pre.shape[0]:
            # Room for a point per row of the deepest path too: LPs add them
            # one by one below the samples, and a copy of the store is dear.
            capacity = max(2 * self.pre.shape[0], self.n_points + count + self.problem.max_rows + 1)
            grown = np.empty((capacity, self.pre.shape[1]))
            grown[: self.n_points] = self.pre[: self.n_points]
            self.pre = grown
        self.pre[self.n_points : self.n_points + count] = pre
        self.n_points += count
        return np.arange(self.n_points - count, self.n_points)

    # -- search ------------------------------------------------------------

    def _visit(self, depth: int, witnesses: np.ndarray) -> None:
        if self.node_budget is not None and self.nodes >= self.node_budget or self._split_asked(0):
            raise _OverBudget(self._prefix(depth))
        self.nodes += 1
        self._tick()
        if depth == self.stop_depth:
            self.found.add(self.pattern[None, :])
            if self.problem.checks_thin and depth == self.problem.n_hidden:
                self.thin += self._is_thin(witnesses)
            return
        if depth in self.layer_starts and not self.lp.has_basis_for(self.row_ids):
            # Solve this node's LP, though its witnesses show it non-empty,
            # for a basis that every LP of the layer below can start from:
            # otherwise they start from the last one on the path, often the
            # root's, as the earlier layer is split by witnesses alone.
            k = len(self.row_ids)
            self.lp.point_in(self.rows[:k], self.rhs[:k], self.row_ids)
        if (
            self.compiled_depth is not None and depth >= self.compiled_depth
            and self.stop_depth == self.problem.n_hidden
        ):
            self._search_compiled(depth, witnesses)
            return
        if self.is_maxout[self.problem.order[depth]]:
            self._visit_pieces(depth, witnesses)
            return
        unit, c, offset, threshold = self._unit_at(depth)
        if c is None:
            self.pattern[unit] = offset
            self._visit(depth + 1, witnesses)
            return
        values = self.pre[witnesses, unit]
        # A wall of the domain has only its inside: the outside is no region.
        signs = (1.0,) if self.problem.stable[unit] == WALL else (1.0, -1.0)
        for index, sign in enumerate(signs):
            # Points found below this child lie in its region, disjoint from
            # every node visited after it: drop them on the way back, so the
            # store stays as small as the path, not as large as the count.
            mark = self.n_points
            if self.across[depth]:
                # Only while in the first child are points put across this row.
                witnesses = np.concatenate([witnesses, self._take_across(depth)])
                values = self.pre[witnesses, unit]
            side = witnesses[_kernels.side_mask(values, threshold, sign)]
            self.pattern[unit] = sign > 0
            self._push_side(unit, c, offset, threshold, sign, flippable=index + 1 < len(signs))
            if side.size == 0:
                side = self._witness_for_new_child(depth, sign)
            if side is not None:
                try:
                    self._visit(depth + 1, side)
                except _OverBudget as over:
                    over.remaining.extend(self._prefix(depth, s > 0) for s in signs[index + 1 :])
                    raise
            self._pop_row()
            self.n_points = mark

    def _is_thin(self, witnesses: np.ndarray) -> bool:
        """Whether the leaf just found has no point at ``thin_tol`` from its
        walls: false at once if a witness is that far from every row, else
        decided by an LP with every row raised to that margin."""
        k = len(self.row_ids)
        if k == 0:
            return False
        if witnesses.size:
            distances = self._distances(witnesses, k)
            if np.any(distances.min(axis=1) >= self.problem.thin_tol):
                return False
        raised = self.rhs[:k] + (self.problem.thin_tol - self.problem.tol)
        return self.lp.point_in(self.rows[:k], raised, self.row_ids) is None

    def _distances(self, witnesses: np.ndarray, k: int) -> np.ndarray:
        """The signed distance of each witness from each of the first ``k``
        rows' hyperplanes, shape (witnesses, k)."""
        plus, minus = self.row_plus[:k], self.row_minus[:k]
        values = self.pre[np.ix_(witnesses, plus)]
        pairs = minus >= 0
        if pairs.any():
            values[:, pairs] -= self.pre[np.ix_(witnesses, minus[pairs])]
        return values * self.row_scale[:k]

    def _distance_above(self, witnesses: np.ndarray, layer: int) -> np.ndarray:
        """Each witness's least distance from the path's rows of the layers
        before ``layer`` (inf if there are none)."""
        k = len(self.row_ids)
        units = np.array([unit for unit, _ in self.row_keys], dtype=np.intp)
        above = self.layer_of[units] < layer if k else np.zeros(0, bool)
        if not above.any():
            return np.full(witnesses.shape[0], np.inf)
        return self._distances(witnesses, k)[:, above].min(axis=1)

    def _search_compiled(self, depth: int, witnesses: np.ndarray) -> None:
        """Search every node below this one, at ``depth``, compiled
        (:func:`pyregions._layer_search.search`, over the layers from
        ``compiled_layer`` on)."""
        problem = self.problem
        span = self.compiled_layer
        layer = int(self.layer_of[self.order[depth]])
        if depth == self.offset[layer]:
            self._enter_layer(layer)
        C, d = self.maps[layer]
        G, g = self._first_layer_map(layer)
        first = int(self.offset[span])
        units = self.compiled_units = slice(first, problem.n_hidden)
        k = len(self.row_ids)
        room = k + problem.n_hidden - first
        coefficients = np.zeros((room, problem.weights[0].shape[0]))
        factored = self.lp.pseudo_inverse is not None
        if factored:
            coefficients[:k] = self.rows[:k] @ self.lp.pseudo_inverse
        basis, at_upper = self.lp.basis_for(self.row_ids)
        row_units = np.array([unit for unit, _ in self.row_keys], dtype=np.int64)
        row_states = np.array([state for _, state in self.row_keys], dtype=np.int64)
        row_layers = self.layer_of[row_units].astype(np.int64)
        row_bits = np.where(
            row_layers >= span, 2 * (row_units - self.offset[row_layers]) + row_states, -1
        ).astype(np.int64)
        budget = np.iinfo(np.int64).max if self.node_budget is None else self.node_budget - self.nodes
        results, error = _layer_search.run(
            self, self.rows[:room], self.rhs[:room], coefficients, k, problem.weights[0],
            factored, problem.biases[0], self.weights_stack, self.biases_stack,
            np.array(problem.widths, dtype=np.int64), span, C, d, G, g, self.scales[layer],
            problem.stable[units].astype(np.int8), self.order[self.compiled_depth :] - first,
            depth - self.compiled_depth, self.pattern[units].astype(bool),
            np.ascontiguousarray(self.pre[witnesses, units]), self._distance_above(witnesses, span),
            basis, at_upper, self.row_flippable[:k], self.depth_of_unit[row_units], row_bits,
            row_layers, self.row_scale[:k], problem.lower, problem.upper, self.lp.weights,
            problem.tol, problem.thin_tol, ACROSS_FLIPS, ACROSS_CAPACITY, ACROSS_KEPT, PROOFS_KEPT,
            SIMPLEX_ITERATION_LIMIT, SIMPLEX_CHECK_TOLERANCE, budget,
        )
        patterns, firsts, depths, nodes, solves, thin, status, unvisited, lengths = results
        self.lp.solves += solves
        self.thin += thin
        self.nodes += nodes - 1  # this node was counted by _visit
        for row_depth in np.unique(depths):
            self._keep_across(row_depth, firsts[depths == row_depth])
        self.layer_found(patterns)
        if error is not None:
            raise error
        if status == _layer_search.INTERRUPTED:
            raise _Interrupted
        if status == _layer_search.OVER_BUDGET:
            above = self._prefix(self.compiled_depth)
            over = _OverBudget(above + tuple(unvisited[0, : lengths[0]].tolist()))
            over.remaining.extend(
                above + tuple(states[:length].tolist()) for states, length in zip(unvisited[1:], lengths[1:])
            )
            raise over

    def layer_found(self, patterns: np.ndarray) -> None:
        """Record regions found by :mod:`pyregions._layer_search`: their
        states of the units it searched, the others as on the path."""
        if not self.found.records:
            self.found.count += patterns.shape[0]
            return
        block = np.repeat(self.pattern[None, :], patterns.shape[0], axis=0)
        block[:, self.compiled_units] = patterns
        self.found.add(block)

    def layer_tick(self, nodes: int, solves: int, patterns: np.ndarray) -> int:
        """Progress and the clock for :mod:`pyregions._layer_search`, which
        has searched ``nodes`` and solved ``solves`` LPs in the current call
        and found ``patterns`` since its last tick; what it must do next
        (``_layer_search.GO_ON``, ``STOP`` or ``SPLIT``)."""
        self.layer_found(patterns)
        try:
            self._tick(0, nodes - 1, solves)
        except _Interrupted:
            return _layer_search.STOP
        return _layer_search.SPLIT if self._split_asked(nodes - 1) else _layer_search.GO_ON

    def _split_asked(self, nodes: int) -> bool:
        """Whether the search, with ``nodes`` more nodes than recorded, is
        asked to split, and has searched enough of its own to do so."""
        return (
            self.split is not None and self.nodes + nodes >= SPLIT_AFTER_NODES
            and self.split.is_set()
        )

    def _visit_pieces(self, depth: int, witnesses: np.ndarray) -> None:
        """Branch on the maxout unit at ``depth``: one child per piece that can win.

        Child ``p`` is the region where piece ``p`` beats every other
        candidate ``q`` by the margin, ``a_p - a_q >= tol * ||c_p - c_q||``:
        up to k - 1 rows, all pushed together.
        """
        unit, candidates, C, d, scale = self._pieces_at(depth)
        if candidates.size == 1:
            self.pattern[unit] = candidates[0]
            self._visit(depth + 1, witnesses)
            return
        for index, piece in enumerate(candidates):
            split = self._piece_rows(piece, candidates, C, d, scale)
            if split is None:
                continue
            mark = self.n_points
            side, margins = self._push_piece(unit, piece, split, witnesses)
            if side.size == 0:
                side = self._witness_for_new_child(depth, piece, margins.shape[1])
            if side is not None:
                try:
                    self._visit(depth + 1, side)
                except _OverBudget as over:
                    over.remaining.extend(
                        self._prefix(depth, int(later)) for later in candidates[index + 1 :]
                        if self._piece_rows(later, candidates, C, d, scale) is not None
                    )
                    raise
            for _ in range(margins.shape[1]):
                self._pop_row()
            self.n_points = mark

    def _push_piece(self, unit, piece, split, witnesses) -> tuple[np.ndarray, np.ndarray]:
        """Push the rows of child ``piece`` (a :meth:`_piece_rows` ``split``);
        return the witnesses inside it and every witness's margin on each row."""
        rows, rhs, others, thresholds = split
        self.pattern[unit] = piece
        column = self.piece_column[unit]
        for row, bound, other, threshold in zip(rows, rhs, others, thresholds):
            self._push_row(
                unit, row, bound, self.problem.tol / threshold, column + piece, column + other
            )
        values = self.pre[witnesses, column : column + self.problem.pieces[self.layer_of[unit]]]
        margins = values[:, [piece]] - values[:, others] - thresholds
        return witnesses[np.all(margins >= 0.0, axis=1)], margins

    def _piece_rows(self, piece, candidates, C, d, scale):
        """The rows of child ``piece``: ``(rows, rhs, others, thresholds)``,
        rows of unit norm and the thresholds of the raw differences, or None
        when a piece parallel to it beats it on the whole node.

        A piece ``q`` with ``c_q = c_p`` on the region (up to
        :data:`pyregions._kernels.CANCELLATION`) is no hyperplane there: the
        larger constant wins, the lower index on a tie (as ``argmax``).
        """
        others = candidates[candidates != piece]
        G = C[piece] - C[others]
        gap = d[piece] - d[others]
        norms = np.sqrt(np.einsum("ij,ij->i", G, G))
        flat = norms <= _kernels.CANCELLATION * (scale[piece] + scale[others])
        if np.any(flat & ((gap < 0.0) | ((gap == 0.0) & (others < piece)))):
            return None
        keep = ~flat
        G, gap, others, norms = G[keep], gap[keep], others[keep], norms[keep]
        rows = G / norms[:, None]
        return rows, self.problem.tol - gap / norms, others, self.problem.tol * norms

    def _follow(self, depth: int, state: int, witnesses: np.ndarray) -> np.ndarray:
        """Take the child ``state`` of the node at ``depth``, known to be non-empty."""
        if self.is_maxout[self.problem.order[depth]]:
            unit, candidates, C, d, scale = self._pieces_at(depth)
            self.pattern[unit] = state
            if candidates.size == 1:
                return witnesses
            split = self._piece_rows(state, candidates, C, d, scale)
            return self._push_piece(unit, state, split, witnesses)[0]
        positive = bool(state)
        unit, c, offset, threshold = self._unit_at(depth)
        self.pattern[unit] = positive
        if c is None:
            return witnesses
        sign = 1.0 if positive else -1.0
        self._push_side(unit, c, offset, threshold, sign)
        return witnesses[_kernels.side_mask(self.pre[witnesses, unit], threshold, sign)]

    def _unit_at(self, depth: int) -> tuple[int, np.ndarray | None, float, float]:
        """The unit split at ``depth``: ``(unit, c / ||c||, d / ||c||, tol * ||c||)``,
        its row scaled to unit norm and the threshold of its raw pre-activation.

        The row is None when the unit's state is forced on the whole node
        (stable over the box, or constant on the region); the offset is then
        that state.
        """
        problem = self.problem
        unit = problem.order[depth]
        layer = self._layer_at(depth)
        state = problem.stable[unit]
        if state == 1 or state == -1:
            return unit, None, state > 0, 0.0
        C, d = self.maps[layer]
        i = unit - self.offset[layer]
        norm = self.norms[layer][i]
        if norm == 0.0:
            # Constant on this region: not a hyperplane here.
            return unit, None, d[i] > 0.0, 0.0
        return unit, C[i] / norm, d[i] / norm, self.problem.tol * norm

    def _layer_at(self, depth: int) -> int:
        """The layer of the unit at ``depth``, entered if it is a new one."""
        layer = self.layer_of[self.problem.order[depth]]
        if depth == 0 or self.layer_of[self.problem.order[depth - 1]] != layer:
            self._enter_layer(layer)
        return layer

    def _pieces_at(self, depth: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The maxout unit at ``depth``: ``(unit, candidates, C, d, scale)``,
        its pieces that can win in the box, the affine map of every piece on
        the region (``C[p] x + d[p]``) and the size of the terms summed into
        each ``C[p]`` (:data:`pyregions._kernels.CANCELLATION`)."""
        unit = self.problem.order[depth]
        layer = self._layer_at(depth)
        i = unit - self.offset[layer]
        k = self.problem.pieces[layer]
        C, d = self.maps[layer]
        rows = slice(i * k, (i + 1) * k)
        candidates = np.flatnonzero(self.problem.candidates[layer][i])
        return unit, candidates, C[rows], d[rows], self.scales[layer][rows]

    def _enter_layer(self, layer: int) -> None:
        self.layer_rows[layer] = len(self.row_ids)
        C, d, scale = self._layer_map(layer)
        self.maps[layer] = (C, d)
        self.scales[layer] = scale
        self.raw_norms[layer] = norms = np.sqrt(np.einsum("ij,ij->i", C, C))
        self.norms[layer] = np.where(norms > _kernels.CANCELLATION * scale, norms, 0.0)

    def _layer_map(self, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The affine map of ``layer``'s pre-activations on the current
        region, ``(C, d)``, and the size of the terms summed into each row
        of ``C`` (:data:`pyregions._kernels.CANCELLATION`)."""
        W, b = self.problem.weights[layer], self.problem.biases[layer]
        if layer == 0:
            return W, b, np.sqrt(np.einsum("ij,ij->i", W, W))
        C_prev, d_prev = self.maps[layer - 1]
        states = self.pattern[self.offset[layer - 1] : self.offset[layer]]
        k = self.problem.pieces[layer - 1]
        if k > 1:
            # A maxout unit passes on its winning piece.
            passed = np.arange(states.shape[0]) * k + states
            W_passed = W
        else:
            passed = states.astype(bool, copy=False)
            W_passed = W[:, passed]
        scale = np.abs(W_passed) @ self.raw_norms[layer - 1][passed]
        return W_passed @ C_prev[passed], W_passed @ d_prev[passed] + b, scale

    def _first_layer_map(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """The affine map of ``layer``'s pre-activations on the current
        region, in the first layer's pre-activations: ``G a + g``."""
        G = np.eye(self.problem.weights[0].shape[0])
        g = np.zeros(G.shape[0])
        for earlier in range(1, layer + 1):
            W, b = self.problem.weights[earlier], self.problem.biases[earlier]
            active = self.pattern[self.offset[earlier - 1] : self.offset[earlier]].astype(bool)
            G, g = W[:, active] @ G[active], W[:, active] @ g[active] + b
        return G, g

    def _witness_for_new_child(self, depth: int, state: float, n_new: int = 1) -> np.ndarray | None:
        """Witnesses for the child just pushed as the last ``n_new`` rows (a
        ReLU side, ``state`` its sign, or a maxout piece), or None if it is
        empty.

        Tries, cheapest first: a proof of emptiness still valid on this path,
        the box alone against each new row, then an LP, which decides. A
        projected-gradient walk from the parent's witnesses into the new
        rows was tried before the LP and dropped: on MNIST networks it
        replaced fewer than 1 LP in 500 and cost a sixth of the time.
        """
        unit = self.problem.order[depth]
        if self._still_refuted(unit, state):
            return None
        k = len(self.row_ids)
        lo, hi = self.problem.lower, self.problem.upper
        for r in range(k - n_new, k):
            if _kernels.refutes(self.rows[r : r + 1], self.rhs[r : r + 1], np.ones(1), lo, hi):
                self._record_refutation(unit, state, [])
                return None
        point = self.lp.point_in(self.rows[:k], self.rhs[:k], self.row_ids)
        if point is None:
            self._keep_farkas_proof(unit, state, n_new)
            return None
        inward = self._put_across(point)
        # The LP decided the child is non-empty, even if rounding leaves its
        # point outside the region and so no witness for the subtree.
        if inward is None:
            return self._witnesses_near(self.problem.preactivations(point[None, :]), depth + 1)
        return self._witnesses_near(self.problem.propagate(inward[None, :]), depth + 1)

    def _witnesses_near(self, pre: np.ndarray, depth: int) -> np.ndarray:
        """Store a point by its pre-activations ``pre`` (shape (1, columns));
        return its index if it has the current pattern.

        Random walks from a new point to seed its region with more witnesses
        were tried and dropped: the point is a vertex of the region, tight on
        many rows, and nearly every walk from it is blocked at once; and
        points sampled inside a region by coordinate hit-and-run (200,000 of
        them) reached about a tenth of the regions below it.
        """
        index = self._add_preactivations(pre)
        decided = self.order[:depth]
        values = self.pre[index[0], decided]
        if self.problem.maxout:
            # Maxout columns hold the winning piece, not a pre-activation.
            values = np.where(self.is_maxout[decided], values, values > 0.0)
            inside = np.array_equal(values, self.pattern[decided])
        else:
            inside = np.array_equal(values > 0.0, self.pattern[decided])
        return index if inside else index[:0]

    def _put_across(self, point: np.ndarray) -> np.ndarray | None:
        """Keep points just across the tight rows of an LP's vertex, each for
        the second child still to come at its first flipped row's depth.
        When thin regions are looked for, return the first-layer
        pre-activations of the vertex moved inside its own region (None if
        that fails).

        The vertex touches the regions on the other side of its tight rows,
        and points there come from :func:`pyregions._simplex.points_across`
        at the cost of a few small products: as witnesses they spared half
        the LPs on MNIST networks.
        """
        basis = self.lp.vertex_basis
        k = len(self.row_ids)
        flippable = self.row_flippable[:k]
        problem = self.problem
        inward = np.empty(problem.weights[0].shape[0] if problem.checks_thin else 0)
        if basis is None or not (flippable.any() or inward.size):
            return None
        count, own = _simplex.points_across(
            self.rows[:k], self.rhs[:k], point, basis, flippable,
            _layer_search.across_step(problem.tol, problem.thin_tol), problem.lower,
            problem.upper, problem.weights[0], ACROSS_FLIPS, self.across_out, self.across_rows,
            inward,
        )
        if count:
            firsts = self.across_out[:count] + problem.biases[0]
            rows = self.across_rows[:count]
            # Rows come in increasing order: one slice per first flipped row.
            ends = [*(np.flatnonzero(rows[1:] != rows[:-1]) + 1).tolist(), count]
            start = 0
            for end in ends:
                self._keep_across(self.depth_of_unit[self.row_keys[rows[start]][0]], firsts[start:end])
                start = end
        return inward + problem.biases[0] if own else None

    def _keep_across(self, depth: int, firsts: np.ndarray) -> None:
        """Keep points across ``depth``'s row, up to ``ACROSS_KEPT`` of them."""
        room = ACROSS_KEPT - sum(block.shape[0] for block in self.across[depth])
        if room > 0:
            self.across[depth].append(firsts[:room])

    def _take_across(self, depth: int) -> np.ndarray:
        """Store the points kept across ``depth``'s row; return their indices."""
        firsts = np.concatenate(self.across[depth])
        self.across[depth].clear()
        return self._add_preactivations(self.problem.propagate(firsts))

    def _keep_farkas_proof(self, unit: int, sign: float, n_new: int = 1) -> None:
        """Keep the LP's proof that the new child is empty, for every later
        node where it still holds.

        The proof combines some rows of the path with the new ones (the last
        ``n_new``; ``sign`` is the maxout piece when there are several). It
        holds wherever those rows are on the path again, unchanged: under the
        same earlier layers (the unit's own affine function and every row
        they made), and with the same states of the units of its layer that
        it uses, whatever the states of the others. Searching sibling
        subtrees, on MNIST 784-11-11, this spared two thirds of the LPs for
        empty children that a proof tied to the path up to its last row
        could not. The proof is re-checked here on its support alone, so a
        loose ray from either solver is never trusted.
        """
        multipliers = self.lp.farkas_multipliers()
        k = len(self.row_ids)
        if multipliers is None or multipliers.shape[0] != k or multipliers[k - n_new :].max() <= 0.0:
            return
        support = np.flatnonzero(multipliers > 1e-9 * multipliers.max())
        if not _kernels.refutes(
            self.rows[support], self.rhs[support], multipliers[support],
            self.problem.lower, self.problem.upper,
        ):
            return
        in_layer = support[(support >= self.layer_rows[self.layer_of[unit]]) & (support < k - n_new)]
        self._record_refutation(unit, sign, [self.row_keys[i] for i in in_layer])

    def _record_refutation(self, unit: int, sign: float, keys: list[tuple[int, int]]) -> None:
        """Record that ``unit``'s side ``sign`` is empty wherever the path
        holds the earlier layers' rows as now and the rows of ``keys``."""
        anchor = self.layer_rows[self.layer_of[unit]] - 1
        row_id = self.row_ids[anchor] if anchor >= 0 else -1
        record = self.refuted.get((unit, sign))
        if record is None or record[:2] != (anchor, row_id):
            # Proofs under other earlier layers' states never hold again.
            record = self.refuted[unit, sign] = (anchor, row_id, deque(maxlen=PROOFS_KEPT))
        record[2].append(frozenset(keys))

    def _still_refuted(self, unit: int, sign: float) -> bool:
        record = self.refuted.get((unit, sign))
        if record is None:
            return False
        anchor, row_id, proofs = record
        if anchor >= 0 and not _path_holds(self.row_ids, anchor, row_id):
            return False
        keys = set(self.row_keys[anchor + 1 :])
        return any(needed <= keys for needed in proofs)

    def _push_side(
        self, unit: int, c: np.ndarray, offset: float, threshold: float, sign: float,
        flippable: bool = False,
    ) -> None:
        """Push the side ``sign`` of a ReLU unit split by :meth:`_unit_at`
        (``c``, ``offset``, ``threshold``)."""
        tol = self.problem.tol
        self._push_row(
            unit, sign * c, tol - sign * offset, sign * tol / threshold, unit, flippable=flippable
        )

    def _push_row(
        self, unit: int, row: np.ndarray, rhs: float, scale: float, plus: int, minus: int = -1,
        flippable: bool = False,
    ) -> None:
        """Push ``row @ x >= rhs``, the row of unit norm; at a witness its
        distance is ``scale * (pre[plus] - pre[minus])`` (no ``minus`` if -1)."""
        k = len(self.row_ids)
        self.rows[k] = row
        self.rhs[k] = rhs
        self.row_flippable[k] = flippable
        self.row_plus[k] = plus
        self.row_minus[k] = minus
        self.row_scale[k] = scale
        self.row_keys.append((unit, int(self.pattern[unit])))
        self.row_ids.append(self.next_row_id)
        self.next_row_id += 1

    def _pop_row(self) -> None:
        self.row_keys.pop()
        self.row_ids.pop()

    def _tick(self, regions: int = 0, nodes: int = 0, solves: int = 0) -> None:
        """Stop at the deadline; report progress, counting ``regions``,
        ``nodes`` and ``solves`` not yet recorded."""
        if self.deadline is not None and time.time() > self.deadline or _workers.stop_requested():
            raise _Interrupted
        now = time.perf_counter()
        if self.progress is not None and now - self.last_report >= PROGRESS_INTERVAL:
            self.last_report = now
            self.progress(
                Progress(
                    self.found.count + regions, self.nodes + nodes, self.lp.solves + solves,
                    now - self.started,
                )
            )
