"""Pre-activation bounds: sound on samples, LP never looser than interval."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, count_regions, preactivation_bounds, tightening
from pyregions._highs import new_model

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


def huge_network(seed, exponent):
    """Three ReLU layers of weights and biases near 10**exponent."""
    rng = np.random.default_rng(seed)
    sizes = [2, 4, 4, 3]
    weights = [
        rng.normal(size=(m, n)) * 10.0 ** rng.uniform(exponent - 1, exponent)
        for n, m in zip(sizes, sizes[1:])
    ]
    biases = [rng.normal(size=m) * 10.0**exponent for m in sizes[1:]]
    return Network(weights, biases)


@pytest.mark.parametrize("method", ["tree", "milp"])
def test_weights_of_1e6_and_a_bias_of_1e18_are_counted(method):
    # Three hidden layers (the Network has no output layer here): the last
    # unit is 1e6 * 1e6 * 1e6 (x + 1) - 1e18, a wall at x = 0.
    net = Network([[[1e6]], [[1e6]], [[1e6]]], [[1e6], [0.0], [-1e18]])
    assert net.output is None and net.widths == (1, 1, 1)
    result = count_regions(net, Box(-1, 1), method=method, return_patterns=True)
    assert sorted(map(tuple, result.unpacked_patterns().tolist())) == [
        (True, True, False), (True, True, True)
    ]


@pytest.mark.parametrize(
    ("seed", "exponent", "width"), [(0, 6, 2e4), (1, 6, 2e4), (2, 6, 2e4), (3, 8, 1e6), (4, 8, 1e6)]
)
def test_bounds_of_huge_weights_over_a_wide_box_are_sound(seed, exponent, width):
    net = huge_network(seed, exponent)
    box = Box(-width / 2, width / 2)
    lower, upper = box.bounds(2)
    interval = preactivation_bounds(net, box, method="interval")
    lp = preactivation_bounds(net, box, method="lp")
    for layer, values in enumerate(sampled_preactivations(net, lower, upper, 4000, seed)):
        assert np.all(lp.lower[layer] <= values.min(axis=0))
        assert np.all(lp.upper[layer] >= values.max(axis=0))
        assert np.all(lp.lower[layer] >= interval.lower[layer])
        assert np.all(lp.upper[layer] <= interval.upper[layer])


@pytest.mark.parametrize(("scale", "width"), [(1e-8, 1.0), (1e8, 1.0), (1.0, 1e6), (1e8, 1e6)])
def test_lp_bounds_scale_with_the_weights_and_the_box(scale, width):
    # Positive homogeneity: with the first layer's weights times s, the box
    # times t and every bias times s t, each pre-activation is s t times the
    # original's, and so must be each LP bound, up to the LP's accuracy.
    net = random_network(3, [6, 5, 4], 7)
    factor = scale * width
    scaled = Network(
        [net.layers[0].weights * scale] + [layer.weights for layer in net.layers[1:]],
        [layer.bias * factor for layer in net.layers],
    )
    plain = preactivation_bounds(net, Box(-1, 1))
    big = preactivation_bounds(scaled, Box(-width, width))
    for layer in range(3):
        for mine, theirs in ((big.lower, plain.lower), (big.upper, plain.upper)):
            np.testing.assert_allclose(mine[layer] / factor, theirs[layer], rtol=1e-6, atol=1e-6)
    assert big.n_stable == plain.n_stable


def test_a_side_thinner_than_tol_forces_the_unit_to_the_other():
    # Unit 0 is x >= 0 on [0, 1] (rounding puts its lower bound a hair below
    # 0); unit 1's inactive side, [0, 1.5e-6], is thinner than nothing.
    b = preactivation_bounds(Network([[[1.0], [1.0]]], [[0.0, -1.5e-6]]), Box(0, 1))
    assert b.lower[0][0] <= 0
    assert b.stable_at(1e-6)[0].tolist() == [1, 0]
    assert b.stable_at(2e-6)[0].tolist() == [1, 1]
    # Measured along the weights: the same units scaled by 1e6.
    big = preactivation_bounds(Network([[[1e6], [-1e6]]], [[0.0, 1.5]]), Box(0, 1))
    assert big.stable_at(1e-6)[0].tolist() == [1, 0]
    assert big.stable_at(2e-6)[0].tolist() == [1, -1]


def test_a_box_thinner_than_two_tol_takes_the_state_of_its_centre():
    net = Network([[[1.0], [1.0], [-1.0]]], [[-4e-8, -6e-8, 4e-8]])
    assert preactivation_bounds(net, Box(0, 1e-7)).stable_at(1e-6)[0].tolist() == [1, -1, -1]


def test_deeper_units_are_stable_by_sign_only():
    # The second layer's unit is x - 1e-9: its inactive side is thin, but
    # deeper units get no margin rule.
    net = Network([[[1.0]], [[1.0]]], [[0.0], [-1e-9]])
    b = preactivation_bounds(net, Box(0, 1))
    assert [states.tolist() for states in b.stable_at(1e-6)] == [[1], [0]]


@pytest.mark.parametrize("method", ["tree", "milp"])
def test_a_wall_on_the_boundary_of_the_box_splits_nothing(method):
    net = Network([[[1.0], [1.0]]], [[0.0, -1.5e-6]])
    result = count_regions(net, Box(0, 1), method=method, return_patterns=True)
    assert sorted(map(tuple, result.unpacked_patterns().tolist())) == [(True, False), (True, True)]


def test_lps_that_highs_leaves_undecided_keep_sound_bounds(monkeypatch):
    def stopped_model(seed=0):
        model = new_model(seed)
        model.setOptionValue("simplex_iteration_limit", 0)
        return model

    monkeypatch.setattr(tightening._highs, "new_model", stopped_model)
    net = random_network(2, [5, 5, 4], 0)
    lower, upper = Box(-1, 1).bounds(2)
    interval = preactivation_bounds(net, Box(-1, 1), method="interval")
    lp = preactivation_bounds(net, Box(-1, 1), method="lp")
    for layer, values in enumerate(sampled_preactivations(net, lower, upper, 4000, 0)):
        assert np.all(interval.lower[layer] <= lp.lower[layer])
        assert np.all(lp.lower[layer] <= values.min(axis=0))
        assert np.all(lp.upper[layer] >= values.max(axis=0))
