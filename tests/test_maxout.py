"""Maxout networks: definition, bounds, counting by tree and MILP, checkpoints."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pyregions import (
    Box,
    Network,
    UnsupportedLayerError,
    bounds,
    count_regions,
    preactivation_bounds,
)
from pyregions.checkpoint import prefix_from_key, prefix_key
from pyregions.cli import main
from pyregions.estimation import estimate_regions
from pyregions.exceptions import ShapeError
from pyregions.network import MaxoutLayer, ReluLayer

from .reference import exhaustive_states, random_maxout_network, random_network
from .tuning import tune

TOL = 1e-6
BOX = Box(-1, 1)


def tree_states(net, box=BOX, **kwargs):
    result = count_regions(net, box, return_patterns=True, **kwargs)
    assert result.complete
    return result, {tuple(int(s) for s in p) for p in result.unpacked_patterns()}


@pytest.mark.parametrize(
    ("n_inputs", "widths", "rank", "seed", "relu_layers"),
    [
        (1, [4], 3, 0, ()),
        (1, [3, 2], 4, 1, ()),
        (2, [3, 2], 2, 2, ()),
        (2, [2, 2], 3, 3, ()),
        (2, [3], 4, 4, ()),
        (3, [3, 2], 2, 5, ()),
        (3, [2, 2], 3, 6, ()),
        (4, [3, 2], 2, 7, ()),
        (4, [2, 1], 4, 8, ()),
        (2, [3, 3], 3, 9, (0,)),
        (3, [2, 3, 2], 2, 10, (1,)),
    ],
)
def test_tree_equals_exhaustive_enumeration(n_inputs, widths, rank, seed, relu_layers):
    net = random_maxout_network(n_inputs, widths, rank, seed, relu_layers=relu_layers)
    result, found = tree_states(net, seed=seed)
    lower, upper = BOX.bounds(n_inputs)
    expected = exhaustive_states(net, lower, upper, TOL)
    assert found == expected
    assert result.regions == len(expected) > 1
    assert result.patterns.dtype == np.int8


@pytest.mark.parametrize("seed", range(3))
def test_sampled_patterns_are_all_counted(seed):
    net = random_maxout_network(2, [4, 3], 3, seed, relu_layers=(1,))
    _, found = tree_states(net, Box(-2, 2), seed=seed)
    x = np.random.default_rng(seed).uniform(-2, 2, size=(20_000, 2))
    assert {tuple(int(s) for s in p) for p in net.activation_patterns(x)} <= found


@pytest.mark.parametrize("seed", range(3))
def test_rank_two_maxout_with_a_zero_piece_counts_as_its_relu_network(seed):
    relu = random_network(3, [5, 4], seed)
    weights = [np.stack([layer.weights, np.zeros_like(layer.weights)], axis=1)
               for layer in relu.layers]
    biases = [np.stack([layer.bias, np.zeros_like(layer.bias)], axis=1) for layer in relu.layers]
    maxout = Network(weights, biases)
    x = np.random.default_rng(seed).uniform(-1, 1, size=(100, 3))
    np.testing.assert_allclose(maxout.forward(x), relu.forward(x))
    expected = count_regions(relu, BOX, return_patterns=True, seed=seed)
    result, found = tree_states(maxout, seed=seed)
    assert result.regions == expected.regions
    # Piece 0 is the ReLU's own affine function: it wins where the ReLU is active.
    assert found == {tuple(int(not s) for s in p) for p in expected.unpacked_patterns()}


@pytest.mark.parametrize(("n_inputs", "widths", "rank"), [(1, [3, 3], 3), (2, [4, 3], 2),
                                                          (2, [3, 3], 4), (3, [3, 2], 3)])
def test_counts_never_exceed_the_maxout_bound(n_inputs, widths, rank):
    for seed in range(2):
        net = random_maxout_network(n_inputs, widths, rank, seed)
        regions = count_regions(net, BOX, seed=seed).regions
        assert 1 <= regions <= bounds.maxout(n_inputs, widths, rank)


@pytest.mark.parametrize(
    ("n_inputs", "widths", "rank", "relu_layers"),
    [(1, [3, 2], 3, ()), (2, [3, 2], 3, ()), (2, [2, 2], 4, ()), (2, [3, 3], 2, (1,))],
)
def test_tree_and_milp_find_the_same_regions(n_inputs, widths, rank, relu_layers):
    net = random_maxout_network(n_inputs, widths, rank, 11, relu_layers=relu_layers)
    tree, tree_found = tree_states(net, seed=0)
    milp, milp_found = tree_states(net, method="milp", seed=0)
    assert milp_found == tree_found
    assert milp.patterns.dtype == np.int8


def test_pieces_that_never_win_are_never_branched_on():
    # Piece 2 of every unit sits 100 below the others: it never wins in the box.
    W = np.random.default_rng(0).normal(size=(3, 3, 2))
    b = np.zeros((3, 3))
    b[:, 2] = -100.0
    b[0, 1] = -100.0  # unit 0 keeps piece 0 only: stable
    net = Network([W], [b])
    pre = preactivation_bounds(net, BOX)
    assert pre.never_wins[0][:, 2].all() and pre.never_wins[0][0, 1]
    assert not pre.never_wins[0][1:, :2].any()
    assert pre.stable_pieces[0].tolist() == [0, -1, -1]
    assert pre.n_stable == 1
    result, found = tree_states(net)
    assert result.n_stable == 1
    assert all(p[0] == 0 and 2 not in p for p in found)
    lower, upper = BOX.bounds(2)
    assert found == exhaustive_states(net, lower, upper, TOL)


@pytest.mark.parametrize("method", ["interval", "lp"])
def test_piece_bounds_contain_every_sampled_piece(method):
    net = random_maxout_network(3, [4, 3, 3], 3, 12, relu_layers=(1,))
    pre = preactivation_bounds(net, BOX, method=method)
    assert [low.shape for low in pre.lower] == [(4, 3), (3,), (3, 3)]
    assert pre.never_wins[1] is None
    h = np.random.default_rng(0).uniform(-1, 1, size=(5000, 3))
    for layer, low, high in zip(net.layers, pre.lower, pre.upper):
        if layer.activation == "maxout":
            a = np.einsum("upj,nj->nup", layer.weights, h) + layer.bias
            h = a.max(axis=2)
        else:
            a = h @ layer.weights.T + layer.bias
            h = np.maximum(a, 0.0)
        assert np.all(low <= a) and np.all(a <= high)


def test_parallel_and_checkpointed_counts_equal_serial(tmp_path):
    net = random_maxout_network(2, [4, 3], 3, 13, relu_layers=(1,))
    serial = count_regions(net, BOX, return_patterns=True, seed=0)
    with ThreadPoolExecutor(2) as pool:
        parallel = count_regions(net, BOX, return_patterns=True, seed=1, executor=pool, jobs=2)
    assert parallel.complete
    np.testing.assert_array_equal(parallel.patterns, serial.patterns)
    path = tmp_path / "count.ckpt"
    for _ in range(2):  # written, then read back and finished
        resumed = count_regions(net, BOX, return_patterns=True, seed=2, checkpoint=path)
        assert resumed.complete
        np.testing.assert_array_equal(resumed.patterns, serial.patterns)


def test_large_maxout_subtrees_are_split_and_still_exact(monkeypatch):
    net = random_maxout_network(2, [4, 3], 3, 14)
    serial = count_regions(net, BOX, return_patterns=True, seed=0)
    tune(monkeypatch, split_nodes=5)
    with ThreadPoolExecutor(2) as pool:
        result = count_regions(net, BOX, return_patterns=True, executor=pool, jobs=2)
    np.testing.assert_array_equal(result.patterns, serial.patterns)


def test_prefix_keys_hold_pieces_beyond_nine():
    prefix = (True, False, 0, 3, 9, 12)
    assert prefix_key(prefix)[:5] == "10039"
    assert prefix_from_key(prefix_key(prefix)) == (1, 0, 0, 3, 9, 12)


def test_npz_round_trip_keeps_maxout_and_relu_layers(tmp_path):
    net = random_maxout_network(3, [4, 2, 3], 3, 15, relu_layers=(1,))
    net.save(tmp_path / "net.npz")
    loaded = Network.load(tmp_path / "net.npz")
    assert [type(layer) for layer in loaded.layers] == [MaxoutLayer, ReluLayer, MaxoutLayer]
    for a, b in zip(net.layers, loaded.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
    x = np.random.default_rng(0).uniform(-1, 1, size=(10, 3))
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_network_properties_and_patterns():
    net = random_maxout_network(2, [3, 2], 4, 16, relu_layers=(1,))
    assert net.widths == (3, 2) and net.n_hidden == 5
    assert net.ranks == (4, 2) and net.maxout_rank == 4
    assert net.layers[0].rank == 4 and net.layers[0].n_inputs == 2
    x = np.random.default_rng(0).uniform(-1, 1, size=(50, 2))
    patterns = net.activation_patterns(x)
    assert patterns.dtype == np.int8 and patterns.shape == (50, 5)
    W, b = net.layers[0].weights, net.layers[0].bias
    np.testing.assert_array_equal(patterns[:, :3], np.argmax(np.einsum("upj,nj->nup", W, x) + b, 2))
    assert set(np.unique(patterns[:, 3:])) <= {0, 1}
    relu = random_network(2, [3], 0)
    assert relu.maxout_rank is None and relu.activation_patterns(x).dtype == bool


@pytest.mark.parametrize(
    ("weights", "biases", "match"),
    [
        ([np.ones((3, 2, 2))], [np.ones(3)], r"biases\[0\] must be 2-D, got an array of shape \(3,\)"),
        ([np.ones((3, 2, 2))], [np.ones((3, 3))], r"biases\[0\] must have shape \(3, 2\), got \(3, 3\)"),
        ([np.ones((3, 1, 2))], [np.ones((3, 1))], r"weights\[0\]: a maxout layer needs 2 to 127 pieces"),
        ([np.ones((3, 2))], [np.ones((3, 2))], r"biases\[0\] must be 1-D"),
        ([np.ones((3, 2, 2)), np.ones((2, 2, 4))], [np.ones((3, 2)), np.ones((2, 2))],
         r"weights\[1\] must have shape \(\*, \*, 3\), got \(2, 2, 4\)"),
        ([np.ones((3, 2, 2, 2))], [np.ones((3, 2))], r"weights\[0\] must be 2-D or 3-D"),
    ],
)
def test_bad_shapes_give_clear_errors(weights, biases, match):
    with pytest.raises(ShapeError, match=match):
        Network(weights, biases)


def test_estimation_refuses_maxout():
    net = random_maxout_network(2, [3], 2, 0)
    with pytest.raises(UnsupportedLayerError, match=r"layer 0 \(MaxoutLayer\)"):
        estimate_regions(net, BOX, samples=10)


def test_an_unknown_activation_fails_when_the_milp_is_built(monkeypatch):
    from pyregions import milp

    monkeypatch.delitem(milp.ACTIVATIONS, "maxout")
    net = random_maxout_network(2, [2], 2, 0)
    with pytest.raises(UnsupportedLayerError, match=r"layer 0 \(MaxoutLayer\).*'maxout'"):
        count_regions(net, BOX, method="milp")


def test_cli_count_prints_the_maxout_bound(tmp_path, capsys):
    net = random_maxout_network(2, [3, 2], 3, 17)
    net.save(tmp_path / "net.npz")
    assert main(["count", str(tmp_path / "net.npz"), "--box", "-1:1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "maxout" in out and "serra2018" not in out
    assert str(bounds.maxout(2, [3, 2], 3)) in out
