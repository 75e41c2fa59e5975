"""Estimating the number of linear regions by sampling the activation tree.

The exact count (:mod:`pyregions.counting`) visits every node of the
activation tree: the hidden units in layer order, a node fixing the states of
the units so far, its children the states of the next unit whose regions are
non-empty. Its leaves at full depth are the regions, with the same tolerance
``tol`` (see :mod:`pyregions.counting`). Knuth's estimator of tree size [1]_
samples that tree instead: a *probe* walks from the root, at each node
chooses one of the :math:`c_k` non-empty children uniformly at random, and
returns the product of the branching factors along its path,

.. math::

    X = \\prod_{k} c_k, \\qquad
    \\mathbb{E}[X] = \\sum_{\\text{leaves } v} \\Pr[\\text{probe reaches } v]
        \\prod_{k} c_k(v) = \\sum_{\\text{leaves } v} 1 = R,

since a probe reaches a leaf with probability exactly :math:`\\prod_k 1/c_k`.
A path that dies (a node whose both children are thinner than ``tol``)
returns :math:`X = 0`: that subtree has no leaf. The estimate is the mean
:math:`\\bar X` of ``samples`` independent probes, unbiased for the count
:math:`R`, and its 95% interval is the normal one,
:math:`\\bar X \\pm 1.96\\, s / \\sqrt{n}` with :math:`s` the sample standard
deviation. The distinct regions the probes reached are reported apart: they
exist, so their number is a proven lower bound.

A probe decides each child exactly as the exact count does: stable units and
units constant on the region are forced, and a child is shown non-empty by a
witness (a sampled point of the box known to lie in it, by one forward pass),
or else decided by an LP. So it costs at most two LPs per
hidden unit, whatever the number of regions.

The interval is only as good as the normal approximation. :math:`X` is
heavy-tailed when the tree is unbalanced: a few rare paths through deep,
bushy subtrees carry much of the mean. With few probes those paths are
usually missed, and then the mean and the sample variance both come out too
small: the estimate is unbiased only on average over runs, a typical run
sits low, and its interval undercovers. Coverage approaches 95% only once
the probes are many enough to see the tail (about 95% with 300 probes on
small random networks in the tests, less with a few dozen). Read an
interval from few probes as a rough size, not a guarantee.

References
----------
.. [1] D. E. Knuth, "Estimating the efficiency of backtrack programs",
   Mathematics of Computation 29 (1975), 121-136.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._validation import check_int, check_positive, check_seed
from ._workers import WorkerPool, shared_queue, stop_requested
from .counting.problem import TreeProblem
from .counting.search import TreeSearch
from .counting.settings import DEFAULT_TOL, SETTINGS
from .domain import Box
from .exceptions import UnsupportedLayerError
from .network import Network
from .tightening import check_network_and_box, preactivation_bounds

__all__ = ["DEFAULT_PROBES", "EstimateProgress", "RegionEstimate", "estimate_regions"]

DEFAULT_PROBES = 1000
METHOD = "knuth"
# Seconds between progress reports: each one sums every product so far.
PROGRESS_INTERVAL = 1.0
# Nodes whose non-empty children the probes remember: about 150 MB. Only
# the top levels are met again, and they fill the memory first.
MAX_REMEMBERED_NODES = 1_000_000
#: The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class RegionEstimate:
    """The result of :func:`estimate_regions`.

    Attributes
    ----------
    estimate : float
        Mean of the probes' products: an unbiased estimate of the number of
        regions :func:`~pyregions.count_regions` would return.
    ci95 : tuple of float
        Normal-approximation 95% interval ``(low, high)`` around the estimate.
        It undercovers when the probes are few (see the module docstring).
    samples : int
        Probes run: fewer than asked when the time limit or an interrupt
        stopped them early.
    seconds : float
        Wall time, the pre-activation bounds included.
    lp_solves : int
        LPs solved by the probes.
    method : str
        ``"knuth"``.
    regions_seen : int
        Distinct regions the probes reached: a proven lower bound on the count.
    tol : float
        The margin used, as in :func:`~pyregions.count_regions`.
    """

    estimate: float
    ci95: tuple[float, float]
    samples: int
    seconds: float
    lp_solves: int
    method: str
    regions_seen: int
    tol: float


@dataclass(frozen=True)
class EstimateProgress:
    """A snapshot of a running estimate, passed to the ``progress`` callback:
    the probes done, and the estimate and its 95% interval from them."""

    samples: int
    estimate: float
    ci95: tuple[float, float]
    seconds: float


def estimate_regions(
    network: Network,
    box: Box,
    *,
    samples: int = DEFAULT_PROBES,
    seed=None,
    tol: float = DEFAULT_TOL,
    time_limit: float | None = None,
    jobs: int = 1,
    progress: Callable[[EstimateProgress], None] | None = None,
) -> RegionEstimate:
    """Estimate the number of linear regions of ``network`` over ``box``.

    Runs ``samples`` probes of Knuth's estimator on the activation tree that
    :func:`~pyregions.count_regions` searches exhaustively, for networks too
    large to count (see the module docstring).

    Parameters
    ----------
    network : Network
    box : Box
        A bounded input domain; its dimension must match the network.
    samples : int, default=1000
        Probes to run, at least 2 (the interval needs a sample variance).
    seed : None, int or numpy.random.Generator
        Seeds the probes' choices, the witness samples and the LPs.
    tol : float, default=1e-8
        Margin, a distance in input units, with the meaning it has in
        :func:`~pyregions.count_regions`: the quantity estimated is that
        function's count at the same ``tol``.
    time_limit : float, optional
        Seconds; no probe starts after it (at least 2 always run), and
        ``samples`` in the result tells how many did.
    jobs : int, default=1
        Local worker processes, each running its share of the probes with
        its own seed drawn from ``seed`` (so the result depends on ``jobs``).
    progress : callable, optional
        Called with an :class:`EstimateProgress` about once a second.

    Returns
    -------
    RegionEstimate

    Raises
    ------
    TypeError
        When ``network`` or ``box`` is of the wrong type.
    ShapeError
        When the box does not match the network.
    UnsupportedLayerError
        When the network has a maxout layer (count it with
        :func:`~pyregions.count_regions`).
    ValueError
        For ``samples < 2``, ``jobs < 1``, a non-positive ``tol`` or
        ``time_limit``.
    SolverError
        When neither the simplex nor HiGHS can decide an LP.

    Notes
    -----
    Ctrl-C (KeyboardInterrupt) ends the probes, also in worker processes,
    and the result is the estimate from those done (``samples`` tells how
    many); fewer than two done raise the KeyboardInterrupt.

    Examples
    --------
    >>> import numpy as np
    >>> from pyregions import Box, Network
    >>> from pyregions.estimation import estimate_regions
    >>> net = Network([np.array([[1.0], [-1.0]])], [np.array([0.0, 0.5])])
    >>> result = estimate_regions(net, Box(-1, 1), samples=200, seed=0)
    >>> result.regions_seen
    3
    >>> 2.0 < result.estimate < 4.0
    True
    """
    check_network_and_box(network, box)
    if network.maxout_rank is not None:
        # The probes branch in two at every unit; maxout units branch in k.
        layer = next(i for i, layer in enumerate(network.layers) if layer.activation != "relu")
        msg = f"layer {layer} (MaxoutLayer): estimate_regions supports ReLU networks only"
        raise UnsupportedLayerError(msg)
    samples = check_int(samples, "samples", minimum=2)
    tol = check_positive(tol, "tol")
    if time_limit is not None:
        time_limit = check_positive(time_limit, "time_limit", unit=" of seconds")
    jobs = check_int(jobs, "jobs", minimum=1)
    lower, upper = box.bounds(network.n_inputs)
    rng = check_seed(seed)
    start = time.perf_counter()
    # Wall-clock, so that worker processes read the same deadline.
    deadline = None if time_limit is None else time.time() + time_limit
    pre_bounds = preactivation_bounds(network, box, method="lp")
    problem = TreeProblem.build(network, lower, upper, pre_bounds, tol)
    shares = [len(part) for part in np.array_split(np.arange(samples), min(jobs, samples // 2))]
    seeds = [int(s) for s in rng.integers(2**31 - 1, size=len(shares))]
    report = None if progress is None else _Reporter(progress, start)
    if len(shares) == 1:
        runs = [_run_probes(problem, seeds[0], shares[0], deadline, report)]
    else:
        runs = _run_in_workers(problem, seeds, shares, deadline, report)
    products = [p for run in runs for p in run.products]
    if len(products) < 2:
        # Only an interrupt stops a run before its first two probes.
        raise KeyboardInterrupt
    estimate, ci95 = _mean_interval(products)
    return RegionEstimate(
        estimate=estimate,
        ci95=ci95,
        samples=len(products),
        seconds=time.perf_counter() - start,
        lp_solves=sum(run.lp_solves for run in runs),
        method=METHOD,
        regions_seen=len(set().union(*(run.leaves for run in runs))),
        tol=float(tol),
    )


@dataclass(frozen=True)
class _Probes:
    """What one run of probes sends back."""

    products: list[int]
    leaves: set[bytes]  # the packed patterns of the leaves reached
    lp_solves: int


def _run_in_workers(problem: TreeProblem, seeds, shares, deadline, report) -> list[_Probes]:
    """Run each share of the probes in a worker process, calling ``report``
    with the products the workers send as they go; after an interrupt, the
    runs that ended within the grace period, with the probes they did."""
    pool = WorkerPool(len(shares))
    futures = []
    with shared_queue() if report is not None else contextlib.nullcontext() as queue:
        forward = None if queue is None else _Forwarder(queue)
        try:
            for seed, share in zip(seeds, shares):
                futures.append(pool.submit(_run_probes, problem, seed, share, deadline, forward))
            products: list[int] = []
            running = futures
            while running:
                running = wait(running, timeout=None if queue is None else PROGRESS_INTERVAL).not_done
                if queue is not None:
                    while not queue.empty():
                        products += queue.get_nowait()
                    report(products)
            ended = futures
        except KeyboardInterrupt:
            ended = [future for future in futures if future in pool.stop(futures)]
        finally:
            if all(future.done() for future in futures):
                pool.shutdown()
            else:
                pool.kill()
    return [future.result() for future in ended]


class _Forwarder:
    """Sends a worker's new products to its parent's queue, at most every
    ``PROGRESS_INTERVAL`` seconds; called with the products after each probe."""

    def __init__(self, queue):
        self.queue, self.sent, self.last = queue, 0, -math.inf

    def __call__(self, products: list[int]) -> None:
        now = time.perf_counter()
        if self.queue is not None and now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            try:
                self.queue.put(products[self.sent :])
            except (OSError, EOFError):
                self.queue = None  # the parent has gone: progress is lost, not the probes
            self.sent = len(products)


class _Reporter:
    """Calls ``progress`` with the estimate so far, at most every
    ``PROGRESS_INTERVAL`` seconds."""

    def __init__(self, progress: Callable[[EstimateProgress], None], start: float):
        self.progress, self.start, self.last = progress, start, start

    def __call__(self, products: list[int]) -> None:
        now = time.perf_counter()
        if now - self.last >= PROGRESS_INTERVAL and len(products) >= 2:
            self.last = now
            estimate, ci95 = _mean_interval(products)
            self.progress(EstimateProgress(len(products), estimate, ci95, now - self.start))


def _run_probes(
    problem: TreeProblem, seed: int, count: int, deadline: float | None, report=None
) -> _Probes:
    """Run ``count`` probes, or fewer past ``deadline`` (never fewer than 2),
    calling ``report`` with the products after each.

    Also the entry point of a worker process. An interrupt, or the parent's
    request to stop, ends the run with the probes finished so far.
    """
    search = _ProbeSearch(problem, np.random.default_rng(seed))
    products: list[int] = []
    leaves: set[bytes] = set()
    try:
        while len(products) < count and not stop_requested():
            if deadline is not None and len(products) >= 2 and time.time() > deadline:
                break
            product, pattern = search.probe()
            products.append(product)
            if product:
                leaves.add(np.packbits(pattern).tobytes())
            if report is not None:
                report(products)
    except KeyboardInterrupt:
        pass
    return _Probes(products, leaves, search.lp.solves)


def _mean_interval(products: list[int]) -> tuple[float, tuple[float, float]]:
    """Mean and normal 95% interval of the products.

    The products are exact ints, up to 2^(hidden units). They are scaled by
    a power of two, which is exact, to below 1 so that squaring them for the
    variance cannot overflow; a result past the float range is infinite.
    """
    shift = max(products).bit_length()
    scale = 1 << shift
    values = np.array([p / scale for p in products])
    mean = float(values.mean())
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(values.size)
    return _times_power_of_two(mean, shift), (
        _times_power_of_two(mean - half, shift),
        _times_power_of_two(mean + half, shift),
    )


def _times_power_of_two(value: float, exponent: int) -> float:
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


class _ProbeSearch:
    """The tree search of :mod:`pyregions.counting`, walked one random path at a time.

    It keeps the search's witness store, LP and proofs of emptiness, and
    replaces the depth-first visit by :meth:`probe`. The root's witness
    samples are drawn once and shared by every probe; the points a probe adds
    on its way down lie in its own path's regions and are dropped after it.
    Which children of a node are non-empty is remembered, so that the probes
    pay for each node of the tree's top levels, which they share, only once.
    """

    def __init__(self, problem: TreeProblem, rng: np.random.Generator):
        self.rng = rng
        self.search = TreeSearch(problem, rng)
        self.lp = self.search.lp
        self.root = self.search.add_samples(SETTINGS.samples)
        # (depth, packed pattern of the units before it) -> (active child
        # non-empty, inactive child non-empty)
        self.children: dict[tuple[int, bytes], tuple[bool, bool]] = {}

    def probe(self) -> tuple[int, np.ndarray]:
        """Walk one random root-to-leaf path.

        Returns the product of the branching factors, 0 when the path dies
        before a leaf, and the pattern reached (meaningful only at a leaf).
        """
        search = self.search
        search.clear_path()
        witnesses = self.root
        product = 1
        for depth in range(len(search.problem.order)):
            split = search.unit_at(depth)
            unit, c, offset, _ = split
            if c is None:
                search.pattern[unit] = offset
                continue
            factor, witnesses = self._branch(depth, split, witnesses)
            product *= factor
            if not factor:
                break
        search.n_points = self.root.size
        return product, search.pattern.copy()

    def _branch(self, depth, split, witnesses) -> tuple[int, np.ndarray | None]:
        """Step into a uniformly random non-empty child of the node at ``depth``.

        ``split`` is :meth:`TreeSearch.unit_at`'s answer there. Pushes the
        child's row and returns the number of non-empty children with the
        child's witnesses; ``(0, None)`` when both children are empty.
        """
        search = self.search
        unit = split[0]
        values = search.pre[witnesses, unit]
        key = (depth, np.packbits(search.pattern[search.order[:depth]]).tobytes())
        known = self.children.get(key)
        if known is not None:
            signs = [sign for sign, nonempty in zip((1.0, -1.0), known) if nonempty]
            if not signs:
                return 0, None
            sign = signs[int(self.rng.integers(len(signs)))]
            side = witnesses[_kernels.side_mask(values, split[3], sign)]
            self._test_side(split, depth, witnesses, values, sign, known=side)
            return len(signs), side
        # Choosing the side before testing lets the chosen side be tested
        # last and kept on the path, and is still uniform over the non-empty
        # children: with one of them it is taken either way.
        chosen = 1.0 if self.rng.random() < 0.5 else -1.0
        other = self._test_side(split, depth, witnesses, values, -chosen)
        search.pop_row()
        side = self._test_side(split, depth, witnesses, values, chosen)
        found = (side is not None, other is not None)
        if len(self.children) < MAX_REMEMBERED_NODES:
            self.children[key] = found if chosen > 0 else found[::-1]
        if side is not None:
            return sum(found), side
        search.pop_row()
        if other is None:
            return 0, None
        self._test_side(split, depth, witnesses, values, -chosen, known=other)
        return 1, other

    def _test_side(self, split, depth, witnesses, values, sign, known=None) -> np.ndarray | None:
        """Push one side of the unit at ``depth``; return its witnesses, or None if it is empty.

        With ``known`` (the witnesses of a side known to be non-empty) the
        side is only pushed.
        """
        search = self.search
        unit, c, offset, threshold = split
        search.pattern[unit] = sign > 0
        search.push_side(unit, c, offset, threshold, sign)
        if known is not None:
            return known
        side = witnesses[_kernels.side_mask(values, threshold, sign)]
        if side.size == 0:
            # Empty array (non-empty side, no witness) or None (empty side).
            return search.witness_for_new_child(depth, sign)
        return side
