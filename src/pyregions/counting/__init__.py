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
    :mod:`pyregions._kernels.simplex`, warm-started from an earlier LP's basis
    (HiGHS takes the rare LPs it leaves undecided). An empty child costs an
    LP too, but the Farkas proof of its emptiness is kept, checked, and
    reused at every later node it still covers. In a ReLU network the
    search runs as one compiled loop
    (:mod:`pyregions._kernels.layer_search`) from the root, whatever the
    layers' widths, a slice's walls included. On two free coordinates (a
    plane through three points, a network of two inputs) a serial count
    keeps each node's region as a convex polygon instead
    (:mod:`pyregions._kernels.polygon_search`): a child is the parent's
    polygon clipped by its row, with no LP, and the count and every
    pattern are the LPs' (but for a region within the LPs' own tolerance,
    2e-10, of the margin ``tol``, which is thin).
``"milp"``
    The paper's mixed-integer formulation (:mod:`pyregions.milp`), every
    region enumerated in one branch-and-bound tree over its binaries, HiGHS
    solving the nodes' LP relaxations: the faithful reference.
``"milp-resolve"``
    The same formulation solved by HiGHS's MIP solver once per region, each
    region cut off by a no-good row before the next solve: the slowest, a
    check by a complete MILP solver.

Only the names of ``__all__`` are public. The package's modules, each one
concern: :mod:`.settings` (the tuning constants), :mod:`.problem` (what a
search needs, and the affine map of a layer on a region), :mod:`.lp` (its
LPs), :mod:`.search` (the Python search), :mod:`.compiled` and
:mod:`.polygons` (its bridges to the compiled ones), :mod:`.subtree`,
:mod:`.run` and :mod:`.workers` (cutting a count into subtrees, with
checkpoints and worker processes), :mod:`.milp` (the MILP methods) and
:mod:`.results` (what a count returns).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Executor

from .. import _kernels
from .._kernels import across as _across
from .._kernels import layer_search as _layer_search
from .._kernels import polygon_search as _polygon_search
from .._kernels import simplex as _simplex
from .._validation import check_int, check_positive, check_seed
from ..domain import Box
from ..network import Network
from ..slices import Slice
from ..tightening import check_network_and_box, preactivation_bounds
from .milp import MILP_SEARCHES, count_with_milp
from .problem import WALL_MARGIN, TreeProblem
from .results import Found, Progress, RegionCount, pack_patterns
from .run import count_tree
from .settings import COLD_COMPILE_SECONDS, DEFAULT_THIN_TOL, DEFAULT_TOL
from .workers import refuse_in_starting_worker

__all__ = [
    "COLD_COMPILE_SECONDS", "DEFAULT_THIN_TOL", "DEFAULT_TOL", "METHODS", "Progress", "RegionCount",
    "count_regions", "kernels_compiled",
]

METHODS = ("tree", "milp", "milp-resolve")


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
        searched ``fan_out_nodes`` nodes (about a second) without finishing;
        the rest of the tree is then cut into subtrees by pattern prefix,
        cut further whenever a process runs out of work. The result is
        identical whatever ``jobs``. The workers import the main script
        again: call this under ``if __name__ == "__main__":``. A ReLU
        network's count on two free coordinates (a plane, a two-input
        network) clips polygons, far faster than LPs on any number of
        processes, and runs in this process alone; with a ``checkpoint``
        or an ``executor`` it is cut into subtrees, searched by LPs.
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
        refuse_in_starting_worker(jobs)
    if checkpoint is not None and method != "tree":
        msg = f"checkpoints are kept by the tree search only, not by method {method!r}"
        raise ValueError(msg)
    if return_patterns and patterns is not None:
        msg = "choose return_patterns=True (in memory) or patterns=FILE (on disk), not both"
        raise ValueError(msg)
    if time_limit is not None:
        time_limit = check_positive(time_limit, "time_limit", unit=" of seconds")
    rng = check_seed(seed)
    start = time.perf_counter()
    # Wall-clock, so that worker processes read the same deadline.
    deadline = None if time_limit is None else time.time() + time_limit
    counted, box, walls = _domain(network, box, through)
    lower, upper = box.bounds(counted.n_inputs)
    pre_bounds = preactivation_bounds(counted, box, method="lp")
    problem = TreeProblem.build(counted, lower, upper, pre_bounds, tol, thin_tol=thin_tol)
    if walls is not None:
        problem = problem.with_walls(*walls)
    milp = None
    if method in MILP_SEARCHES:
        found, complete, solves, thin, milp = count_with_milp(
            counted, lower, upper, problem, pre_bounds, walls, method, rng, deadline=deadline,
            start=start, progress=progress, keep=return_patterns, patterns_file=patterns,
        )
    else:
        found = Found(
            problem.n_hidden, problem.pattern_dtype, keep=return_patterns,
            drop=problem.n_hidden - counted.n_hidden,
        )
        try:
            complete, solves, thin = count_tree(
                problem, rng, found, jobs=jobs, executor=executor, deadline=deadline,
                progress=progress, checkpoint=checkpoint, patterns_file=patterns,
            )
        finally:
            if found.writer is not None:
                found.writer.close()
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
        patterns=pack_patterns(found.patterns()) if return_patterns else None,
    )


def _domain(network: Network, box: Box, through) -> tuple[Network, Box, tuple | None]:
    """The network and box counted over, ``(network, box, walls)``: the
    given ones, or those of the slice through the points ``through``, whose
    faces are ``walls`` (``(rows, rhs)``, else None)."""
    if through is None:
        return network, box, None
    plane = Slice.through(through, *box.bounds(network.n_inputs))
    return plane.network(network), Box(plane.lower, plane.upper), plane.walls(WALL_MARGIN)


def kernels_compiled(*, planar: bool = False) -> bool:
    """Whether the search's compiled kernels are in Numba's cache: if not,
    the next count first compiles them, once, for about
    ``COLD_COMPILE_SECONDS`` seconds of one core.

    ``planar`` asks about the kernel of counts on two free coordinates (a
    plane, a two-input network), which compiles in about a fifth of that.
    The cache lies beside the sources, or in ``NUMBA_CACHE_DIR`` when set.
    """
    if planar:
        return _kernels.in_cache([_polygon_search.search])
    return _kernels.in_cache([_layer_search.search, _simplex.solve, _across.points_across])
