"""Counts that do not depend on the scale of the weights or of the box."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, count_regions

from .reference import (
    exhaustive_regions_by_margin,
    largest_margin,
    on_box,
    random_network,
    rescaled,
)
from .tuning import tune


def both_paths(monkeypatch, compiled):
    """Leave the compiled loop on, or force the Python search."""
    if not compiled:
        tune(monkeypatch, compiled_search=False)


def patterns_of(result):
    assert result.complete
    return {tuple(p) for p in result.unpacked_patterns()}


SMALL_NETWORKS = {
    "two layers of 0.02": (
        [[[0.02], [0.02]], [[0.02, 0.0], [0.0, 0.02]]], [[0.0, 0.0], [0.0, 0.0]], 2,
    ),
    "two parallel units of 1e-4": ([[[1e-4], [1e-4]]], [[0.0, 0.0]], 2),
    "two parallel units of 1e-5": ([[[1e-5], [1e-5]]], [[0.0, 0.0]], 2),
    "three concurrent lines": ([[[1e-4, 0.0], [0.0, 1e-4], [1e-4, 1e-4]]], [[0.0, 0.0, 0.0]], 6),
    # x > -1 activates the first two units; the last two split at x = 0 and x = 0.5.
    "chain of 1e-6": (
        [[[1e-6]], [[1e-6]], [[1e-6], [1e-6]]], [[1e-6], [0.0], [-1e-18, -1.5e-18]], 3,
    ),
}


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("name", list(SMALL_NETWORKS))
def test_small_weights_give_no_phantom_regions(name, compiled, monkeypatch):
    weights, biases, truth = SMALL_NETWORKS[name]
    net = Network([np.array(W) for W in weights], [np.array(b) for b in biases])
    box = Box(-1, 1)
    lower, upper = box.bounds(net.n_inputs)
    both_paths(monkeypatch, compiled)
    result = count_regions(net, box, return_patterns=True, seed=0)
    assert result.regions == truth
    assert patterns_of(result) == exhaustive_regions_by_margin(net, lower, upper, result.tol)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_a_cancellation_left_by_rounding_is_no_hyperplane(compiled, monkeypatch):
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point, not 0: the second
    # layer's unit, reading the first three with weights (1, 1, -1), is
    # constant on the box, where they are all active; rounding would put
    # its hyperplane at x = 0.75.
    residue = 0.1 + 0.2 - 0.3
    net = Network(
        [np.array([[0.1], [0.2], [0.3]]), np.array([[1.0, 1.0, -1.0]])],
        [np.zeros(3), np.array([-0.75 * residue])],
    )
    both_paths(monkeypatch, compiled)
    assert count_regions(net, Box(0.5, 1), seed=0).regions == 1


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("width", [1e-3, 1e4])
@pytest.mark.parametrize(("n_inputs", "widths", "seed"), [(2, [4, 3], 0), (3, [3, 3], 1), (2, [3, 2, 3], 2)])
def test_boxes_and_units_at_any_scale_equal_brute_force(n_inputs, widths, seed, width, compiled, monkeypatch):
    net = on_box(random_network(n_inputs, widths, seed), width / 2, width / 2)
    rng = np.random.default_rng(seed)
    for layer, size in enumerate(widths):
        for unit in rng.choice(size, size=max(size // 2, 1), replace=False):
            net = rescaled(net, layer, unit, 1e-6)
    box = Box(0, width)
    lower, upper = box.bounds(n_inputs)
    both_paths(monkeypatch, compiled)
    result = count_regions(net, box, return_patterns=True, seed=seed)
    assert patterns_of(result) == exhaustive_regions_by_margin(net, lower, upper, result.tol)


@pytest.mark.parametrize("s", [1e-8, 1e-4, 1e4, 1e8])
@pytest.mark.parametrize(
    ("n_inputs", "widths", "seed"), [(2, [4, 4], 3), (3, [4, 3, 3], 4), (784, [6, 6], 5)],
)
def test_rescaling_a_unit_changes_nothing(n_inputs, widths, seed, s):
    net = random_network(n_inputs, widths, seed)
    box = Box(0, 1) if n_inputs == 784 else Box(-1, 1)
    expected = count_regions(net, box, return_patterns=True, seed=seed)
    rng = np.random.default_rng(seed)
    for layer, width in enumerate(widths):
        net = rescaled(net, layer, int(rng.integers(width)), s)
    result = count_regions(net, box, return_patterns=True, seed=seed)
    assert result.regions == expected.regions
    assert patterns_of(result) == patterns_of(expected)


def test_the_reference_margin_is_scale_free():
    net = random_network(2, [3], 0)
    lower, upper = -np.ones(2), np.ones(2)
    pattern = net.activation_patterns(np.zeros((1, 2)))[0]
    margin = largest_margin(net, pattern, lower, upper)
    assert margin > 0
    assert largest_margin(rescaled(net, 0, 1, 1e-7), pattern, lower, upper) == pytest.approx(margin)
