"""The Numba dual simplex against HiGHS, and its proofs checked independently."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from pyregions import Box, _kernels, count_regions
from pyregions._kernels import across, linalg
from pyregions._kernels import simplex as _simplex
from pyregions.counting.problem import TreeProblem
from pyregions.counting.search import TreeSearch
from pyregions.tightening import preactivation_bounds

from .reference import exhaustive_regions, random_network
from .tuning import tune


def solve(rows, rhs, lower, upper, *, basic=None, at_upper=None, max_iterations=1000, seed=0, factor=None):
    k, n = rows.shape
    weights = np.random.default_rng(seed).uniform(1.0, 2.0, n)
    basic = np.arange(n, n + k) if basic is None else basic
    at_upper = np.zeros(n, dtype=bool) if at_upper is None else at_upper
    point, multipliers = np.empty(n), np.empty(k)
    rows = np.ascontiguousarray(rows, dtype=float)
    coefficients, factor = (np.eye(k), rows) if factor is None else (rows @ np.linalg.pinv(factor), factor)
    status, _ = _simplex.solve(
        rows, coefficients, factor, np.asarray(rhs, dtype=float), lower, upper,
        weights, basic, at_upper, point, multipliers, max_iterations,
    )
    return status, point, multipliers, basic, at_upper


def margin(rows, rhs, lower, upper):
    """HiGHS's largest t with rows @ x >= rhs + t for some x in the box."""
    k, n = rows.shape
    result = linprog(
        np.r_[np.zeros(n), -1.0], A_ub=np.c_[-rows, np.ones(k)], b_ub=-rhs,
        bounds=[*zip(lower, upper), (None, 10.0)], method="highs",
    )
    assert result.status == 0
    return -result.fun


def check_decision(status, point, multipliers, rows, rhs, lower, upper):
    if status == _simplex.FEASIBLE:
        assert np.all(point >= lower) and np.all(point <= upper)
        assert np.all(rows @ point >= rhs - 1e-8)
    else:
        assert status == _simplex.EMPTY
        assert _kernels.refutes(rows, rhs, multipliers, lower, upper)


@pytest.mark.parametrize("n", [1, 2, 5, 40, 784])
def test_decisions_agree_with_highs(n):
    rng = np.random.default_rng(n)
    decided = {_simplex.FEASIBLE: 0, _simplex.EMPTY: 0}
    for _ in range(60):
        k = int(rng.integers(1, 23))
        rows = rng.normal(size=(k, n))
        lower, upper = -rng.uniform(0, 1, n), rng.uniform(0.1, 1, n)
        shift = np.abs(rng.normal(scale=rng.choice([0.1, 1.0, 3.0]) * np.sqrt(n), size=k))
        # Half the systems keep a known interior point; half are pushed past it.
        rhs = rows @ rng.uniform(lower, upper) + (-shift if rng.random() < 0.5 else 3.0 * shift)
        t = margin(rows, rhs, lower, upper)
        if abs(t) < 1e-6:
            continue  # a tie at the boundary: either answer is right
        status, point, multipliers, _, _ = solve(rows, rhs, lower, upper)
        assert status == (_simplex.FEASIBLE if t > 0 else _simplex.EMPTY)
        check_decision(status, point, multipliers, rows, rhs, lower, upper)
        decided[status] += 1
    assert min(decided.values()) >= 5


def test_a_warm_start_after_a_new_row_decides_as_a_cold_one():
    rng = np.random.default_rng(1)
    n = 100
    lower, upper = np.zeros(n), np.ones(n)
    agreed = 0
    for _ in range(40):
        rows = rng.normal(size=(6, n))
        rhs = rows @ rng.uniform(size=n) - 0.5
        status, _, _, basic, at_upper = solve(rows, rhs, lower, upper)
        assert status == _simplex.FEASIBLE
        more = np.vstack([rows, rng.normal(size=(1, n))])
        more_rhs = np.r_[rhs, rng.normal(scale=3.0)]
        warm = solve(more, more_rhs, lower, upper, basic=np.r_[basic, n + 6], at_upper=at_upper)
        cold = solve(more, more_rhs, lower, upper)
        assert warm[0] == cold[0]
        check_decision(warm[0], warm[1], warm[2], more, more_rhs, lower, upper)
        agreed += 1
    assert agreed == 40


