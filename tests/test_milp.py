"""The paper's MILP enumeration against exhaustive enumeration, the tree
search, sweeps and theorems: in one branch-and-bound tree ("milp") and
re-solved once per region ("milp-resolve")."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, bounds, count_regions, milp
from pyregions.counting.search import TreeSearch

from .reference import (
    exhaustive_regions,
    exhaustive_states,
    has_a_constant_zero_unit,
    on_box,
    random_network,
    rescaled,
)
from .test_scale import SMALL_NETWORKS

TOL = 1e-6
MILPS = ["milp", "milp-resolve"]


def milp_patterns(net, box, method="milp", **kwargs):
    result = count_regions(net, box, method=method, return_patterns=True, **kwargs)
    assert result.complete and result.method == method
    return result, {tuple(p) for p in result.unpacked_patterns()}


def tree_patterns(net, box, **kwargs):
    result = count_regions(net, box, return_patterns=True, **kwargs)
    assert result.complete
    return {tuple(p) for p in result.unpacked_patterns()}


@pytest.mark.parametrize("method", MILPS)
@pytest.mark.parametrize(
    ("n_inputs", "widths", "seed"),
    [(1, [4, 3], 0), (2, [3, 3], 1), (2, [2, 2, 2], 2), (3, [4, 3], 3), (10, [4, 4], 4)],
)
def test_milp_equals_exhaustive_enumeration(n_inputs, widths, seed, method):
    net = random_network(n_inputs, widths, seed)
    box = Box(-1, 1)
    result, found = milp_patterns(net, box, method)
    lower, upper = box.bounds(n_inputs)
    assert found == exhaustive_regions(net, lower, upper, TOL)
    assert result.regions <= bounds.serra2018(n_inputs, widths)
    if method == "milp":
        # One tree: a leaf per region, an LP at most per node.
        assert result.milp_solves == 1
        assert result.regions <= result.milp_nodes and result.lp_solves <= result.milp_nodes
    else:
        # One MILP per region, one to prove none is left.
        assert result.lp_solves == result.milp_solves == result.regions + 1


@pytest.mark.parametrize(
    ("n_inputs", "widths", "seed", "box"),
    [(2, [6, 5, 4], 0, Box(-1, 1)), (6, [4, 4], 1, Box(-2, 2)), (3, [4, 4, 4], 2, Box(-3, 3))],
)
def test_one_tree_equals_the_resolve_loop_and_the_tree_search(n_inputs, widths, seed, box):
    net = random_network(n_inputs, widths, seed)
    one, found = milp_patterns(net, box)
    resolved, found_again = milp_patterns(net, box, "milp-resolve")
    assert found == found_again == tree_patterns(net, box)
    assert one.milp_solves == 1 < resolved.milp_solves


@pytest.mark.parametrize("width", [1e-3, 1e4])
@pytest.mark.parametrize(("n_inputs", "widths", "seed"), [(2, [4, 3], 0), (3, [3, 3], 1), (2, [3, 2, 3], 2)])
def test_milp_at_any_scale_equals_the_tree(n_inputs, widths, seed, width):
    # Boxes of width 1e-3 and 1e4, half of each layer's units scaled by 1e-6:
    # f > 0 must mean the same as on the unscaled network.
    net = on_box(random_network(n_inputs, widths, seed), width / 2, width / 2)
    rng = np.random.default_rng(seed)
    for layer, size in enumerate(widths):
        for unit in rng.choice(size, size=max(size // 2, 1), replace=False):
            net = rescaled(net, layer, unit, 1e-6)
    _, found = milp_patterns(net, Box(0, width), seed=seed)
    assert found == tree_patterns(net, Box(0, width), seed=seed)
    assert len(found) == len(tree_patterns(random_network(n_inputs, widths, seed), Box(-1, 1)))


@pytest.mark.parametrize("s", [1e-8, 1e8])
def test_rescaling_a_unit_changes_no_milp_pattern(s):
    net = random_network(3, [4, 3, 3], 4)
    expected = tree_patterns(net, Box(-1, 1))
    rng = np.random.default_rng(4)
    for layer, width in enumerate(net.widths):
        net = rescaled(net, layer, int(rng.integers(width)), s)
    assert milp_patterns(net, Box(-1, 1))[1] == expected


@pytest.mark.parametrize("name", list(SMALL_NETWORKS))
def test_small_weights_give_the_tree_s_regions_but_constant_zero_ones(name):
    weights, biases, _ = SMALL_NETWORKS[name]
    net = Network([np.array(W) for W in weights], [np.array(b) for b in biases])
    tree = tree_patterns(net, Box(-1, 1))
    expected = {p for p in tree if not has_a_constant_zero_unit(net, np.array(p))}
    assert milp_patterns(net, Box(-1, 1))[1] == expected
    if name == "two layers of 0.02":  # for x < 0 the second layer reads two zeros
        assert len(expected) == len(tree) - 1


def test_a_unit_constant_zero_on_a_region_loses_it_in_the_milp():
    # Both first-layer units are inactive for x < -1, so unit 1 of the second
    # layer is exactly 0 there: the tree counts that region (0 is inactive),
    # the paper's f <= hbar = 0 cannot hold on it, so the MILP does not.
    net = Network(
        [np.array([[1.0], [0.5]]), np.array([[1.0, 1.0], [-1.0, 1.0]])],
        [np.array([1.0, 0.5]), np.array([0.5, 0.0])],
    )
    box = Box(-3, 3)
    tree = tree_patterns(net, box)
    constant_zero = (False, False, True, False)
    assert constant_zero in tree
    for method in MILPS:
        assert milp_patterns(net, box, method)[1] == tree - {constant_zero}


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


@pytest.mark.parametrize("widths", [(4, 4), (6, 5)])
def test_milp_agrees_with_the_tree_on_a_784_input_network(widths):
    net = random_network(784, widths, 3)
    milp_result = count_regions(net, Box(0, 1), method="milp", return_patterns=True)
    tree = count_regions(net, Box(0, 1), return_patterns=True)
    assert milp_result.regions == tree.regions
    np.testing.assert_array_equal(
        np.unique(milp_result.unpacked_patterns(), axis=0), np.unique(tree.unpacked_patterns(), axis=0)
    )


@pytest.mark.parametrize("method", MILPS)
def test_all_stable_network_has_one_region_and_no_solve(method):
    net = Network([np.array([[1.0], [-1.0]])], [np.array([5.0, -5.0])])
    result = count_regions(net, Box(-1, 1), method=method, return_patterns=True)
    assert (result.regions, result.lp_solves, result.milp_solves, result.milp_nodes) == (1, 0, 0, 0)
    assert result.unpacked_patterns().tolist() == [[True, False]]


@pytest.mark.parametrize("method", MILPS)
def test_time_limit_stops_the_enumeration(method):
    net = random_network(784, [8, 8], 0)
    result = count_regions(net, Box(0, 1), method=method, time_limit=0.5)
    assert not result.complete
    assert result.regions < 19_000


def every_report(monkeypatch):
    """Report the tree's progress at every node, not four times a second."""
    monkeypatch.setattr(milp, "PROGRESS_INTERVAL", 0.0)


