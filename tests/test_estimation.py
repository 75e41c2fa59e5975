"""Tests of Knuth's estimator against exact counts, and of the network-aware bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyregions import Box, Network, UnsupportedLayerError, _core, bounds, count_regions
from pyregions.bounds.network_bound import _stable_recurrence
from pyregions.estimation import RegionEstimate, estimate_regions

from .reference import random_network

BOX = Box(-1, 1)


def small_network(seed):
    """2 or 3 inputs, two hidden layers: counted exactly in milliseconds."""
    rng = np.random.default_rng(seed)
    n_inputs = 2 + seed % 2
    widths = [int(w) for w in rng.integers(3, 6, size=2)]
    return random_network(n_inputs, widths, seed)


@pytest.mark.parametrize("seed", range(6))
def test_mean_converges_to_the_exact_count(seed):
    net = random_network(2 + seed % 2, [5, 5], 100 + seed)
    exact = count_regions(net, BOX, seed=0).regions
    result = estimate_regions(net, BOX, samples=5000, seed=seed)
    half_width = (result.ci95[1] - result.ci95[0]) / 2
    # Four standard errors (the interval is two), and a relative error that
    # 5000 probes of a tree this small keep far below 10%.
    assert abs(result.estimate - exact) <= 2 * half_width + 1e-9
    assert abs(result.estimate - exact) <= 0.1 * exact
    assert result.regions_seen == exact
    assert result.samples == 5000


def test_interval_covers_at_about_the_stated_rate():
    runs, covered, ratios = 80, 0, []
    for seed in range(runs):
        net = small_network(seed)
        exact = count_regions(net, BOX, seed=0).regions
        result = estimate_regions(net, BOX, samples=300, seed=seed)
        covered += result.ci95[0] <= exact <= result.ci95[1]
        ratios.append(result.estimate / exact)
    # 95% nominal; the normal interval undercovers somewhat on skewed
    # products (see the module docstring), hence the margin.
    assert covered >= 0.85 * runs
    assert abs(np.mean(ratios) - 1.0) < 0.03


def test_one_region_gives_exactly_one():
    # Both units are stably inactive over the box: one region, no branching.
    net = Network([np.array([[1.0, 1.0], [-1.0, 0.5]])], [np.array([-5.0, -3.0])])
    result = estimate_regions(net, BOX, samples=50, seed=0)
    assert result.estimate == 1.0
    assert result.ci95 == (1.0, 1.0)
    assert result.regions_seen == 1
    assert result.lp_solves == 0


def test_a_box_that_fixes_every_input_has_one_region():
    net = random_network(2, [4, 3], 0)
    result = estimate_regions(net, Box([0.3, -0.2], [0.3, -0.2]), samples=10, seed=0)
    assert (result.estimate, result.ci95) == (1.0, (1.0, 1.0))


def test_one_input_network_of_known_count():
    net = Network([np.array([[1.0], [-1.0]])], [np.array([0.0, 0.5])])
    result = estimate_regions(net, Box(-1, 1), samples=400, seed=1)
    assert result.regions_seen == 3
    assert result.ci95[0] <= 3 <= result.ci95[1]
    assert isinstance(result, RegionEstimate)
    assert result.method == "knuth"


def test_same_seed_same_estimate():
    net = small_network(3)
    first = estimate_regions(net, BOX, samples=100, seed=7)
    second = estimate_regions(net, BOX, samples=100, seed=np.random.default_rng(7))
    assert (first.estimate, first.ci95) == (second.estimate, second.ci95)


def test_mnist_sized_inputs():
    net = random_network(784, [4, 3], 7)
    box = Box(0, 1)
    exact = count_regions(net, box, seed=0).regions
    result = estimate_regions(net, box, samples=300, seed=0)
    half_width = (result.ci95[1] - result.ci95[0]) / 2
    assert abs(result.estimate - exact) <= 2 * half_width
    assert result.regions_seen <= exact


def test_time_limit_stops_early_after_two_probes():
    net = random_network(784, [6, 6], 1)
    result = estimate_regions(net, Box(0, 1), samples=10_000, seed=0, time_limit=1e-3)
    assert 2 <= result.samples < 10_000


def test_worker_processes():
    net = small_network(5)
    exact = count_regions(net, BOX, seed=0).regions
    result = estimate_regions(net, BOX, samples=400, seed=0, jobs=2)
    assert result.samples == 400
    assert result.regions_seen <= exact
    assert abs(result.estimate - exact) <= 0.3 * exact


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"samples": 1}, ValueError, "samples must be >= 2"),
        ({"samples": 2.5}, ValueError, "samples must be an integer"),
        ({"tol": 0.0}, ValueError, "tol must be a positive"),
        ({"tol": float("nan")}, ValueError, "tol must be a positive"),
        ({"time_limit": -1.0}, ValueError, "time_limit must be a positive"),
        ({"jobs": 0}, ValueError, "jobs must be >= 1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ],
)
def test_invalid_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        estimate_regions(small_network(0), BOX, **kwargs)


def test_invalid_network_and_box():
    net = small_network(0)
    with pytest.raises(TypeError, match="network must be a pyregions.Network"):
        estimate_regions("net", BOX)
    with pytest.raises(TypeError, match="box must be a pyregions.Box"):
        estimate_regions(net, (-1, 1))
    with pytest.raises(ValueError, match="the box has dimension 5"):
        estimate_regions(net, Box(np.zeros(5), np.ones(5)))


# -- network_bound ------------------------------------------------------------


def forced_stable(seed):
    """Large biases: many units stable over the box."""
    return random_network(2 + seed % 2, [4, 4], seed, scale=3.0)


def rank_deficient(seed):
    """Every layer of rank 1."""
    rng = np.random.default_rng(seed)
    net = random_network(3, [4, 4], seed, scale=0.3)
    weights = [np.outer(rng.normal(size=layer.n_neurons), rng.normal(size=layer.n_inputs))
               for layer in net.layers]
    return Network(weights, [layer.bias for layer in net.layers])


def dead_second_layer(seed):
    """A first layer stably inactive: the second sees a constant input."""
    net = random_network(2, [3, 3], seed)
    return Network(
        [net.layers[0].weights, net.layers[1].weights],
        [np.full(3, -10.0), net.layers[1].bias],
    )


NETWORKS = (
    [("random", small_network, seed) for seed in range(12)]
    + [("stable", forced_stable, seed) for seed in range(8)]
    + [("rank 1", rank_deficient, seed) for seed in range(6)]
    + [("dead layer", dead_second_layer, seed) for seed in range(2)]
)


def test_network_bound_between_exact_count_and_theorem_1():
    below_theorem_1 = 0
    for _, make, seed in NETWORKS:
        net = make(seed)
        exact = count_regions(net, BOX, seed=0).regions
        bound = bounds.network_bound(net, BOX)
        theorem_1 = bounds.serra2018(net.n_inputs, net.widths)
        with_ranks = bounds.serra2018(
            net.n_inputs, net.widths, weights=[layer.weights for layer in net.layers]
        )
        assert exact <= bound <= with_ranks <= theorem_1, (make.__name__, seed)
        below_theorem_1 += bound < theorem_1
    assert below_theorem_1 >= len(NETWORKS) // 2


def test_network_bound_of_an_all_stable_network_is_one():
    assert bounds.network_bound(dead_second_layer(0), BOX) == 1


def test_network_bound_log10():
    net = forced_stable(1)
    exact = bounds.network_bound(net, BOX)
    assert bounds.network_bound(net, BOX, log10=True) == pytest.approx(math.log10(exact))


def test_network_bound_on_an_unconstrained_box_is_theorem_1_with_ranks():
    # Tiny weights against zero biases: every unit straddles 0 somewhere in a
    # box this large, nothing is stable, and the recurrence is Theorem 1's.
    net = random_network(2, [3, 4], 0, scale=0.0)
    box = Box(-1e3, 1e3)
    assert bounds.network_bound(net, box) == bounds.serra2018(2, [3, 4])


@pytest.mark.parametrize("seed", range(20))
def test_recurrence_without_stable_units_equals_the_core(seed):
    rng = np.random.default_rng(seed)
    n_inputs = int(rng.integers(1, 8))
    widths = [int(w) for w in rng.integers(1, 9, size=int(rng.integers(1, 5)))]
    ranks = [int(rng.integers(0, w + 1)) for w in widths]
    layers = [(w, r, 0, r) for w, r in zip(widths, ranks)]
    assert _stable_recurrence(n_inputs, layers) == _core.serra2018_upper(
        n_inputs, widths, ranks, False
    )


def test_network_bound_rejects_bad_arguments():
    net = small_network(0)
    with pytest.raises(TypeError, match="network must be a pyregions.Network"):
        bounds.network_bound(None, BOX)
    with pytest.raises(TypeError, match="box must be a pyregions.Box"):
        bounds.network_bound(net, [-1, 1])
    with pytest.raises(ValueError, match="the box has dimension 4"):
        bounds.network_bound(net, Box(np.zeros(4), np.ones(4)))


def maxout_network():
    rng = np.random.default_rng(0)
    return Network([rng.normal(size=(3, 2)), rng.normal(size=(2, 3, 3))], [np.zeros(3), np.zeros((2, 3))])


def test_maxout_networks_are_refused():
    with pytest.raises(UnsupportedLayerError, match="layer 1 \\(MaxoutLayer\\)"):
        bounds.network_bound(maxout_network(), BOX)
    with pytest.raises(UnsupportedLayerError, match="layer 1 \\(MaxoutLayer\\)"):
        estimate_regions(maxout_network(), BOX)