def test_degenerate_systems():
    lower, upper = np.zeros(3), np.ones(3)
    row = np.array([[1.0, -2.0, 0.5]])
    # The same row many times, and a slab of width zero.
    assert solve(np.repeat(row, 5, axis=0), np.full(5, 0.2), lower, upper)[0] == _simplex.FEASIBLE
    assert solve(np.vstack([row, -row]), np.array([0.3, -0.3]), lower, upper)[0] == _simplex.FEASIBLE
    # A zero row: empty when its rhs is positive, with a checked proof.
    zero = np.zeros((1, 3))
    status, _, multipliers, _, _ = solve(zero, np.array([1e-3]), lower, upper)
    assert status == _simplex.EMPTY and _kernels.refutes(zero, np.array([1e-3]), multipliers, lower, upper)
    assert solve(zero, np.array([0.0]), lower, upper)[0] == _simplex.FEASIBLE
    # No rows; no columns.
    assert solve(np.empty((0, 3)), np.empty(0), lower, upper)[0] == _simplex.FEASIBLE
    assert solve(np.empty((2, 0)), np.array([-1.0, 0.0]), np.empty(0), np.empty(0))[0] == _simplex.FEASIBLE
    assert solve(np.empty((1, 0)), np.array([1.0]), np.empty(0), np.empty(0))[0] == _simplex.EMPTY


def test_the_iteration_limit_leaves_an_lp_undecided():
    rows = np.array([[1.0, 1.0]])
    status, *_ = solve(rows, np.array([1.5]), np.zeros(2), np.ones(2), max_iterations=0)
    assert status == _simplex.UNDECIDED


def test_counts_are_the_same_when_every_lp_goes_to_highs(monkeypatch):
    net = random_network(3, [5, 4], 8)
    expected = exhaustive_regions(net, -np.ones(3), np.ones(3), 1e-6)
    tune(monkeypatch, simplex_iteration_limit=0)
    result = count_regions(net, Box(-1, 1), return_patterns=True)
    assert {tuple(p) for p in result.unpacked_patterns()} == expected


def search(net, box):
    lower, upper = box.bounds(net.n_inputs)
    pre = preactivation_bounds(net, box, method="interval")
    problem = TreeProblem.build(net, lower, upper, pre, 1e-6)
    search = TreeSearch(problem, np.random.default_rng(0))
    patterns, complete = search.run()
    assert complete
    return patterns, search.lp


def test_simplex_and_highs_find_the_same_regions_on_784_inputs(monkeypatch):
    net = random_network(784, [5, 4], 2)
    ours, lp = search(net, Box(0, 1))
    assert lp.fallbacks == 0 and lp.solves > 50
    tune(monkeypatch, simplex_iteration_limit=0)
    highs, lp = search(net, Box(0, 1))
    assert lp.fallbacks == lp.solves
    np.testing.assert_array_equal(ours, highs)


def inward_steps_by_definition(rows, rhs, point, basic, tol, lower, upper, row_layers, widen):
    """Each tight row's inward step, in margins: WIDE_INWARD_STEP for the
    last row and, when ``widen``, for rows of later layers, unless the
    vertex moved so leaves the box or crosses a row; INWARD_STEP otherwise.
    Also whether later layers' rows were widened."""
    k, n = rows.shape
    tight = np.array([r for r in range(k) if n + r not in basic])
    wide = tight == k - 1
    if widen:
        steps = np.where(wide | (row_layers[tight] > 0), across.WIDE_INWARD_STEP, across.INWARD_STEP)
        moved = moved_vertex(rows, point, basic, tol, steps)
        if np.all((lower <= moved) & (moved <= upper)) and np.all(rows @ moved >= rhs):
            return steps, True
    return np.where(wide, across.WIDE_INWARD_STEP, across.INWARD_STEP), False


def moved_vertex(rows, point, basic, tol, steps):
    """The basic solution moved by its basic columns so that each tight row
    rises ``steps`` margins above its rhs."""
    k, n = rows.shape
    columns = [v for v in basic if v < n]
    tight = [r for r in range(k) if n + r not in basic]
    margins = tol * np.linalg.norm(rows[tight], axis=1)
    moved = point.copy()
    moved[columns] += np.linalg.solve(rows[np.ix_(tight, columns)], steps * margins)
    return moved


def across_by_numpy(rows, rhs, point, basic, flippable, tol, lower, upper, max_flips, steps, capacity=None):
    """(first flipped row, point) for every point across 1 to ``max_flips``
    flippable tight rows that stays in the box and meets the rows before
    its first flipped one, the other tight rows ``steps`` margins inside,
    by the definition; the first ``capacity`` of them by number of rows
    flipped, then in lexicographic order."""
    k, n = rows.shape
    columns = [v for v in basic if v < n]
    tight = [r for r in range(k) if n + r not in basic]
    M = rows[np.ix_(tight, columns)]
    margins = tol * np.linalg.norm(rows[tight], axis=1)
    flips = [a for a, r in enumerate(tight) if flippable[r]]
    found = []
    for size in range(1, max_flips + 1):
        for subset in itertools.combinations(flips, size):
            step = steps * margins
            step[list(subset)] = -across.ACROSS_STEP * margins[list(subset)]
            moved = point.copy()
            moved[columns] += np.linalg.solve(M, step)
            first = tight[subset[0]]
            if np.all(moved >= lower) and np.all(moved <= upper) and np.all(rows[:first] @ moved >= rhs[:first]):
                found.append((first, moved))
    return sorted(found[:capacity], key=lambda pair: pair[0])


