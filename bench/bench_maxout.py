"""Maxout counting speed next to ReLU networks with as many hyperplanes.

A maxout unit of rank k brings k(k-1)/2 hyperplanes (its pairwise ties), so
4-[12,12] ReLU, 4-[12,12] rank-2 maxout and 4-[4,4] rank-3 maxout all have 24.
"""

from __future__ import annotations

import pytest

from pyregions import Box, count_regions

from tests.reference import random_maxout_network, random_network

BOX = Box(-1, 1)
NETWORKS = {
    "relu-12-12": lambda: random_network(4, [12, 12], 0),
    "maxout2-12-12": lambda: random_maxout_network(4, [12, 12], 2, 0),
    "maxout3-4-4": lambda: random_maxout_network(4, [4, 4], 3, 0),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_regions_per_second(record, note, name):
    network = NETWORKS[name]()
    result = record(lambda: count_regions(network, BOX, seed=0), rounds=3)
    assert result.complete
    note(
        regions=result.regions,
        regions_per_second=result.regions / result.seconds,
        lp_per_region=result.lp_solves_per_region,
    )
