"""The bound recurrences against brute force, each other, and the paper's theorems."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scipy.optimize import linprog

from pyregions import Box, bounds, count_regions

from .reference import random_maxout_network


def theorem1_by_enumeration(n_inputs, widths, ranks=None):
    """Sum over every J of prod C(n_l, j_l), J enumerated as in Theorem 1 (and 7)."""
    ranks = widths if ranks is None else ranks
    total = 0
    for js in itertools.product(*(range(w + 1) for w in widths)):
        budget, ok = n_inputs, True
        for j, n, r in zip(js, widths, ranks):
            budget = min(budget, r)
            if j > min(budget, n):
                ok = False
                break
            budget = min(budget, n - j)
        if ok:
            total += math.prod(math.comb(n, j) for n, j in zip(widths, js))
    return total


def all_width_vectors(max_layers, max_width):
    for layers in range(1, max_layers + 1):
        yield from itertools.product(range(1, max_width + 1), repeat=layers)


@pytest.mark.parametrize("n_inputs", [1, 2, 3, 5])
def test_dynamic_program_equals_enumeration_of_J(n_inputs):
    for widths in all_width_vectors(3, 5):
        assert bounds.serra2018(n_inputs, widths) == theorem1_by_enumeration(n_inputs, widths)


def test_rank_refinement_equals_enumeration_and_only_lowers():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n_inputs = int(rng.integers(1, 5))
        widths = [int(w) for w in rng.integers(1, 6, size=int(rng.integers(1, 4)))]
        weights, n_in, ranks = [], n_inputs, []
        for w in widths:
            rank = int(rng.integers(0, min(w, n_in) + 1))
            W = rng.normal(size=(w, rank)) @ rng.normal(size=(rank, n_in))
            weights.append(W)
            ranks.append(int(np.linalg.matrix_rank(W)))
            n_in = w
        refined = bounds.serra2018(n_inputs, widths, weights=weights)
        assert refined == theorem1_by_enumeration(n_inputs, widths, ranks)
        assert refined <= bounds.serra2018(n_inputs, widths)


@pytest.mark.parametrize("n_inputs", [1, 2, 4, 9])
@pytest.mark.parametrize("width", [1, 3, 8, 20])
def test_one_layer_equals_zaslavsky(n_inputs, width):
    expected = sum(math.comb(width, j) for j in range(min(n_inputs, width) + 1))
    assert bounds.serra2018(n_inputs, [width]) == expected == bounds.zaslavsky(width, n_inputs)


def test_one_input_is_the_product_of_widths_plus_one():
    for widths in itertools.product(range(3, 8), repeat=3):
        expected = math.prod(w + 1 for w in widths)
        assert bounds.serra2018(1, widths) == expected == bounds.one_input_maximum(widths)


architectures = st.tuples(
    st.integers(1, 12), st.lists(st.integers(1, 14), min_size=1, max_size=5)
)


@settings(max_examples=200, deadline=None)
@given(architectures)
def test_upper_bounds_are_ordered(architecture):
    n_inputs, widths = architecture
    serra = bounds.serra2018(n_inputs, widths)
    assert serra <= bounds.montufar2017(n_inputs, widths) <= bounds.trivial(widths)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(1, 16), min_size=1, max_size=4))
def test_lower_bounds_stay_below_theorem_1(n_inputs, widths):
    serra = bounds.serra2018(n_inputs, widths)
    if min(widths) >= n_inputs:
        assert bounds.montufar2014_lower(n_inputs, widths) <= serra
    if min(widths) >= 3 * n_inputs:
        lower = bounds.serra2018_lower(n_inputs, widths)
        assert bounds.montufar2014_lower(n_inputs, widths) <= lower <= serra


def test_lower_bounds_match_their_formulas():
    assert bounds.montufar2014_lower(2, [4, 6, 5]) == 2**2 * 3**2 * (1 + 5 + 10)
    assert bounds.serra2018_lower(2, [6, 7, 6]) == 4**2 * 4**2 * (1 + 6 + 15)
    assert bounds.serra2018_lower(1, [3, 4, 5]) == bounds.one_input_maximum([3, 4, 5])


@settings(max_examples=100, deadline=None)
@given(architectures, st.integers(2, 5))
def test_maxout_matches_its_formula(architecture, rank):
    n_inputs, widths = architecture
    expected, d = 1, n_inputs
    for w in widths:
        d = min(d, w)
        m = rank * (rank - 1) // 2 * w
        expected *= sum(math.comb(m, j) for j in range(min(d, m) + 1))
    assert bounds.maxout(n_inputs, widths, rank) == expected


def arrangement_cells(rows, offsets, radius, margin=1e-7):
    """Cells of the arrangement of the hyperplanes ``rows @ x + offsets = 0``
    in the box [-radius, radius]^n: every sign vector tried, one LP each."""
    norms = np.linalg.norm(rows, axis=1)
    cells = 0
    for signs in itertools.product((-1.0, 1.0), repeat=len(rows)):
        s = np.array(signs)
        result = linprog(
            np.zeros(rows.shape[1]), A_ub=-s[:, None] * rows, b_ub=s * offsets - margin * norms,
            bounds=[(-radius, radius)] * rows.shape[1], method="highs",
        )
        cells += result.status == 0
    return cells


def tie_hyperplanes(layer):
    """Each maxout unit's hyperplanes a_p = a_q, p < q, as (rows, offsets)."""
    W, b = layer.weights, layer.bias
    pairs = list(itertools.combinations(range(W.shape[1]), 2))
    rows = np.array([W[i, p] - W[i, q] for i in range(W.shape[0]) for p, q in pairs])
    offsets = np.array([b[i, p] - b[i, q] for i in range(W.shape[0]) for p, q in pairs])
    return rows, offsets


