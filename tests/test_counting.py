"""Tests of the tree search against exhaustive enumeration and its own variants."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, Network, SolverError, bounds, count_regions
from pyregions._kernels import layer_search as _layer_search
from pyregions.counting.problem import TreeProblem
from pyregions.counting.search import TreeSearch
from pyregions.tightening import preactivation_bounds

from .reference import exhaustive_regions, random_network
from .tuning import tune

TOL = 1e-6


def tree_patterns(net, box, **kwargs):
    result = count_regions(net, box, return_patterns=True, **kwargs)
    assert result.complete
    return result, {tuple(p) for p in result.unpacked_patterns()}


@pytest.mark.parametrize(
    ("n_inputs", "widths", "seed"),
    [
        (1, [3], 0),
        (1, [4, 3], 1),
        (2, [3, 3], 2),
        (2, [2, 2, 2, 2], 3),
        (3, [4, 3], 4),
        (4, [3, 2, 2], 5),
        (10, [5, 4], 6),
        (784, [3, 3], 7),
    ],
)
def test_tree_equals_exhaustive_enumeration(n_inputs, widths, seed):
    net = random_network(n_inputs, widths, seed)
    box = Box(-1, 1) if n_inputs < 784 else Box(0, 1)
    result, found = tree_patterns(net, box, seed=seed)
    lower, upper = box.bounds(n_inputs)
    expected = exhaustive_regions(net, lower, upper, TOL)
    assert found == expected
    assert result.regions == len(expected) <= bounds.serra2018(n_inputs, widths)
    milp = count_regions(net, box, method="milp", return_patterns=True, seed=seed)
    assert {tuple(p) for p in milp.unpacked_patterns()} == expected


@pytest.mark.parametrize("seed", range(6))
def test_samples_patterns_are_all_counted(seed):
    net = random_network(2, [4, 4], seed)
    _, found = tree_patterns(net, Box(-2, 2), seed=seed)
    x = np.random.default_rng(seed).uniform(-2, 2, size=(20_000, 2))
    assert {tuple(p) for p in net.activation_patterns(x)} <= found


def test_shuffled_search_orders_give_the_same_regions():
    net = random_network(3, [4, 4, 3], 11)
    lower, upper = -np.ones(3), np.ones(3)
    pre = preactivation_bounds(net, Box(-1, 1), method="interval")
    rng = np.random.default_rng(0)
    reference = None
    for _ in range(4):
        order = np.concatenate([rng.permutation(np.arange(a, a + w)) for a, w in ((0, 4), (4, 4), (8, 3))])
        problem = TreeProblem.build(net, lower, upper, pre, TOL, order=order)
        patterns, complete = TreeSearch(problem, rng).run()
        assert complete
        found = {tuple(p) for p in patterns}
        assert len(found) == patterns.shape[0]
        reference = found if reference is None else reference
        assert found == reference


@pytest.mark.parametrize("jobs", [2, 4])
def test_parallel_counts_equal_serial(jobs):
    net = random_network(4, [6, 5], 21)
    serial = count_regions(net, Box(-1, 1), return_patterns=True, seed=0)
    parallel = count_regions(net, Box(-1, 1), return_patterns=True, seed=1, jobs=jobs)
    assert parallel.complete and parallel.regions == serial.regions
    np.testing.assert_array_equal(parallel.patterns, serial.patterns)


def test_constant_units_follow_their_sign():
    # Both first-layer units are inactive for x < -1, so the second layer is
    # constant there: +0.5 (active) for unit 0, exactly 0 (inactive) for unit 1.
    net = Network(
        [np.array([[1.0], [0.5]]), np.array([[1.0, 1.0], [-1.0, 1.0]])],
        [np.array([1.0, 0.5]), np.array([0.5, 0.0])],
    )
    result, found = tree_patterns(net, Box(-3, 3))
    expected = exhaustive_regions(net, np.array([-3.0]), np.array([3.0]), TOL)
    assert found == expected
    assert (False, False, True, False) in found


def test_fixed_inputs_count_in_the_box_hull():
    net = random_network(3, [4, 3], 5)
    W0 = net.layers[0].weights
    lower, upper = np.array([-1.0, 0.3, -1.0]), np.array([1.0, 0.3, 1.0])
    reduced = Network(
        [W0[:, [0, 2]], net.layers[1].weights],
        [net.layers[0].bias + 0.3 * W0[:, 1], net.layers[1].bias],
    )
    full = count_regions(net, Box(lower, upper), return_patterns=True)
    flat = count_regions(reduced, Box(-1, 1), return_patterns=True)
    np.testing.assert_array_equal(full.patterns, flat.patterns)
    assert full.regions == len(exhaustive_regions(reduced, -np.ones(2), np.ones(2), TOL))


def test_point_box_has_one_region():
    net = random_network(2, [3], 1)
    result = count_regions(net, Box([0.2, 0.1], [0.2, 0.1]), return_patterns=True)
    assert result.regions == 1
    np.testing.assert_array_equal(
        result.unpacked_patterns()[0], net.activation_patterns([[0.2, 0.1]])[0]
    )


MNIST_SIZED = random_network(784, [8, 8], 3)
MNIST_SIZED_REGIONS = 22_004


@pytest.fixture(scope="module")
def mnist_sized():
    result = count_regions(MNIST_SIZED, Box(0, 1), return_patterns=True, seed=0)
    assert result.complete and result.regions == MNIST_SIZED_REGIONS
    return result


def test_a_time_limit_gives_a_partial_lower_count(mnist_sized, clock, report_every_tick):
    reports = []

    def expire_after_three(progress):
        reports.append(progress)
        if len(reports) == 3:
            clock.expire()

    partial = count_regions(
        MNIST_SIZED, Box(0, 1), time_limit=3600, seed=0, return_patterns=True,
        progress=expire_after_three,
    )
    assert not partial.complete and len(reports) == 3
    assert reports[-1].regions <= partial.regions < MNIST_SIZED_REGIONS
    found = {tuple(p) for p in partial.unpacked_patterns()}
    assert len(found) == partial.regions
    assert found < {tuple(p) for p in mnist_sized.unpacked_patterns()}


def test_progress_is_reported_and_bounded_by_the_result(mnist_sized, report_every_tick):
    seen = []
    result = count_regions(MNIST_SIZED, Box(0, 1), progress=seen.append, seed=0)
    assert result.regions == MNIST_SIZED_REGIONS
    # The compiled loop reports every TICK_NODES nodes, and each region is a node.
    assert len(seen) >= MNIST_SIZED_REGIONS // _layer_search.TICK_NODES
    for name in ("regions", "nodes", "lp_solves", "seconds"):
        values = [getattr(p, name) for p in seen]
        assert values == sorted(values), name
    assert all(p.regions <= p.nodes for p in seen)
    assert 0 < seen[-1].regions <= result.regions
    assert seen[-1].lp_solves <= result.lp_solves and seen[-1].seconds <= result.seconds


def test_patterns_are_kept_only_when_asked():
    net = random_network(2, [4, 3], 0)
    result = count_regions(net, Box(-1, 1))
    assert result.patterns is None
    assert result.regions == len(exhaustive_regions(net, -np.ones(2), np.ones(2), TOL))
    with pytest.raises(ValueError, match="patterns were not kept in memory"):
        result.unpacked_patterns()


def degenerate_networks():
    """Networks off general position, each with the reason it is degenerate."""
    yield "three lines through one point", Network([np.array([[1.0, 0], [0, 1], [1, 1]])], [np.zeros(3)])
    yield "a unit twice", Network([np.array([[1.0, 2], [1, 2], [-1, 0.5]])], [np.array([0.1, 0.1, 0])])
    yield "parallel lines", Network([np.array([[1.0, 0], [2, 0], [0, 1]])], [np.array([0, -0.5, 0.2])])
    yield "a line on a face of the box", Network([np.array([[1.0, 0], [0, 1]])], [np.array([1.0, 0.3])])
    yield "zero weights", Network(
        [np.array([[0.0, 0], [0, 0], [1, -1]]), np.array([[1.0, 1, 0], [0, 0, 0], [0, 0, 1]])],
        [np.array([1.0, 0, 0]), np.array([-0.5, 0, 0])],
    )
    net = random_network(3, [5, 4], 8)
    W0, W1 = net.layers[0].weights.copy(), net.layers[1].weights
    b0 = net.layers[0].bias.copy()
    W0[3], b0[3] = W0[1], b0[1]
    rank_one = np.outer(W1[:, 0], W1[0])
    yield "a repeated unit, then a rank-one layer", Network([W0, rank_one], [b0, net.layers[1].bias])
    # The second layer's first unit is the first layer's, passed on: the same hyperplane twice.
    W1 = np.zeros((2, 2))
    W1[0, 0], W1[1] = 1.0, [0.5, -1.0]
    yield "a unit repeated a layer down", Network(
        [np.array([[1.0, 0.5], [-0.3, 1]]), W1], [np.zeros(2), np.zeros(2)]
    )


# Networks with a unit constantly 0 on some region, which the MILP (like the
# paper's formulation, as the README says) loses.
CONSTANT_ZERO = {"zero weights", "a unit repeated a layer down"}


@pytest.mark.parametrize(
    ("why", "net"), list(degenerate_networks()), ids=lambda x: x if isinstance(x, str) else ""
)
@pytest.mark.parametrize("method", ["tree", "milp"])
def test_degenerate_networks_equal_exhaustive_enumeration(why, net, method):
    box = Box(-1, 1)
    result = count_regions(net, box, method=method, return_patterns=True)
    lower, upper = box.bounds(net.n_inputs)
    expected = exhaustive_regions(net, lower, upper, TOL)
    found = {tuple(p) for p in result.unpacked_patterns()}
    assert result.complete
    if method == "milp" and why in CONSTANT_ZERO:
        assert found < expected
    else:
        assert found == expected


@pytest.mark.parametrize("where", ["compiled", "python"])
def test_an_lp_neither_solver_decides_is_a_solver_error(where, monkeypatch):
    net = random_network(3, [5, 6], 8)
    if where == "python":
        tune(monkeypatch, compiled_search=False)
    tune(monkeypatch, simplex_iteration_limit=0)
    tune(monkeypatch, lp_iteration_limit=0)
    with pytest.raises(SolverError, match="HiGHS could not decide a feasibility LP"):
        count_regions(net, Box(-1, 1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "lp"}, ValueError, "method must be one of"),
        ({"tol": 0.0}, ValueError, "tol must be a positive"),
        ({"tol": float("nan")}, ValueError, "tol must be a positive"),
        ({"jobs": 0}, ValueError, "jobs must be >= 1"),
        ({"jobs": 1.5}, ValueError, "jobs must be an integer"),
        ({"time_limit": -1}, ValueError, "time_limit must be a positive"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    net = random_network(2, [2], 0)
    with pytest.raises(error, match=match):
        count_regions(net, Box(0, 1), **kwargs)


def test_box_of_another_dimension_is_refused():
    net = random_network(2, [2], 0)
    with pytest.raises(ValueError, match="dimension 3 but the network has 2 inputs"):
        count_regions(net, Box(np.zeros(3), np.ones(3)))


def test_wrong_argument_types_are_refused():
    net = random_network(2, [2], 0)
    with pytest.raises(TypeError, match="box must be a pyregions.Box"):
        count_regions(net, (0, 1))
    with pytest.raises(TypeError, match="network must be a pyregions.Network"):
        count_regions("net.npz", Box(0, 1))


def test_a_proof_of_emptiness_holds_wherever_its_rows_are_back_on_the_path():
    net = random_network(3, [2, 3], 0)
    lower, upper = -np.ones(3), np.ones(3)
    problem = TreeProblem.build(net, lower, upper, preactivation_bounds(net, Box(-1, 1)), TOL)
    search = TreeSearch(problem, np.random.default_rng(0))

    def push(unit, state):
        search.pattern[unit] = state
        search._push_row(unit, np.ones(3), 0.0, 1.0, unit)

    def pop(count):
        for _ in range(count):
            search.pop_row()

    def refuted(unit, sign):
        return search.refuted.holds(unit, sign, search.row_ids, search.row_keys)

    # Layer 0 (units 0, 1) on the path, then layer 1 (units 2 to 4) entered.
    push(0, True)
    push(1, False)
    search.layer_rows[1] = 2
    # Unit 4's inactive side is empty given unit 2 active, whatever unit 3.
    search._record_refutation(4, -1.0, [(2, 1)])
    push(2, True)
    push(3, False)
    assert refuted(4, -1.0) and not refuted(4, 1.0)
    pop(2)
    push(2, False)
    assert not refuted(4, -1.0)
    pop(1)
    push(3, True)
    push(2, True)
    assert refuted(4, -1.0)
    # Another state of the earlier layer: another affine map, so no proof.
    pop(3)
    push(1, True)
    search.layer_rows[1] = 2
    push(2, True)
    assert not refuted(4, -1.0)


@pytest.mark.parametrize("way", ["compiled", "python", "cut", "milp"])
def test_thin_regions_are_those_lost_at_thin_tol(way, tmp_path, monkeypatch):
    net = random_network(2, [6, 6, 4], 1)
    box = Box(-4, 4)
    if way == "python":
        tune(monkeypatch, compiled_search=False)
    options = {
        "cut": {"checkpoint": tmp_path / "count.ckpt"}, "milp": {"method": "milp"},
    }.get(way, {})
    result = count_regions(net, box, thin_tol=0.05, seed=0, **options)
    thick = count_regions(net, box, tol=0.05, seed=0)
    assert result.thin > 0 and result.thin_tol == 0.05
    assert result.thin == result.regions - thick.regions


def test_nothing_is_thin_at_the_margin_or_below():
    net = random_network(2, [6, 6, 4], 1)
    for thin_tol in (1e-3, 1e-8, 1e-10):
        assert count_regions(net, Box(-4, 4), tol=1e-3, thin_tol=thin_tol).thin == 0


@pytest.mark.parametrize("thin_tol", [0.0, -1e-6, float("nan")])
def test_thin_tol_must_be_positive(thin_tol):
    with pytest.raises(ValueError, match="thin_tol must be a positive number"):
        count_regions(random_network(2, [3], 0), Box(-1, 1), thin_tol=thin_tol)
