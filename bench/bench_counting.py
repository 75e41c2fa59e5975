"""Counting speed of the tree search: on MNIST, its scaling, random wide
networks (against the paper's MILP: bench_milp.py), a two-input network by
polygons and by LPs.

Run with ``pytest bench/bench_counting.py``; the summary at the end prints
the ratios and rates (all measured in the same run). Every timed count
takes one round, so no side gets the best of several.
"""

from __future__ import annotations

import pytest

from pyregions import Box, count_regions
from pyregions.network import example_network

from tests.reference import random_network
from tests.tuning import tune

from .conftest import compare, random_784, resident_mb

BOX = Box(0, 1)
MNIST_SECONDS = 300
SCALING = [(3, 3), (5, 5), (7, 7), (9, 9), (11, 10)]
# Random-init networks of MNIST's shape, far too large to finish: their rate
# and memory over RANDOM_SECONDS, beside the MNIST ones.
RANDOM_WIDE = [(24, 24), (32, 16)]
RANDOM_SECONDS = 60
# Rounds of every timed count: the same on both sides of each comparison.
ROUNDS = 1


def _count(network, note, *, partial=False, box=BOX, **kwargs):
    result = count_regions(network, box, seed=0, **kwargs)
    assert result.complete or partial
    note(
        complete=result.complete,
        regions=result.regions,
        regions_per_second=result.regions / result.seconds,
        lp_per_region=result.lp_solves_per_region,
    )
    return result


def _ids(cases):
    return ["-".join(map(str, widths)) for widths in cases]


def test_bundled_mnist_example(record, note):
    record(lambda: _count(example_network(), note), rounds=ROUNDS)


def test_mnist_784_11_11(record, note, mnist_11_11):
    """The paper's middle configuration, trained here with a fixed seed; its
    count takes long, so the rate is taken over the first MNIST_SECONDS."""
    record(lambda: _count(mnist_11_11, note, partial=True, time_limit=MNIST_SECONDS), rounds=ROUNDS)


@pytest.mark.parametrize("widths", SCALING, ids=_ids(SCALING))
def test_scaling(record, note, widths):
    record(lambda: _count(random_network(784, widths, 1), note), rounds=ROUNDS)


@pytest.mark.parametrize("widths", RANDOM_WIDE, ids=_ids(RANDOM_WIDE))
def test_random_wide_first_seconds(record, note, widths):
    network = random_784(widths)
    before = resident_mb()
    record(lambda: _count(network, note, partial=True, time_limit=RANDOM_SECONDS), rounds=ROUNDS)
    note(memory_growth_mb=resident_mb() - before)


TWO_INPUTS = random_network(2, [200, 200], 0)  # 11,859 regions in [-1, 1]^2


@pytest.mark.parametrize("polygons", [True, False], ids=["polygons", "lps"])
def test_two_input_network(record, note, polygons, monkeypatch):
    tune(monkeypatch, polygon_search=polygons)
    record(lambda: _count(TWO_INPUTS, note, box=Box(-1, 1)), rounds=ROUNDS)


compare("2-200-200 network, polygons against LPs",
        "test_two_input_network[lps]", "test_two_input_network[polygons]")
