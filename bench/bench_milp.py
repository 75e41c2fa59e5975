"""The paper's MILP: one branch-and-bound tree ("milp") against HiGHS
re-solved once per region ("milp-resolve"), beside the tree search.

Run with ``pytest bench/bench_milp.py``; the summary at the end prints the
ratios, all measured in the same run. The re-solve loop cannot finish the
larger networks, so every method's rate (regions per second) is noted and
compared, the re-solve loop's over its first RESOLVE_SECONDS. Thin regions
are not looked for (``thin_tol=tol``): that check is the tree search's work
whatever found the regions.
"""

from __future__ import annotations

import pytest

from pyregions import Box, count_regions
from pyregions.counting import DEFAULT_TOL
from pyregions.network import example_network

from tests.reference import random_network

from .conftest import compare

# name: (network, box, whether the re-solve loop finishes in minutes)
NETWORKS = {
    "random-10-8-8": (lambda: random_network(10, [8, 8], 1), Box(-2, 2), False),  # 2,629 regions
    "random-784-4-4": (lambda: random_network(784, [4, 4], 0), Box(0, 1), True),  # 113
    "random-784-5-5": (lambda: random_network(784, [5, 5], 0), Box(0, 1), True),  # 445
    "random-784-6-6": (lambda: random_network(784, [6, 6], 0), Box(0, 1), False),  # 1,457
    "mnist-784-8-8": (example_network, Box(0, 1), False),  # the bundled example, 10,481
}
RESOLVE_SECONDS = 180
METHODS = ["tree", "milp", "milp-resolve"]

for name in NETWORKS:
    compare(f"one-tree MILP / tree search, time, {name}", f"test_count[milp-{name}]", f"test_count[tree-{name}]")
    compare(f"one-tree MILP / re-solve loop, regions per second, {name}", f"test_count[milp-resolve-{name}]",
            f"test_count[milp-{name}]", key="regions_per_second")


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("method", METHODS)
def test_count(record, note, method, name):
    make, box, resolves = NETWORKS[name]
    network = make()
    partial = method == "milp-resolve" and not resolves
    time_limit = RESOLVE_SECONDS if partial else None

    def count():
        return count_regions(network, box, method=method, seed=0, thin_tol=DEFAULT_TOL, time_limit=time_limit)

    result = record(count, rounds=3 if method == "tree" else 1)
    assert result.complete or partial
    if method == "milp":
        assert result.regions == count_regions(network, box, thin_tol=DEFAULT_TOL).regions
    note(
        regions=result.regions,
        complete=result.complete,
        regions_per_second=result.regions / result.seconds,
        solves_per_region=result.lp_solves_per_region,
        milp_solves=result.milp_solves,
        milp_nodes=result.milp_nodes,
    )
