"""Properties of the exact count on random and degenerate networks (hypothesis).

Each property compares two counts, or a count with exhaustive enumeration by
:mod:`tests.reference`, as sets of patterns.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyregions import Box, Network, count_regions

from .reference import exhaustive_regions, exhaustive_states

SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FEW = settings(SETTINGS, max_examples=6)


def pattern_set(net, box, **kwargs):
    result = count_regions(net, box, return_patterns=True, seed=0, **kwargs)
    assert result.complete
    return {tuple(row) for row in result.unpacked_patterns().tolist()}


def layers_of(net):
    return [layer.weights.copy() for layer in net.layers], [layer.bias.copy() for layer in net.layers]


@st.composite
def small_networks(draw):
    """ReLU, maxout or mixed networks of 1 to 3 inputs and at most 8 units."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_inputs = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    ranks = [draw(st.sampled_from([1, 1, 2, 3])) for _ in widths]  # 1: ReLU
    weights, biases, n = [], [], n_inputs
    for width, rank in zip(widths, ranks):
        shape = (width,) if rank == 1 else (width, rank)
        weights.append(rng.normal(size=(*shape, n)) / np.sqrt(n))
        biases.append(rng.normal(size=shape) * 0.5)
        n = width
    return Network(weights, biases)


@st.composite
def mnist_sized_networks(draw):
    """784-4-4 ReLU networks whose hyperplanes cut [0, 1]^784."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights, biases, n = [], [], 784
    for width in (4, 4):
        W = rng.normal(size=(width, n)) / np.sqrt(n)
        centre = 0.5 * W.sum(axis=1) if n == 784 else 0.0
        weights.append(W)
        biases.append(-centre + 0.3 * rng.normal(size=width))
        n = width
    return Network(weights, biases)


def box_of(net):
    return Box(0, 1) if net.n_inputs == 784 else Box(-1, 1)


# -- (a) positive rescaling of units ---------------------------------------------


def rescaled(net, factors):
    """Each hidden unit's weights and bias times its factor, its outgoing weights divided."""
    weights, biases = layers_of(net)
    for layer, s in enumerate(factors):
        column = s if weights[layer].ndim == 2 else s[:, None]
        weights[layer] = weights[layer] * column[..., None]
        biases[layer] = biases[layer] * column
        if layer + 1 < len(weights):
            weights[layer + 1] = weights[layer + 1] / s
    return Network(weights, biases)


def check_rescaling(net, exponents):
    factors, start = [], 0
    for width in net.widths:
        factors.append(10.0 ** np.array(exponents[start : start + width]))
        start += width
    box = box_of(net)
    assert pattern_set(rescaled(net, factors), box) == pattern_set(net, box)


LOG_SCALES = st.lists(st.floats(-8, 8), min_size=24, max_size=24)


@SETTINGS
@given(small_networks(), LOG_SCALES)
def test_rescaling_units_keeps_the_patterns(net, exponents):
    check_rescaling(net, exponents)


@FEW
@given(mnist_sized_networks(), LOG_SCALES)
def test_rescaling_units_keeps_the_patterns_of_784_inputs(net, exponents):
    check_rescaling(net, exponents)


# -- (b) permuting a layer's units -----------------------------------------------


def check_permutation(net, data):
    layer = data.draw(st.integers(0, len(net.widths) - 1))
    order = np.array(data.draw(st.permutations(range(net.widths[layer]))))
    weights, biases = layers_of(net)
    weights[layer], biases[layer] = weights[layer][order], biases[layer][order]
    if layer + 1 < len(weights):
        weights[layer + 1] = weights[layer + 1][..., order]
    start = sum(net.widths[:layer])
    columns = np.arange(net.n_hidden)
    columns[start : start + order.size] = start + order
    box = box_of(net)
    expected = {tuple(np.array(p)[columns].tolist()) for p in pattern_set(net, box)}
    assert pattern_set(Network(weights, biases), box) == expected


@SETTINGS
@given(small_networks(), st.data())
def test_permuting_a_layer_permutes_the_patterns(net, data):
    check_permutation(net, data)


@FEW
@given(mnist_sized_networks(), st.data())
def test_permuting_a_layer_permutes_the_patterns_of_784_inputs(net, data):
    check_permutation(net, data)


# -- (c) a duplicate unit --------------------------------------------------------


