"""The paper's MILP enumeration against exhaustive enumeration, sweeps and theorems."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, bounds, count_regions

from .reference import exhaustive_regions, exhaustive_states, random_network

TOL = 1e-6


def milp_patterns(net, box, **kwargs):
    result = count_regions(net, box, method="milp", return_patterns=True, **kwargs)
    assert result.complete and result.method == "milp"
    return result, {tuple(p) for p in result.unpacked_patterns()}


@pytest.mark.parametrize(
    ("n_inputs", "widths", "seed"),
    [(1, [4, 3], 0), (2, [3, 3], 1), (2, [2, 2, 2], 2), (3, [4, 3], 3), (10, [4, 4], 4)],
)
def test_milp_equals_exhaustive_enumeration(n_inputs, widths, seed):
    net = random_network(n_inputs, widths, seed)
    box = Box(-1, 1)
    result, found = milp_patterns(net, box)
    lower, upper = box.bounds(n_inputs)
    assert found == exhaustive_regions(net, lower, upper, TOL)
    assert result.lp_solves == result.regions + 1  # one MILP per region, one to prove none is left
    assert result.regions <= bounds.serra2018(n_inputs, widths)


@pytest.mark.parametrize("seed", range(4))
def test_one_input_equals_a_dense_sweep(seed):
    net = random_network(1, [4, 3, 3], seed)
    x = np.linspace(-3, 3, 600_001)[:, None]
    patterns = net.activation_patterns(x)
    changes = np.any(patterns[1:] != patterns[:-1], axis=1)
    # Pieces of the line: each maximal run of one pattern.  A pattern can recur
    # in one dimension only if a piece is revisited, which the sweep would show.
    pieces = int(changes.sum()) + 1
    assert len({tuple(p) for p in patterns}) == pieces
    result, _ = milp_patterns(net, Box(-3, 3))
    assert result.regions == pieces


@pytest.mark.parametrize(("n_inputs", "width"), [(2, 6), (3, 5)])
def test_one_layer_in_a_large_box_equals_zaslavsky(n_inputs, width):
    net = random_network(n_inputs, [width], 5)
    result, _ = milp_patterns(net, Box(-1e3, 1e3))
    assert result.regions == bounds.zaslavsky(width, n_inputs)


def test_sampled_patterns_are_all_counted():
    net = random_network(2, [4, 4], 9)
    _, found = milp_patterns(net, Box(-2, 2))
    x = np.random.default_rng(0).uniform(-2, 2, size=(20_000, 2))
    assert {tuple(p) for p in net.activation_patterns(x)} <= found


def test_milp_agrees_with_the_tree_on_a_784_input_network():
    net = random_network(784, [4, 4], 3)
    milp = count_regions(net, Box(0, 1), method="milp", return_patterns=True)
    tree = count_regions(net, Box(0, 1), return_patterns=True)
    assert milp.regions == tree.regions
    np.testing.assert_array_equal(
        np.unique(milp.unpacked_patterns(), axis=0), np.unique(tree.unpacked_patterns(), axis=0)
    )


def test_all_stable_network_has_one_region_and_no_solve():
    net = Network([np.array([[1.0], [-1.0]])], [np.array([5.0, -5.0])])
    result = count_regions(net, Box(-1, 1), method="milp", return_patterns=True)
    assert (result.regions, result.lp_solves) == (1, 0)
    assert result.unpacked_patterns().tolist() == [[True, False]]


def test_time_limit_stops_the_enumeration():
    net = random_network(784, [8, 8], 0)
    result = count_regions(net, Box(0, 1), method="milp", time_limit=0.5)
    assert not result.complete
    assert result.regions < 19_000


@pytest.mark.parametrize("seed", [12, 54])
def test_no_region_is_lost_at_seeds_where_presolve_lost_some(seed):
    # With HiGHS's presolve on, these seeds ended the enumeration early on
    # this network, missing regions whose margin is over 0.02.
    net = random_network(10, [5, 4], 6)
    result = count_regions(net, Box(-1, 1), method="milp", return_patterns=True, seed=seed)
    expected = exhaustive_regions(net, -np.ones(10), np.ones(10), 1e-6)
    assert {tuple(p) for p in result.unpacked_patterns()} == expected


def states(result):
    return sorted(map(tuple, result.unpacked_patterns().tolist()))


@pytest.mark.parametrize(
    ("weights", "biases", "expected"),
    [
        ([[[1.0], [1.0], [-1.0]]], [[0.0, 0.0, 0.0]], [(0,), (2,)]),  # piece 1 is piece 0
        ([[[1.0], [1.0]]], [[0.0, 0.0]], [(0,)]),
        ([[[1.0], [1.0]]], [[0.0, 1e-9]], [(1,)]),  # the same slope, a larger bias
    ],
)
def test_tied_maxout_pieces_count_as_in_the_tree(weights, biases, expected):
    net = Network([np.array(weights)], [np.array(biases)])
    for method in ("milp", "tree"):
        assert states(count_regions(net, Box(-1, 1), method=method, return_patterns=True)) == expected


@pytest.mark.parametrize("seed", range(3))
def test_maxout_with_copied_pieces_matches_the_tree(seed):
    rng = np.random.default_rng(seed)
    W0, b0 = rng.normal(size=(3, 3, 2)), rng.normal(size=(3, 3))
    W0[:, 2], b0[:, 2] = W0[:, 0], b0[:, 0]  # piece 2 copies piece 0
    W0[1, 1], b0[1, 1] = W0[1, 0], b0[1, 0] - 0.5  # and loses to it
    W1, b1 = rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 2))
    W1[0, 1], b1[0, 1] = W1[0, 0], b1[0, 0]
    net = Network([W0, W1], [b0, b1])
    milp = count_regions(net, Box(-1, 1), method="milp", return_patterns=True)
    tree = count_regions(net, Box(-1, 1), return_patterns=True)
    assert states(milp) == states(tree)
    assert set(states(tree)) == exhaustive_states(net, -np.ones(2), np.ones(2), TOL)
    assert all(row[0] != 2 and row[1] != 1 and row[3] != 1 for row in states(tree))
