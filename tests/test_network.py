"""Network and Box: validation at the boundary, forward passes, the .npz format."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, ShapeError
from pyregions.network import example_network

from .reference import random_network


def test_forward_and_patterns_match_a_hand_computation():
    W0, b0 = np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0.0, -1.0])
    W1, b1 = np.array([[1.0, 1.0]]), np.array([-0.5])
    net = Network([W0, W1], [b0, b1], output_weights=np.array([[2.0]]), output_bias=np.array([1.0]))
    x = np.array([[1.0, 0.5], [0.0, 1.0]])
    h0 = np.maximum(x @ W0.T + b0, 0)
    h1 = np.maximum(h0 @ W1.T + b1, 0)
    np.testing.assert_allclose(net.forward(x), 2 * h1 + 1)
    np.testing.assert_array_equal(
        net.activation_patterns(x), np.concatenate([x @ W0.T + b0 > 0, h0 @ W1.T + b1 > 0], axis=1)
    )
    assert (net.n_inputs, net.widths, net.n_hidden) == (2, (2, 1), 3)


def test_npz_round_trip_keeps_every_array(tmp_path):
    net = random_network(3, [4, 2], 0)
    net.save(tmp_path / "net.npz")
    loaded = Network.load(tmp_path / "net.npz")
    for a, b in zip(net.layers, loaded.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
    assert not list(tmp_path.glob("*.partial"))


def test_the_bundled_example_is_the_documented_network():
    net = example_network()
    assert (net.n_inputs, net.widths, net.output.n_neurons) == (784, (8, 8), 10)


@pytest.mark.parametrize(
    ("weights", "biases", "match"),
    [
        ([np.array([[np.nan, 1.0]])], [np.zeros(1)], "finite"),
        ([np.array([[np.inf, 1.0]])], [np.zeros(1)], "finite"),
        ([np.ones((2, 3)), np.ones((2, 3))], [np.zeros(2), np.zeros(2)], r"weights\[1\] must have shape"),
        ([np.ones((2, 3))], [np.zeros(3)], r"biases\[0\] must have shape"),
        ([], [], "at least one hidden layer"),
    ],
)
def test_bad_networks_are_refused(weights, biases, match):
    with pytest.raises(ShapeError, match=match):
        Network(weights, biases)


@pytest.mark.parametrize(
    ("lower", "upper", "match"),
    [
        (1.0, 0.0, "lower must be <= upper"),
        (np.inf, 1.0, "finite"),
        (np.nan, 1.0, "finite"),
        ([0.0, 0.0], [1.0], "same shape"),
    ],
)
def test_bad_boxes_are_refused(lower, upper, match):
    with pytest.raises(ShapeError, match=match):
        Box(lower, upper)


def test_a_box_of_another_dimension_is_refused():
    with pytest.raises(ShapeError, match="dimension 2 but the network has 3 inputs"):
        Box([0, 0], [1, 1]).bounds(3)
    lower, upper = Box(-1, 2).bounds(3)
    np.testing.assert_array_equal(lower, [-1, -1, -1])
    np.testing.assert_array_equal(upper, [2, 2, 2])


@pytest.mark.parametrize("content", [b"not a zip", b"PK\x03\x04 truncated"])
def test_damaged_files_are_refused(tmp_path, content):
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(ShapeError, match="not a readable .npz network"):
        Network.load(tmp_path / "bad.npz")


def test_files_with_foreign_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "x.npz", weights=np.ones((2, 2)))
    with pytest.raises(ShapeError, match="expected arrays W0, b0"):
        Network.load(tmp_path / "x.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ShapeError, match="not an .npz archive"):
        Network.load(tmp_path / "single.npy")
