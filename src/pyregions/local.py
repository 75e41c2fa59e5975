"""Local complexity: the regions in a small box around each of many points.

The count around a point ``x`` is :func:`~pyregions.count_regions` over
``Box.around(x, radius, clip)``, the L-infinity ball of ``radius`` cut to the
input domain; with ``jobs`` the points are counted in worker processes, one
point per task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass

import numpy as np

from . import _workers
from ._validation import check_array, check_int, check_positive
from .counting import DEFAULT_TOL, count_regions
from .domain import Box
from .network import Network

__all__ = ["LocalCounts", "count_local"]


@dataclass(frozen=True)
class LocalCounts:
    """The result of :func:`count_local`.

    Attributes
    ----------
    regions : ndarray of int64, shape (n_points,)
        Regions in each point's box; -1 for a point not counted (stopped
        before it started).
    complete : ndarray of bool, shape (n_points,)
        Whether each count is complete; an incomplete one is a lower bound.
    radius : float
    seconds : float
        Wall time of all the counts.
    lp_solves : int
    """

    regions: np.ndarray
    complete: np.ndarray
    radius: float
    seconds: float
    lp_solves: int

    @property
    def all_complete(self) -> bool:
        return bool(self.complete.all())


def _count_one(network: Network, box: Box, tol: float, seed: int,
               deadline: float | None) -> tuple[int, bool, int]:
    remaining = None if deadline is None else max(deadline - time.time(), 1e-3)
    result = count_regions(network, box, tol=tol, seed=seed, time_limit=remaining)
    return result.regions, result.complete, result.lp_solves


def count_local(
    network: Network,
    points,
    radius: float,
    *,
    clip=(0.0, 1.0),
    tol: float = DEFAULT_TOL,
    jobs: int = 1,
    seed: int = 0,
    time_limit: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LocalCounts:
    """Count the regions in the L-infinity ball of ``radius`` around each point.

    Parameters
    ----------
    network : Network
    points : array_like of shape (n_points, n_inputs)
    radius : float
        Positive, in input units.
    clip : (float, float) or None, default=(0.0, 1.0)
        The input domain each ball is cut to (:meth:`Box.around`).
    tol : float, default=DEFAULT_TOL
        As for :func:`~pyregions.count_regions`.
    jobs : int, default=1
        Worker processes, each counting one point at a time (call under
        ``if __name__ == "__main__":``, as for ``count_regions``).
    seed : int, default=0
        Seeds the witnesses of each count (the counts do not depend on it).
    time_limit : float, optional
        Seconds for all the counts; those unfinished are lower bounds and
        those not started are -1.
    progress : callable, optional
        Called as ``progress(done, n_points)`` after each point.

    Returns
    -------
    LocalCounts

    Examples
    --------
    >>> import numpy as np
    >>> from pyregions import Network
    >>> from pyregions.local import count_local
    >>> net = Network([np.array([[1.0], [-1.0]])], [np.array([-0.5, 0.2])])
    >>> count_local(net, [[0.5], [0.9]], 0.05).regions
    array([2, 1])
    """
    points = check_array(points, "points", ndim=2, shape=(None, network.n_inputs))
    radius = check_positive(radius, "radius")
    jobs = check_int(jobs, "jobs", minimum=1)
    boxes = [Box.around(point, radius, clip) for point in points]  # all checked before any count
    start = time.perf_counter()
    deadline = None if time_limit is None else time.time() + check_positive(time_limit, "time_limit")
    regions = np.full(points.shape[0], -1, dtype=np.int64)
    complete = np.zeros(points.shape[0], dtype=bool)
    solves = done = 0

    def record(index: int, outcome: tuple[int, bool, int]) -> None:
        nonlocal solves, done
        regions[index], complete[index], lp = outcome
        solves += lp
        done += 1
        if progress is not None:
            progress(done, points.shape[0])

    arguments = [(network, box, tol, seed + i) for i, box in enumerate(boxes)]
    try:
        if jobs == 1:
            for index, args in enumerate(arguments):
                if deadline is not None and time.time() >= deadline:
                    break
                record(index, _count_one(*args, deadline))
        else:
            _count_in_pool(arguments, jobs, deadline, record)
    except KeyboardInterrupt:
        pass
    return LocalCounts(regions, complete, radius, time.perf_counter() - start, solves)


def _count_in_pool(arguments, jobs, deadline, record) -> None:
    pool = _workers.WorkerPool(jobs)
    pending = {}
    try:
        pending = {pool.submit(_count_one, *args, deadline): index for index, args in enumerate(arguments)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                record(pending.pop(future), future.result())
    except KeyboardInterrupt:
        for future in pool.stop(pending):
            record(pending[future], future.result())
        pool.kill()
        raise
    pool.shutdown()
