"""Tests of the NumPy trainer: reproducibility, learning, and input checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pyregions import Network
from pyregions.datasets import mnist
from pyregions.exceptions import ShapeError
from pyregions.training import error_rate, train_relu_network

SHARED_MNIST = Path(__file__).parents[2] / "shared" / "data" / "mnist"


def blobs(n_per_class: int, n_classes: int, n_inputs: int, seed: int):
    """Well-separated Gaussian clusters, one per class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(n_classes, n_inputs))
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.normal(scale=0.5, size=(y.size, n_inputs))
    return x, y


def parameters(net: Network) -> list[np.ndarray]:
    arrays = [a for layer in net.layers for a in (layer.weights, layer.bias)]
    return arrays + [net.output.weights, net.output.bias]


def test_same_seed_gives_identical_weights():
    x, y = blobs(30, 4, 6, seed=0)
    kwargs = {"epochs": 3, "batch_size": 16}
    first = train_relu_network(x, y, [5, 4], seed=7, **kwargs)
    second = train_relu_network(x, y, [5, 4], seed=7, **kwargs)
    from_generator = train_relu_network(x, y, [5, 4], seed=np.random.default_rng(7), **kwargs)
    other = train_relu_network(x, y, [5, 4], seed=8, **kwargs)
    for a, b, c, d in zip(*map(parameters, (first, second, from_generator, other))):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not all(np.array_equal(a, d) for a, d in zip(parameters(first), parameters(other)))


def test_network_shape():
    x, y = blobs(5, 3, 4, seed=1)
    net = train_relu_network(x, y, [6, 5, 3], epochs=1)
    assert isinstance(net, Network)
    assert (net.n_inputs, net.widths) == (4, (6, 5, 3))
    assert net.output.weights.shape == (10, 3) and net.output.bias.shape == (10,)
    assert net.forward(x).shape == (15, 10)


def circle_clusters(n_per_class: int, n_classes: int, seed: int):
    """Square clusters of side 1 centred on a circle of radius 4: separable."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = 4.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.uniform(-0.5, 0.5, size=(y.size, 2))
    return x, y


def test_separable_problem_is_learnt():
    x, y = circle_clusters(40, 6, seed=2)
    net = train_relu_network(x, y, [16, 16], epochs=40, batch_size=16, seed=0)
    assert error_rate(net, x, y) == 0.0
    x_new, y_new = circle_clusters(100, 6, seed=3)
    assert error_rate(net, x_new, y_new) <= 0.01


def test_batch_larger_than_data():
    x, y = blobs(3, 2, 3, seed=3)
    net = train_relu_network(x, y, [4], epochs=2, batch_size=1000)
    assert np.all(np.isfinite(net.forward(x)))


@pytest.mark.skipif(
    not SHARED_MNIST.is_dir(), reason=f"the shared MNIST files are not in {SHARED_MNIST}"
)
def test_mnist_subset_beats_80_percent():
    x_train, y_train, x_test, y_test = mnist(SHARED_MNIST, download=False)
    # Two epochs of 5000 samples are few steps; small batches make up for it.
    net = train_relu_network(
        x_train[:5000], y_train[:5000], [11, 11], epochs=2, batch_size=16, seed=0
    )
    assert error_rate(net, x_test, y_test) < 0.20


def test_error_rate_counts_misclassified_samples():
    # Output = input (through an identity ReLU layer), so the class is the
    # larger coordinate; ties go to class 0.
    net = Network([np.eye(2)], [np.zeros(2)], output_weights=np.eye(2), output_bias=np.zeros(2))
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 3.0], [1.0, 1.0]])
    assert error_rate(net, x, [0, 1, 1, 0]) == 0.0
    assert error_rate(net, x, np.array([1, 1, 0, 1])) == 0.75
    assert isinstance(error_rate(net, x, [0, 1, 1, 0]), float)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        ([0, 1, 2], r"y must have shape \(4,\) to match the inputs, got \(3,\)"),
        ([0, 1, 2, 1], r"y must lie in 0\.\.1, found 2"),
        ([0.0, 1.0, 1.0, 0.0], r"y must hold integer class labels, got dtype float64"),
    ],
)
def test_error_rate_rejects_bad_labels(y, match):
    net = Network([np.eye(2)], [np.zeros(2)], output_weights=np.eye(2), output_bias=np.zeros(2))
    with pytest.raises(ShapeError, match=match):
        error_rate(net, np.ones((4, 2)), y)


X = np.ones((4, 3))
Y = np.array([0, 1, 9, 3])


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "match"),
    [
        (np.ones(4), Y, {}, ShapeError, r"x_train must be 2-D, got an array of shape \(4,\)"),
        (np.full((4, 3), np.nan), Y, {}, ShapeError, r"x_train must be finite"),
        (X, Y[:3], {}, ShapeError, r"y_train must have shape \(4,\) to match the inputs, got \(3,\)"),
        (X, Y.reshape(4, 1), {}, ShapeError, r"y_train must have shape \(4,\)"),
        (X, np.array([0, 1, 10, 3]), {}, ShapeError, r"y_train must lie in 0\.\.9, found 10"),
        (X, np.array([0, -1, 2, 3]), {}, ShapeError, r"y_train must lie in 0\.\.9, found -1"),
        (X, Y.astype(float), {}, ShapeError, r"y_train must hold integer class labels, got dtype float64"),
        (X, Y.astype(bool), {}, ShapeError, r"got dtype bool"),
        (X, Y, {"widths": []}, ValueError, r"widths must not be empty"),
        (X, Y, {"widths": [3, 0]}, ValueError, r"widths\[1\] must be >= 1, got 0"),
        (X, Y, {"widths": 3}, ValueError, r"widths must be a sequence of integers"),
        (X, Y, {"epochs": 0}, ValueError, r"epochs must be >= 1, got 0"),
        (X, Y, {"epochs": 2.0}, ValueError, r"epochs must be an integer, got 2\.0"),
        (X, Y, {"batch_size": 0}, ValueError, r"batch_size must be >= 1, got 0"),
        (X, Y, {"learning_rate": 0.0}, ValueError, r"learning_rate must be finite and > 0, got 0\.0"),
        (X, Y, {"learning_rate": -1}, ValueError, r"learning_rate must be finite and > 0, got -1\.0"),
        (X, Y, {"learning_rate": np.inf}, ValueError, r"learning_rate must be finite and > 0, got inf"),
        (X, Y, {"learning_rate": "0.1"}, ValueError, r"learning_rate must be a real number, got '0\.1'"),
        (X, Y, {"learning_rate": True}, ValueError, r"learning_rate must be a real number, got True"),
        (X, Y, {"seed": -1}, ValueError, r"seed must be >= 0, got -1"),
    ],
)
def test_bad_inputs_raise(x, y, kwargs, error, match):
    kwargs = {"widths": [2], **kwargs}
    with pytest.raises(error, match=match):
        train_relu_network(x, y, **kwargs)
