"""Counting speed: the tree search against the paper's MILP, on MNIST, and its scaling.

Run with ``pytest bench/bench_counting.py``; the summary at the end prints
the ratios and rates (all measured in the same run). The MILP baseline is
:mod:`pyregions.milp` as it stands: each region's MILP is re-solved from
scratch, with presolve off, so its names and labels say so. Every timed
count takes one round, so no side gets the best of several.
"""

from __future__ import annotations

import pytest

from pyregions import Box, Network, count_regions
from pyregions.network import example_network

from tests.reference import random_network

from .conftest import MNIST, compare, random_784, resident_mb

BOX = Box(0, 1)
MNIST_SECONDS = 300
# Random 784-input networks, hyperplanes centred on the box (tests/reference.py).
VERSUS_MILP = [(4, 4), (5, 5)]
# Where the MILP takes too long to finish, compare rates over MILP_SECONDS; the
# MILP slows down further as its no-good cuts pile up, so this flatters it.
RATE_VERSUS_MILP = [(6, 6)]
MILP_SECONDS = 180
SCALING = [(3, 3), (5, 5), (7, 7), (9, 9), (11, 10)]
# Random-init networks of MNIST's shape, far too large to finish: their rate
# and memory over RANDOM_SECONDS, beside the MNIST ones.
RANDOM_WIDE = [(24, 24), (32, 16)]
RANDOM_SECONDS = 60
# Rounds of every timed count: the same on both sides of each comparison.
ROUNDS = 1

for widths in VERSUS_MILP:
    name = "-".join(map(str, widths))
    compare(f"tree vs milp (re-solved from scratch, presolve off), random 784-{name}",
            f"test_milp_from_scratch_presolve_off[{name}]", f"test_tree[{name}]")


def _count(network, note, *, partial=False, **kwargs):
    result = count_regions(network, BOX, seed=0, **kwargs)
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


@pytest.mark.parametrize("widths", VERSUS_MILP, ids=_ids(VERSUS_MILP))
def test_tree(record, note, widths):
    network = random_network(784, widths, 0)
    record(lambda: _count(network, note), rounds=ROUNDS)


@pytest.mark.parametrize("widths", VERSUS_MILP, ids=_ids(VERSUS_MILP))
def test_milp_from_scratch_presolve_off(record, note, widths):
    """The paper's MILP as :mod:`pyregions.milp` sets up HiGHS (presolve off)."""
    network = random_network(784, widths, 0)
    result = record(lambda: _count(network, note, method="milp"), rounds=ROUNDS)
    assert result.regions == count_regions(network, BOX).regions


for widths in RATE_VERSUS_MILP:
    name = "-".join(map(str, widths))
    compare(f"tree vs milp (re-solved from scratch, presolve off), regions per second, "
            f"random 784-{name}, the MILP's first {MILP_SECONDS} s",
            f"test_milp_from_scratch_presolve_off_rate[{name}]", f"test_tree_rate[{name}]",
            key="regions_per_second")


@pytest.mark.parametrize("widths", RATE_VERSUS_MILP, ids=_ids(RATE_VERSUS_MILP))
def test_tree_rate(record, note, widths):
    record(lambda: _count(random_network(784, widths, 0), note), rounds=ROUNDS)


@pytest.mark.parametrize("widths", RATE_VERSUS_MILP, ids=_ids(RATE_VERSUS_MILP))
def test_milp_from_scratch_presolve_off_rate(record, note, widths):
    network = random_network(784, widths, 0)
    record(lambda: _count(network, note, partial=True, method="milp", time_limit=MILP_SECONDS),
           rounds=ROUNDS)


def test_bundled_mnist_example(record, note):
    record(lambda: _count(example_network(), note), rounds=ROUNDS)


@pytest.fixture(scope="module")
def mnist_11_11() -> Network:
    if not MNIST.is_dir():
        pytest.skip(f"MNIST files not found at {MNIST}")
    from pyregions.datasets import mnist
    from pyregions.training import train_relu_network

    x_train, y_train, _, _ = mnist(MNIST)
    return train_relu_network(x_train, y_train, [11, 11], epochs=20, seed=0)


def test_mnist_784_11_11_first_seconds(record, note, mnist_11_11):
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
