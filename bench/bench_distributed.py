"""Subtrees on Dask: speed-up with two workers, overhead per task, and a
simulated study of how the cut behaves with hundreds of workers."""

from __future__ import annotations

import heapq
import time

import numpy as np
import pytest

from pyregions import Box, count_regions
from pyregions.counting.problem import TreeProblem
from pyregions.counting.settings import DEFAULT_TOL
from pyregions.counting.subtree import count_subtree, frontier
from pyregions.tightening import preactivation_bounds
from tests.reference import random_network

from .conftest import compare

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

NET = random_network(6, [24, 22], 7)
BOX = Box(-1, 1)

compare("Dask, 2 workers vs 1", "test_dask_workers[1]", "test_dask_workers[2]")


@pytest.mark.parametrize("workers", [1, 2])
def test_dask_workers(record, note, workers):
    with distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
    ) as cluster, distributed.Client(cluster) as client:
        executor = client.get_executor()
        result = record(lambda: count_regions(NET, BOX, executor=executor, jobs=2), rounds=1)
    note(regions=result.regions)


def test_overhead_per_task(record, note):
    """A subtree task that does almost nothing: a prefix that is a whole pattern."""
    lower, upper = BOX.bounds(NET.n_inputs)
    problem = TreeProblem.build(
        NET, lower, upper, preactivation_bounds(NET, BOX), DEFAULT_TOL
    )
    leaf = count_regions(NET, BOX, return_patterns=True).unpacked_patterns()[0]
    prefix = tuple(bool(b) for b in leaf[list(problem.order)])
    tasks = 200
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
    ) as cluster, distributed.Client(cluster) as client:
        executor = client.get_executor()
        executor.submit(count_subtree, problem, prefix, 0, None, None).result()

        def run_tasks():
            futures = [
                executor.submit(count_subtree, problem, prefix, i, None, None)
                for i in range(tasks)
            ]
            return [f.result() for f in futures]

        record(run_tasks, rounds=3)
    local = time.perf_counter()
    for i in range(20):
        count_subtree(problem, prefix, i, None, None)
    local = (time.perf_counter() - local) / 20
    note(tasks=tasks, local_seconds_per_task=local)


def simulate(durations: np.ndarray, workers: int) -> float:
    """Makespan of greedy list scheduling, largest tasks first, over the ideal."""
    finish = [0.0] * workers
    for duration in sorted(durations, reverse=True):
        heapq.heapreplace(finish, finish[0] + duration)
    return max(finish) / (durations.sum() / workers)


def test_split_study(record, note):
    """Time every subtree of a fine cut, then schedule them on many workers."""
    lower, upper = BOX.bounds(NET.n_inputs)
    problem = TreeProblem.build(
        NET, lower, upper, preactivation_bounds(NET, BOX), DEFAULT_TOL
    )
    rng = np.random.default_rng(0)
    prefixes, complete, _ = frontier(problem, rng, 1024, None)
    assert complete

    def time_subtrees():
        durations = []
        for prefix in prefixes:
            started = time.perf_counter()
            count_subtree(problem, tuple(map(bool, prefix)), 0, None, None)
            durations.append(time.perf_counter() - started)
        return np.array(durations)

    durations = record(time_subtrees, rounds=1)
    info = {
        "subtrees": len(durations),
        "median_task_seconds": float(np.median(durations)),
        "max_over_median": float(durations.max() / np.median(durations)),
    }
    for workers in (16, 64, 256, 512):
        info[f"makespan_over_ideal_{workers}_workers"] = simulate(durations, workers)
    note(**info)
