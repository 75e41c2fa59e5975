"""Local jobs against one process: ``jobs=2`` must never be slower than
``jobs=1`` by more than a few percent, whatever the count's size, and should
be about 1.8 times faster on counts over 10 s.

Run with ``pytest bench/bench_parallel.py``; the summary at the end prints
each jobs=1 / jobs=2 ratio (fastest rounds of one run). The counts: the
bundled example (about a second, within the serial start), a random
784-9-9 network (a little over it: the workers start but have little left
to do, the case where they could lose) and MNIST 784-11-11 (about 30 s).
"""

from __future__ import annotations

import pytest

from pyregions import Box, count_regions
from pyregions.network import example_network

from tests.reference import random_network

from .conftest import compare

BOX = Box(0, 1)
SHORT_ROUNDS = 5

for case in ("bundled", "random", "mnist"):
    compare(f"jobs=1 / jobs=2, {case}", f"test_{case}[1]", f"test_{case}[2]")


@pytest.fixture(scope="module", autouse=True)
def compiled():
    count_regions(random_network(784, (3, 3), 1), BOX)


def _count(network, jobs, note):
    result = count_regions(network, BOX, seed=0, jobs=jobs)
    assert result.complete
    note(regions=result.regions, lp_per_region=result.lp_solves_per_region)
    return result


@pytest.mark.parametrize("jobs", [1, 2])
def test_bundled(record, note, jobs):
    network = example_network()
    record(lambda: _count(network, jobs, note), rounds=SHORT_ROUNDS)


@pytest.mark.parametrize("jobs", [1, 2])
def test_random(record, note, jobs):
    network = random_network(784, (9, 9), 1)
    record(lambda: _count(network, jobs, note), rounds=SHORT_ROUNDS)


@pytest.mark.parametrize("jobs", [1, 2])
def test_mnist(record, note, jobs, mnist_11_11):
    record(lambda: _count(mnist_11_11, jobs, note), rounds=1)