def test_progress_reports_regions_nodes_and_lps(monkeypatch):
    every_report(monkeypatch)
    net = random_network(3, [5, 4], 1)
    reports = []
    result = count_regions(net, Box(-1, 1), method="milp", progress=reports.append)
    regions = [r.regions for r in reports]
    nodes = [r.nodes for r in reports]
    assert regions == sorted(regions) and regions[-1] <= result.regions
    assert nodes == sorted(set(nodes)) and nodes[-1] < result.milp_nodes
    assert all(r.lp_solves <= r.nodes for r in reports)
    assert len(reports) == result.milp_nodes


@pytest.mark.parametrize("method", MILPS)
def test_ctrl_c_keeps_the_regions_found(monkeypatch, method):
    every_report(monkeypatch)
    net = random_network(3, [5, 4], 1)
    everything = milp_patterns(net, Box(-1, 1), method)[1]

    def interrupt(report):
        if report.regions >= 5:
            raise KeyboardInterrupt

    result = count_regions(net, Box(-1, 1), method=method, progress=interrupt, return_patterns=True)
    assert not result.complete
    assert 5 <= result.regions < len(everything)
    assert {tuple(p) for p in result.unpacked_patterns()} < everything
    assert result.thin == 0  # a stopped enumeration is not held up by thin checks


def test_ctrl_c_in_the_thin_check_keeps_every_region(monkeypatch):
    net = random_network(3, [5, 4], 1)
    everything = count_regions(net, Box(-1, 1), method="milp", thin_tol=0.05)
    assert everything.complete and everything.thin > 0
    searches = []
    search = TreeSearch.run

    def interrupted_after_three(self, *args, **kwargs):
        searches.append(args)
        if len(searches) > 3:
            raise KeyboardInterrupt
        return search(self, *args, **kwargs)

    monkeypatch.setattr(TreeSearch, "run", interrupted_after_three)
    result = count_regions(net, Box(-1, 1), method="milp", thin_tol=0.05)
    assert not result.complete and len(searches) == 4
    assert result.regions == everything.regions and result.thin <= everything.thin


@pytest.mark.parametrize("method", MILPS)
@pytest.mark.parametrize("seed", [12, 54])
def test_no_region_is_lost_at_seeds_where_presolve_lost_some(seed, method):
    # With HiGHS's presolve on, these seeds ended the re-solve loop early on
    # this network, missing regions whose margin is over 0.02.
    net = random_network(10, [5, 4], 6)
    result = count_regions(net, Box(-1, 1), method=method, return_patterns=True, seed=seed)
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
