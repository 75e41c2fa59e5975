"""The compiled search against the Python search it stands in for."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, count_regions
from pyregions._kernels import layer_search as _layer_search
from pyregions._kernels.layer_maps import forward
from pyregions.counting.problem import TreeProblem
from pyregions.counting.results import unpack_patterns
from pyregions.counting.search import TreeSearch
from pyregions.counting.settings import DEFAULT_TOL
from pyregions.counting.subtree import count_subtree
from pyregions.tightening import preactivation_bounds

from .reference import (
    exhaustive_regions,
    network_on_slice,
    pattern_is_region,
    random_network,
)
from .tuning import tune


def problem_of(net, box):
    lower, upper = box.bounds(net.n_inputs)
    pre = preactivation_bounds(net, box, method="lp")
    return TreeProblem.build(net, lower, upper, pre, DEFAULT_TOL)


def patterns_of(result):
    return {tuple(p) for p in result.unpacked_patterns()}


@pytest.mark.parametrize(
    ("n_inputs", "widths", "seed"),
    [
        (1, [5, 4], 0), (2, [5, 6], 1), (3, [4, 4, 5], 2), (5, [6, 7], 3), (784, [6, 5], 4),
        (1, [4], 5), (3, [9], 6), (784, [8], 7),
        (2, [33, 3], 8),  # keys in two words
    ],
)
def test_compiled_and_python_searches_find_the_same_regions(n_inputs, widths, seed, monkeypatch):
    net = random_network(n_inputs, widths, seed)
    box = Box(0, 1) if n_inputs == 784 else Box(-1, 1)
    compiled = count_regions(net, box, return_patterns=True, seed=seed)
    tune(monkeypatch, compiled_search=False)
    python = count_regions(net, box, return_patterns=True, seed=seed)
    assert compiled.complete and python.complete
    assert patterns_of(compiled) == patterns_of(python)
    if n_inputs < 784 and sum(widths) <= 24:  # exhaustive enumeration has 2^units patterns
        lower, upper = box.bounds(n_inputs)
        assert patterns_of(compiled) == exhaustive_regions(net, lower, upper, DEFAULT_TOL)


@pytest.mark.parametrize(("widths", "seed"), [([70, 4], 11), ([5, 66], 12), ([40, 33, 3], 13)])
def test_layers_wider_than_a_word_of_keys_find_the_regions_of_a_brute_force_scan(widths, seed, monkeypatch):
    # One input: the regions are intervals, and a fine scan finds every one
    # longer than its step; each region found must be one, by an LP.
    net = random_network(1, widths, seed)
    compiled = patterns_of(count_regions(net, Box(-1, 1), return_patterns=True, seed=seed))
    tune(monkeypatch, compiled_search=False)
    assert compiled == patterns_of(count_regions(net, Box(-1, 1), return_patterns=True, seed=seed))
    x = np.linspace(-1.0, 1.0, 400_001)[:, None]
    scanned, h = [], x
    for layer in net.layers:
        a = h @ layer.weights.T + layer.bias
        scanned.append(a > 0.0)
        h = np.maximum(a, 0.0)
    assert {tuple(p) for p in np.concatenate(scanned, axis=1)} <= compiled
    lower, upper = -np.ones(1), np.ones(1)
    assert all(pattern_is_region(net, np.array(p), lower, upper, DEFAULT_TOL) for p in compiled)


def test_permuting_the_units_of_wide_layers_permutes_the_regions():
    net = random_network(2, [45, 70], 14)
    permutations = [np.random.default_rng(14).permutation(width) for width in net.widths]
    weights = [net.layers[0].weights[permutations[0]],
               net.layers[1].weights[np.ix_(permutations[1], permutations[0])]]
    biases = [layer.bias[order] for layer, order in zip(net.layers, permutations)]
    permuted = count_regions(Network(weights, biases), Box(-1, 1), return_patterns=True, seed=1)
    found = count_regions(net, Box(-1, 1), return_patterns=True, seed=0)
    columns = np.concatenate([permutations[0], 45 + permutations[1]])
    assert permuted.regions == found.regions > 1000
    assert patterns_of(permuted) == {tuple(p[columns]) for p in found.unpacked_patterns()}


@pytest.mark.parametrize(("n_inputs", "widths", "seed", "n_points"), [(784, [40, 6], 15, 3), (6, [70, 5], 16, 2)])
def test_slices_walls_searched_compiled_and_in_python_give_the_same_regions(
    n_inputs, widths, seed, n_points, monkeypatch
):
    # A slice's walls are first-layer units with one side: the compiled loop
    # takes them, and must keep only their inside, as the Python search does.
    net = random_network(n_inputs, widths, seed)
    box = Box(0, 1) if n_inputs == 784 else Box(-1, 1)
    lower, upper = box.bounds(n_inputs)
    points = np.random.default_rng(seed).uniform(lower, upper, size=(n_points, n_inputs))
    compiled = count_regions(net, box, through=points, return_patterns=True, seed=seed)
    tune(monkeypatch, compiled_search=False)
    python = count_regions(net, box, through=points, return_patterns=True, seed=seed)
    assert compiled.regions > 20
    assert patterns_of(compiled) == patterns_of(python)


def test_the_compiled_forward_pass_on_sparse_weights_equals_numpy():
    net = random_network(3, [70, 40, 6], 17)
    mask = np.random.default_rng(17).uniform(size=net.layers[1].weights.shape) < 0.2
    net = Network([net.layers[0].weights, net.layers[1].weights * mask, net.layers[2].weights],
                  [layer.bias for layer in net.layers])
    problem = problem_of(net, Box(-1, 1))
    compiled = TreeSearch(problem, np.random.default_rng(0)).compiled
    points = np.random.default_rng(1).uniform(-1, 1, size=(20, 3))
    out = np.empty(problem.n_hidden)
    for point, expected in zip(points, problem.preactivations(points)):
        first = problem.weights[0] @ point + problem.biases[0]
        forward(
            first, compiled.weight_starts, compiled.weight_columns, compiled.weight_values,
            compiled.biases_stack, np.array(net.widths), out,
        )
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_masks_of_several_words_hold_the_bits_set_in_them():
    rng = np.random.default_rng(18)
    mask, proof = np.zeros(3, np.int64), np.zeros(3, np.int64)
    bits = rng.choice(192, size=40, replace=False)
    for bit in bits:
        _layer_search._set_bit(mask, bit)
    for bit in bits[:10]:
        _layer_search._set_bit(proof, bit)
    assert _layer_search._covers(mask, proof)
    _layer_search._set_bit(proof, next(b for b in range(192) if b not in set(bits)))
    assert not _layer_search._covers(mask, proof)
    for bit in bits:
        _layer_search._clear_bit(mask, bit)
    assert not mask.any()


def test_subtrees_cut_anywhere_in_the_last_layer_cover_every_region_once():
    net = random_network(4, [5, 6], 7)
    problem = problem_of(net, Box(-1, 1))
    full = count_regions(net, Box(-1, 1), return_patterns=True)
    # Tiny budgets make searches stop inside compiled calls and hand back
    # the nodes they did not visit, at every depth of the last layer.
    pending, found, stopped = [()], [], 0
    while pending:
        part = count_subtree(problem, pending.pop(), 0, None, node_budget=7)
        found.extend(map(tuple, unpack_patterns(part.patterns, problem.n_hidden)))
        if part.children:
            stopped += 1
            pending.extend(part.children)
    assert stopped > 5
    assert len(found) == len(set(found)) == full.regions
    assert set(found) == patterns_of(full)


def test_lps_the_simplex_leaves_undecided_go_to_highs(monkeypatch):
    net = random_network(3, [5, 6], 8)
    tune(monkeypatch, simplex_iteration_limit=0)
    result = count_regions(net, Box(-1, 1), return_patterns=True)
    lower, upper = -np.ones(3), np.ones(3)
    assert patterns_of(result) == exhaustive_regions(net, lower, upper, DEFAULT_TOL)


SLOW = random_network(5, [24, 24], 3)  # about 2.5 s, nearly all in the compiled search


def test_an_error_in_a_progress_callback_reaches_the_caller(report_every_tick):
    reports = []

    def fail(progress):
        reports.append(progress)
        if len(reports) == 3:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        count_regions(SLOW, Box(-1, 1), progress=fail)
    assert len(reports) == 3


@pytest.mark.parametrize("stop", ["ctrl-c", "time limit"])
def test_a_compiled_search_stopped_at_a_tick_keeps_what_it_found(stop, clock, report_every_tick):
    reports = []

    def third_tick(progress):
        reports.append(progress)
        if len(reports) == 3:
            if stop == "ctrl-c":
                raise KeyboardInterrupt
            clock.expire()

    partial = count_regions(
        SLOW, Box(-1, 1), progress=third_tick, return_patterns=True, time_limit=3600, seed=0
    )
    assert not partial.complete and len(reports) == 3
    # The compiled loop ticks every TICK_NODES nodes: a ctrl-c stops it at the
    # third tick, a time limit at the fourth; the root was the first, in Python.
    assert reports[-1].nodes == 2 * _layer_search.TICK_NODES
    assert 0 < reports[-1].regions <= partial.regions < 3 * _layer_search.TICK_NODES
    assert len(patterns_of(partial)) == partial.regions
    lower, upper = -np.ones(5), np.ones(5)
    sample = {tuple(p) for p in partial.unpacked_patterns()[:: max(partial.regions // 20, 1)]}
    assert all(
        pattern_is_region(SLOW, np.array(p), lower, upper, DEFAULT_TOL) for p in sample
    )


@pytest.mark.parametrize(("widths", "seed"), [([5, 4], 4), ([8], 7)])
def test_the_compiled_search_at_784_inputs_against_a_random_plane(widths, seed):
    # Too many patterns to try each in 784 dimensions: every region of a
    # random plane (enumerated there) must be found, and every region found
    # (a sample) must be one, by LPs that share nothing with the search.
    net = random_network(784, widths, seed)
    found = patterns_of(count_regions(net, Box(0, 1), return_patterns=True, seed=seed))
    lower, upper = np.zeros(784), np.ones(784)
    # Near three random corners: the plane crosses many units' hyperplanes.
    points = 0.5 + 0.45 * np.random.default_rng(seed).choice([-1.0, 1.0], size=(3, 784))
    sliced, t_lower, t_upper, domain = network_on_slice(net, points, lower, upper)
    in_plane = exhaustive_regions(sliced, t_lower, t_upper, 1e-6, domain=domain)
    assert len(in_plane) >= 5 and in_plane <= found
    rng = np.random.default_rng(seed)
    sample = [np.array(p) for p in sorted(found)]
    sample = [sample[i] for i in rng.choice(len(sample), size=min(40, len(sample)), replace=False)]
    assert all(pattern_is_region(net, p, lower, upper, DEFAULT_TOL) for p in sample)