def test_points_across_tight_rows_match_their_definition():
    # Up to 4 rows flipped: sums kept over prefixes of 1 to 3 rows.
    checked = {flips: [check_points_across(seed, flips) for seed in range(16)] for flips in (1, 3, 4)}
    found = {flips: sum(count for count, _, _ in runs) for flips, runs in checked.items()}
    assert found[1] > 20 and found[3] > found[1] and found[4] > found[3]
    # The last row, with its own inward step, is tight at some vertices and
    # not at others; later layers' rows are widened at some vertices, and at
    # others that would leave the box or cross a row.
    last_tight = [last for _, last, _ in checked[3]]
    assert any(last_tight) and not all(last_tight)
    widened = [wide for _, _, wide in checked[3]]
    assert any(widened) and not all(widened)


def check_points_across(seed, max_flips):
    rng = np.random.default_rng(seed)
    n, k, tol = 30, 10, 1e-3
    lower, upper = np.zeros(n), np.ones(n)
    rows = rng.normal(size=(k, n))
    inside, slack = rng.uniform(size=n), rng.uniform(0.0, 0.5, size=k)
    if seed % 2:
        # The last row without slack at a point of the set: tight at most
        # vertices, where its own inward step applies.
        slack[-1] = 0.0
    row_layers = rng.integers(0, 2, size=k)
    if seed % 4 >= 2:
        # A later layer's slab one margin wide: its tight side lets the
        # vertex move INWARD_STEP inside, not WIDE_INWARD_STEP.
        rows[1] = -rows[0] + 1e-6 * rng.normal(size=n)
        slack[0], slack[1] = 0.0, tol * np.linalg.norm(rows[0])
        row_layers[:2] = 1
    rhs = rows @ inside - slack
    status, point, _, basic, _ = solve(rows, rhs, lower, upper, seed=seed)
    assert status == _simplex.FEASIBLE
    flippable = rng.random(k) < 0.7
    # With the identity as first layer, the kernel writes the points themselves.
    out, first = np.empty((500, n)), np.empty(500, dtype=np.int64)
    inward = np.empty(n)
    count, own = across.points_across(
        rows, rhs, point, basic, flippable, tol, lower, upper, np.eye(n), max_flips, out, first, inward,
        row_layers,
    )
    steps, widened = inward_steps_by_definition(rows, rhs, point, basic, tol, lower, upper, row_layers, True)
    expected = across_by_numpy(rows, rhs, point, basic, flippable, tol, lower, upper, max_flips, steps)
    assert count == len(expected)
    np.testing.assert_array_equal(first[:count], [row for row, _ in expected])
    # Points with the same first row come in the same order as by numpy.
    np.testing.assert_allclose(out[:count], np.reshape([moved for _, moved in expected], (-1, n)), atol=1e-12)
    tight = np.array([r for r in range(k) if n + r not in basic])
    unit = tol * np.linalg.norm(rows[tight], axis=1)
    for moved, row in zip(out[:count], first[:count]):
        # Each tight row ends ACROSS_STEP margins across or its inward step inside.
        inside_by = (rows[tight] @ moved - rhs[tight]) / unit
        crossed = np.isclose(inside_by, -across.ACROSS_STEP)
        assert np.all(crossed | np.isclose(inside_by, steps))
        assert 1 <= crossed.sum() <= max_flips and np.all(flippable[tight[crossed]])
        assert tight[crossed][0] == row
        assert np.all(rows[:row] @ moved >= rhs[:row])
    # The vertex moved inside, every tight row its inward step in, if that stays in the set.
    moved = moved_vertex(rows, point, basic, tol, steps)
    assert own == (np.all((lower <= moved) & (moved <= upper)) and np.all(rows @ moved >= rhs))
    if own:
        np.testing.assert_allclose(inward, moved, atol=1e-12)
        np.testing.assert_allclose((rows[tight] @ inward - rhs[tight]) / unit, steps)
    # Without the vertex's own point (no thin check), no row is widened but
    # the last; a full output stops the enumeration at the points found first.
    narrow, _ = inward_steps_by_definition(rows, rhs, point, basic, tol, lower, upper, row_layers, False)
    unwidened = across_by_numpy(rows, rhs, point, basic, flippable, tol, lower, upper, max_flips, narrow)
    capacity = max(len(unwidened) // 2, 1)
    cut, cut_first = np.empty((capacity, n)), np.empty(capacity, dtype=np.int64)
    assert across.points_across(
        rows, rhs, point, basic, flippable, tol, lower, upper, np.eye(n), max_flips, cut, cut_first,
        np.empty(0), row_layers,
    ) == (min(capacity, len(unwidened)), False)
    expected = across_by_numpy(rows, rhs, point, basic, flippable, tol, lower, upper, max_flips, narrow, capacity)
    np.testing.assert_array_equal(cut_first[: len(expected)], [row for row, _ in expected])
    np.testing.assert_allclose(
        cut[: len(expected)], np.reshape([moved for _, moved in expected], (-1, n)), atol=1e-12
    )
    # Through a first layer, the kernel writes its pre-activations instead.
    weights = rng.normal(size=(4, n))
    through = np.empty((500, 4))
    assert across.points_across(
        rows, rhs, point, basic, flippable, tol, lower, upper, weights, max_flips, through, first,
        np.empty(n), row_layers,
    ) == (count, own)
    np.testing.assert_allclose(through[:count], out[:count] @ weights.T, atol=1e-10)
    return count, bool(np.any(tight == k - 1)), widened


def test_products_over_a_vectors_nonzeros_are_its_products():
    rng = np.random.default_rng(3)
    for zeros in (0.0, 0.5, 0.98, 1.0):
        x = np.where(rng.random(300) < zeros, 0.0, rng.normal(size=300))
        x[rng.random(300) < 0.1] = -0.0
        a = rng.normal(size=300)
        positions = linalg.nonzeros(x)
        np.testing.assert_array_equal(positions, np.flatnonzero(x))
        assert linalg.dot_at(a, x, positions) == pytest.approx(a @ x, rel=1e-12, abs=1e-12)


def test_points_across_spare_lps_and_change_no_region(monkeypatch):
    net = random_network(784, [6, 6], 3)
    ours, lp = search(net, Box(0, 1))
    tune(monkeypatch, across_flips=0)
    plain, plain_lp = search(net, Box(0, 1))
    np.testing.assert_array_equal(ours, plain)
    assert lp.solves < 0.8 * plain_lp.solves


def test_the_basis_inverse_through_its_tight_block_is_the_inverse():
    rng = np.random.default_rng(5)
    for _ in range(20):
        k, n = int(rng.integers(1, 23)), 30
        rows = rng.normal(size=(k, n))
        # Some rows keep their logical basic; as many columns as the others.
        logical = rng.random(k) < 0.5
        basic = np.concatenate([
            rng.choice(n, size=int((~logical).sum()), replace=False), n + np.flatnonzero(logical)
        ])
        rng.shuffle(basic)
        B = np.array([
            [rows[r, v] if v < n else (-1.0 if r == v - n else 0.0) for v in basic] for r in range(k)
        ])
        inverse, tight = np.full((k, k), np.nan), np.full(k, -1, np.int64)
        t = _simplex._invert_basis(rows, basic, inverse, tight)
        assert t == (~logical).sum()
        assert set(tight[:t]) == set(np.flatnonzero(~logical))
        # The columns not kept are -e of their logical's slot.
        full = np.zeros((k, k))
        full[:, tight[:t]] = inverse[:, :t]
        for i, v in enumerate(basic):
            if v >= n:
                full[i, v - n] = -1.0
        np.testing.assert_allclose(full, np.linalg.inv(B), atol=1e-9)


def test_the_smallest_ratios_are_those_of_a_full_sort():
    # Ties (ratios from a few values), passed candidates (zero gain, ratio
    # inf) and counts on both sides of the bound's use (4 blocks of 8).
    rng = np.random.default_rng(11)
    kept = _simplex.SMALLEST_KEPT
    for trial in range(300):
        count = int(rng.integers(0, 90))
        ratio = rng.integers(0, 12, count).astype(float) if trial % 2 else rng.exponential(size=count)
        gain = rng.uniform(0.1, 1.0, count)
        passed = rng.random(count) < rng.uniform(0.0, 1.0)
        gain[passed], ratio[passed] = 0.0, np.inf
        smallest, smallest_ratio = np.empty(kept, np.int64), np.empty(kept)
        under = np.empty(count, np.int64)
        found = _simplex._smallest(ratio, gain, np.int64(count), smallest, smallest_ratio, under)
        expected = sorted(np.flatnonzero(~passed), key=lambda c: (ratio[c], c))[:kept]
        assert list(smallest[:found]) == expected
        np.testing.assert_array_equal(smallest_ratio[:found], ratio[expected])