def check_duplicate(net, data):
    """The copy of a unit takes half its outgoing weights (halving is exact):
    the network and the regions are unchanged, the copy's state its twin's."""
    layer = data.draw(st.integers(0, len(net.widths) - 1))
    unit = data.draw(st.integers(0, net.widths[layer] - 1))
    weights, biases = layers_of(net)
    weights[layer] = np.concatenate([weights[layer], weights[layer][unit : unit + 1]])
    biases[layer] = np.concatenate([biases[layer], biases[layer][unit : unit + 1]])
    if layer + 1 < len(weights):
        half = weights[layer + 1][..., unit : unit + 1] / 2
        weights[layer + 1][..., unit : unit + 1] = half
        weights[layer + 1] = np.concatenate([weights[layer + 1], half], axis=-1)
    end = sum(net.widths[: layer + 1])
    box = box_of(net)
    expected = set()
    for p in pattern_set(net, box):
        expected.add((*p[:end], p[end - net.widths[layer] + unit], *p[end:]))
    assert pattern_set(Network(weights, biases), box) == expected


@SETTINGS
@given(small_networks(), st.data())
def test_a_duplicate_unit_adds_no_region(net, data):
    check_duplicate(net, data)


@FEW
@given(mnist_sized_networks(), st.data())
def test_a_duplicate_unit_adds_no_region_of_784_inputs(net, data):
    check_duplicate(net, data)


# -- (d) degenerate families against exhaustive enumeration ----------------------

FAMILIES = ["duplicated", "negated", "zero", "parallel", "concurrent", "integer", "dead"]


@st.composite
def degenerate_cases(draw):
    """A ReLU network of at most 8 units whose rows repeat, cancel, vanish,
    run parallel or meet in one point, with small integer weights or a dead
    layer; and a box 1e-3 to 1e4 wide."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    family = draw(st.sampled_from(FAMILIES))
    n_inputs = draw(st.integers(1, 3))
    widths = draw(st.sampled_from([[4], [6], [3, 3], [4, 4], [2, 3, 3]]))
    width = 10.0 ** draw(st.integers(-3, 4))
    centre = rng.normal(size=n_inputs) * width
    weights, biases, n = [], [], n_inputs
    for index, m in enumerate(widths):
        scale = width if index == 0 else 1.0  # hidden values grow with the box
        if family == "integer":
            W = rng.integers(-2, 3, size=(m, n)).astype(float)
            b = rng.integers(-2, 3, size=m) * 0.5 * scale
        else:
            W = rng.normal(size=(m, n))
            b = rng.normal(size=m) * 0.5 * scale
        if index == 0:
            b = b - W @ centre
        if family == "duplicated":
            W[-1], b[-1] = W[0], b[0]
        elif family == "negated":
            W[-1], b[-1] = -W[0], -b[0]
        elif family == "zero":
            W[-1] = 0.0
            b[-1] = draw(st.sampled_from([-1.0, 0.0, 1.0]))
        elif family == "parallel":
            W[-1], b[-1] = 2.0 * W[0], b[0] + 0.25 * scale
        elif family == "concurrent" and index == 0:
            b = -W @ (centre + 0.1 * width * rng.normal(size=n))
        elif family == "dead" and index == 0 and len(widths) > 1:
            b = -np.abs(W) @ (np.abs(centre) + width) - 1.0
        weights.append(W)
        biases.append(b)
        n = m
    box = Box(centre - width / 2, centre + width / 2)
    return Network(weights, biases), box, width


@settings(SETTINGS, max_examples=120)
@given(degenerate_cases())
def test_degenerate_networks_equal_exhaustive_enumeration(case):
    net, box, width = case
    tol = 1e-6 * width  # a margin the reference's LPs decide at any scale
    lower, upper = box.bounds(net.n_inputs)
    expected = exhaustive_regions(net, lower, upper, tol)
    assert pattern_set(net, box, tol=tol) == expected


@SETTINGS
@given(small_networks())
def test_small_networks_equal_exhaustive_enumeration(net):
    lower, upper = box_of(net).bounds(net.n_inputs)
    if net.maxout_rank is None:
        expected = exhaustive_regions(net, lower, upper, 1e-6)
    else:
        expected = exhaustive_states(net, lower, upper, 1e-6)
    assert pattern_set(net, box_of(net), tol=1e-6) == expected
