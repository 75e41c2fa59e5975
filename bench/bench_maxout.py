"""Maxout counting speed next to ReLU networks with as many hyperplanes.

A maxout unit of rank k brings k(k-1)/2 hyperplanes (its pairwise ties), so
4-[12,12] ReLU, 4-[12,12] rank-2 maxout and 4-[4,4] rank-3 maxout all have 24.
Maxout layers are searched in Python only, so the ReLU network is timed
with both searches: the summary compares maxout with the Python one, like
with like, and shows what the compiled loop adds to ReLU.
"""

from __future__ import annotations

import pytest

from pyregions import Box, count_regions
from tests.reference import random_maxout_network, random_network
from tests.tuning import tune

from .conftest import compare

BOX = Box(-1, 1)
NETWORKS = {
    "relu-12-12-compiled": lambda: random_network(4, [12, 12], 0),
    "relu-12-12-python": lambda: random_network(4, [12, 12], 0),
    "maxout2-12-12-python": lambda: random_maxout_network(4, [12, 12], 2, 0),
    "maxout3-4-4-python": lambda: random_maxout_network(4, [4, 4], 3, 0),
}

compare("relu 4-12-12, compiled vs Python search", "test_regions_per_second[relu-12-12-python]",
        "test_regions_per_second[relu-12-12-compiled]", key="regions_per_second")
for name in ("maxout2-12-12-python", "maxout3-4-4-python"):
    compare(f"{name} vs relu-12-12, both in the Python search",
            "test_regions_per_second[relu-12-12-python]", f"test_regions_per_second[{name}]",
            key="regions_per_second")


@pytest.mark.parametrize("name", list(NETWORKS))
def test_regions_per_second(record, note, name, monkeypatch):
    network = NETWORKS[name]()
    if name.startswith("relu") and name.endswith("python"):
        tune(monkeypatch, compiled_search=False)
    result = record(lambda: count_regions(network, BOX, seed=0), rounds=3)
    assert result.complete
    note(
        regions=result.regions,
        regions_per_second=result.regions / result.seconds,
        lp_per_region=result.lp_solves_per_region,
    )
