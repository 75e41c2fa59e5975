"""Pre-activation bounds: sound on samples, LP never looser than interval."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, preactivation_bounds

from .reference import random_network


def sampled_preactivations(net, lower, upper, n, seed):
    x = np.random.default_rng(seed).uniform(lower, upper, size=(n, lower.shape[0]))
    # Corners too: the extremes of the first layer sit there.
    x[: n // 4] = np.where(np.random.default_rng(seed + 1).random((n // 4, lower.shape[0])) < 0.5, lower, upper)
    out, h = [], x
    for layer in net.layers:
        a = h @ layer.weights.T + layer.bias
        out.append(a)
        h = np.maximum(a, 0)
    return out


@pytest.mark.parametrize(("n_inputs", "widths", "seed"), [(2, [5, 5, 4], 0), (10, [8, 6], 1), (784, [6, 6, 4], 2)])
def test_bounds_contain_every_sampled_value_and_lp_is_tighter(n_inputs, widths, seed):
    net = random_network(n_inputs, widths, seed)
    box = Box(0, 1) if n_inputs == 784 else Box(-1, 1)
    lower, upper = box.bounds(n_inputs)
    interval = preactivation_bounds(net, box, method="interval")
    lp = preactivation_bounds(net, box, method="lp")
    samples = sampled_preactivations(net, lower, upper, 4000, seed)
    tighter = 0
    for layer, values in enumerate(samples):
        for bounds in (interval, lp):
            assert np.all(bounds.lower[layer] <= values.min(axis=0))
            assert np.all(bounds.upper[layer] >= values.max(axis=0))
        assert np.all(lp.lower[layer] >= interval.lower[layer])
        assert np.all(lp.upper[layer] <= interval.upper[layer])
        tighter += np.sum(lp.upper[layer] - lp.lower[layer] < 0.99 * (interval.upper[layer] - interval.lower[layer]))
    assert tighter > 0  # deeper layers: the LP relaxation must help somewhere


def test_first_layer_interval_bounds_are_exact_over_a_box():
    net = Network([np.array([[1.0, -2.0], [0.5, 0.25]])], [np.array([0.5, -1.0])])
    b = preactivation_bounds(net, Box([0, -1], [1, 1]), method="interval")
    np.testing.assert_allclose(b.lower[0], [-1.5, -1.25], rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.upper[0], [3.5, -0.25], rtol=0, atol=1e-12)
    # Rounded outward: never inside the exact values.
    assert b.lower[0][0] <= -1.5 and b.upper[0][0] >= 3.5


def test_stable_units_are_reported():
    net = Network(
        [np.array([[1.0], [1.0], [1.0]]), np.array([[1.0, 1.0, 0.0]])],
        [np.array([2.0, -2.0, 0.0]), np.array([1.0])],
    )
    b = preactivation_bounds(net, Box(-1, 1))
    assert b.stably_active[0].tolist() == [True, False, False]
    assert b.stably_inactive[0].tolist() == [False, True, False]
    assert b.stably_active[1].tolist() == [True]
    assert b.n_stable == 3
    np.testing.assert_allclose(b.big_m[0], [3.0, 3.0, 1.0], atol=1e-9)


def test_bounds_are_read_only():
    b = preactivation_bounds(random_network(2, [3], 0), Box(-1, 1))
    with pytest.raises(ValueError, match="read-only"):
        b.lower[0][0] = 0.0


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        preactivation_bounds(random_network(2, [3], 0), Box(-1, 1), method="crown")