@pytest.mark.parametrize(("n_inputs", "width", "rank"), [(2, 4, 2), (2, 2, 3), (3, 3, 3), (2, 1, 4)])
def test_the_maxout_bound_of_one_layer_holds_the_cells_of_its_ties(n_inputs, width, rank):
    # One layer: the bound is the cell count of k(k-1)/2 * width hyperplanes
    # in general position in min(n_inputs, width) dimensions; a unit's ties
    # all meet where its pieces are equal, so they have fewer cells, and its
    # regions are unions of cells.
    net = random_maxout_network(n_inputs, [width], rank, 0)
    radius = 1e3
    cells = arrangement_cells(*tie_hyperplanes(net.layers[0]), radius)
    bound = bounds.maxout(n_inputs, [width], rank)
    regions = count_regions(net, Box(-radius, radius)).regions
    assert regions <= min(cells, bound)
    if width >= n_inputs:
        assert cells <= bound
    if rank == 2:  # one hyperplane per unit, in general position: the bound is met
        assert cells == bound
    if width == 1:  # a single unit: each piece wins somewhere, and nothing else
        assert regions == rank


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 800), st.lists(st.integers(1, 300), min_size=1, max_size=6))
def test_log10_agrees_with_the_exact_value(n_inputs, widths):
    for name in ("serra2018", "montufar2017"):
        function = getattr(bounds, name)
        exact = function(n_inputs, widths)
        assert function(n_inputs, widths, log10=True) == pytest.approx(
            math.log10(exact), rel=1e-12, abs=1e-10
        )
    assert bounds.trivial(widths, log10=True) == pytest.approx(math.log10(bounds.trivial(widths)))


def test_log10_works_where_the_exact_value_is_huge():
    value = bounds.serra2018(784, [1000] * 100, log10=True)
    assert 10_000 < value < 100 * 1000 * math.log10(2)


def test_all_bounds_lists_what_applies():
    found = bounds.all_bounds(784, [11, 11])
    assert set(found) == {"serra2018", "montufar2017", "trivial"}
    assert found["trivial"].value == 2**22
    one_layer = bounds.all_bounds(2, [8])
    assert set(one_layer) == {
        "serra2018", "montufar2017", "trivial", "montufar2014_lower", "serra2018_lower", "zaslavsky",
    }
    assert set(bounds.all_bounds(3, [4, 4], maxout_rank=3)) == {"maxout"}
    huge = bounds.all_bounds(784, [1000] * 100)["serra2018"]
    assert huge.value is None and huge.log10 > bounds.MAX_EXACT_DIGITS


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bounds.serra2018(0, [3]), "n_inputs must be >= 1"),
        (lambda: bounds.serra2018(2, []), "widths must not be empty"),
        (lambda: bounds.serra2018(2, [3, 0]), r"widths\[1\] must be >= 1"),
        (lambda: bounds.serra2018(2.5, [3]), "n_inputs must be an integer"),
        (lambda: bounds.serra2018(2, [3, "4"]), r"widths\[1\] must be an integer"),
        (lambda: bounds.maxout(2, [3], 1), "rank must be >= 2"),
        (lambda: bounds.montufar2014_lower(3, [2, 4]), "every width >= 1"),
        (lambda: bounds.one_input_maximum([2, 5]), r"widths\[0\] must be >= 3"),
        (lambda: bounds.serra2018(2, [3], weights=[np.ones((3, 3))]), "weights"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
