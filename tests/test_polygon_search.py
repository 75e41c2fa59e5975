"""The polygon search of planes and two-input networks against the compiled
LP search it stands in for, brute force and NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, count_regions, read_patterns
from pyregions._kernels import polygon_search as _polygon_search
from pyregions.counting.polygons import PolygonLayers
from pyregions.counting.problem import TreeProblem
from pyregions.counting.search import TreeSearch
from pyregions.counting.settings import DEFAULT_TOL
from pyregions.network import example_cnn
from pyregions.tightening import preactivation_bounds

from .reference import exhaustive_regions, on_box, pattern_is_region, random_network, rescaled
from .tuning import tune


def by_lps(monkeypatch, count):
    """``count()`` with the polygon search off: the compiled LP search."""
    with monkeypatch.context() as patch:
        tune(patch, polygon_search=False)
        return count()


def assert_same_count(polygons, lps):
    assert polygons.complete and lps.complete
    assert polygons.lp_solves == 0 < lps.lp_solves
    assert (polygons.regions, polygons.thin) == (lps.regions, lps.thin)
    # The same regions, found in the same order.
    np.testing.assert_array_equal(polygons.patterns, lps.patterns)


def patterns_of(result):
    return {tuple(p) for p in result.unpacked_patterns()}


@pytest.mark.parametrize(
    ("widths", "seed"), [([30, 30], 0), ([30, 30], 1), ([100], 2), ([40, 40, 40], 3), ([6, 5], 4)],
)
def test_two_input_networks_have_the_regions_of_the_lp_search_on_boxes_of_any_scale(
    widths, seed, monkeypatch,
):
    # The same hyperplanes on each box (the first layer rescaled to it), and
    # margins in proportion: the same regions, in the box's own units.
    found = []
    for low, high in [(-1.0, 1.0), (0.0, 1e-3), (-1e3, 1e3)]:
        half = (high - low) / 2
        net = on_box(random_network(2, widths, seed), (low + high) / 2, half)

        def count():
            return count_regions(
                net, Box(low, high), tol=1e-6 * half, thin_tol=1e-4 * half, return_patterns=True,
                seed=seed,
            )

        polygons = count()
        assert_same_count(polygons, by_lps(monkeypatch, count))
        found.append((patterns_of(polygons), polygons.thin))
    assert len(found[0][0]) > 5
    assert found[1] == found[0] == found[2]


@pytest.mark.parametrize(("widths", "seed"), [([20, 20], 5), ([12, 12, 8], 6)])
def test_planes_of_784_input_networks_have_the_regions_of_the_lp_search(widths, seed, monkeypatch):
    net = random_network(784, widths, seed)
    points = np.random.default_rng(seed).uniform(0.0, 1.0, size=(3, 784))

    def count():
        return count_regions(net, Box(0, 1), through=points, return_patterns=True, seed=seed)

    polygons = count()
    assert_same_count(polygons, by_lps(monkeypatch, count))
    assert polygons.regions > 20


def test_a_small_plane_of_the_bundled_cnn_has_the_regions_of_the_lp_search(monkeypatch):
    net = example_cnn()
    rng = np.random.default_rng(0)
    centre = rng.uniform(0.3, 0.7, 784)
    points = centre + np.concatenate([np.zeros((1, 784)), 0.005 * rng.normal(size=(2, 784))])

    def count():
        return count_regions(
            net, Box(centre - 0.05, centre + 0.05), through=points, return_patterns=True, seed=0
        )

    polygons = count()
    assert_same_count(polygons, by_lps(monkeypatch, count))
    assert polygons.regions > 100


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_rescaling_a_unit_changes_no_region(s):
    net = random_network(2, [25, 25], 7)
    expected = count_regions(net, Box(-1, 1), return_patterns=True, seed=0)
    rng = np.random.default_rng(7)
    for layer in range(2):
        for unit in rng.choice(25, size=5, replace=False):
            net = rescaled(net, layer, unit, s)
    result = count_regions(net, Box(-1, 1), return_patterns=True, seed=0)
    assert result.complete and result.regions == expected.regions
    assert patterns_of(result) == patterns_of(expected)


def test_thin_regions_are_those_of_the_lp_search(monkeypatch):
    net = random_network(2, [30, 30], 8)

    def count():
        return count_regions(net, Box(-1, 1), thin_tol=3e-3, return_patterns=True, seed=0)

    polygons = count()
    assert_same_count(polygons, by_lps(monkeypatch, count))
    assert 0 < polygons.thin < polygons.regions


def test_a_tiny_network_has_the_regions_of_an_lp_per_pattern():
    net = random_network(2, [5, 4], 9)
    result = count_regions(net, Box(-1, 1), return_patterns=True, seed=0)
    assert patterns_of(result) == exhaustive_regions(net, -np.ones(2), np.ones(2), DEFAULT_TOL)


def test_a_fine_grid_finds_no_region_the_polygon_search_misses():
    net = random_network(2, [40, 40], 10)
    found = patterns_of(count_regions(net, Box(-1, 1), return_patterns=True, seed=0))
    h = np.stack(np.meshgrid(*[np.linspace(-1.0, 1.0, 501)] * 2), axis=-1).reshape(-1, 2)
    scanned = []
    for layer in net.layers:
        a = h @ layer.weights.T + layer.bias
        scanned.append(a > 0.0)
        h = np.maximum(a, 0.0)
    on_grid = set(map(bytes, np.packbits(np.concatenate(scanned, axis=1), axis=1)))
    assert on_grid <= {bytes(np.packbits(p)) for p in found}
    assert len(on_grid) > 0.9 * len(found)
    # And every region found is one, by an LP of its own (a sample).
    sample = sorted(found)[:: max(len(found) // 40, 1)]
    lower, upper = -np.ones(2), np.ones(2)
    assert all(pattern_is_region(net, np.array(p), lower, upper, DEFAULT_TOL) for p in sample)


def test_patterns_written_to_a_file_are_those_kept_in_memory(tmp_path):
    net = random_network(784, [20, 20], 11)
    points = np.random.default_rng(11).uniform(0.0, 1.0, size=(3, 784))
    kept = count_regions(net, Box(0, 1), through=points, return_patterns=True, seed=0)
    path = tmp_path / "plane.bin"
    written = count_regions(net, Box(0, 1), through=points, patterns=path, seed=0)
    assert written.regions == kept.regions > 10
    np.testing.assert_array_equal(read_patterns(path), kept.unpacked_patterns())


STOPPED = random_network(2, [80, 80], 0)  # about 100,000 nodes: three ticks


@pytest.mark.parametrize("stop", ["ctrl-c", "time limit"])
def test_a_polygon_search_stopped_at_a_tick_keeps_what_it_found(stop, clock, report_every_tick):
    reports = []

    def second_report(progress):
        reports.append(progress)
        if len(reports) == 2:
            if stop == "ctrl-c":
                raise KeyboardInterrupt
            clock.expire()

    partial = count_regions(
        STOPPED, Box(-1, 1), progress=second_report, return_patterns=True, time_limit=3600, seed=0
    )
    # The root reports from Python, then the loop every TICK_NODES nodes:
    # a ctrl-c stops it at its first tick, a time limit at its second.
    assert not partial.complete and len(reports) == 2
    assert reports[-1].nodes == _polygon_search.TICK_NODES
    whole = count_regions(STOPPED, Box(-1, 1), return_patterns=True, seed=0)
    assert 0 < reports[-1].regions <= partial.regions < whole.regions
    assert patterns_of(partial) <= patterns_of(whole)


def test_only_a_serial_search_from_the_root_takes_polygons(monkeypatch):
    net = random_network(2, [6, 5], 12)
    lower, upper = -np.ones(2), np.ones(2)
    pre = preactivation_bounds(net, Box(-1, 1), method="lp")
    problem = TreeProblem.build(net, lower, upper, pre, DEFAULT_TOL)
    rng = np.random.default_rng(0)
    assert isinstance(TreeSearch(problem, rng).compiled, PolygonLayers)
    assert not isinstance(TreeSearch(problem, rng, node_budget=100).compiled, PolygonLayers)
    tune(monkeypatch, polygon_search=False)
    assert not isinstance(TreeSearch(problem, rng).compiled, PolygonLayers)


def test_a_checkpointed_count_takes_lps_below_its_subtrees_roots_and_finds_the_same_regions(tmp_path):
    net = random_network(2, [20, 20], 13)
    serial = count_regions(net, Box(-1, 1), return_patterns=True, seed=0)
    cut = count_regions(net, Box(-1, 1), return_patterns=True, seed=0, checkpoint=tmp_path / "c.ckpt")
    assert cut.complete and cut.lp_solves > 0
    assert serial.lp_solves == 0
    np.testing.assert_array_equal(cut.patterns, serial.patterns)


def _polygon_reference(rows, rhs, lower, upper):
    """The vertices of {x in box : rows @ x >= rhs}, by every pair of its
    lines, in angular order, and its area."""
    lines = [*zip(rows, rhs)]
    for j in range(2):
        unit = np.eye(2)[j]
        lines += [(unit, lower[j]), (-unit, -upper[j])]
    a = np.array([row for row, _ in lines])
    b = np.array([bound for _, bound in lines])
    points = []
    for p in range(len(lines)):
        for q in range(p + 1, len(lines)):
            pair = a[[p, q]]
            if abs(np.linalg.det(pair)) > 1e-12:
                x = np.linalg.solve(pair, b[[p, q]])
                if np.all(a @ x >= b - 1e-9):
                    points.append(x)
    if not points:
        return np.empty((0, 2)), 0.0
    points = np.array(points)
    centre = points.mean(axis=0)
    points = points[np.argsort(np.arctan2(*(points - centre).T[::-1]))]
    x, y = points.T
    return points, 0.5 * abs(x @ np.roll(y, -1) - y @ np.roll(x, -1))


@pytest.mark.parametrize("seed", range(20))
def test_a_polygon_clipped_line_by_line_is_the_polygon_of_all_its_lines(seed):
    rng = np.random.default_rng(seed)
    lower, upper = np.array([-1.0, -2.0]), np.array([3.0, 1.0])
    rows = rng.normal(size=(6, 2))
    rows /= np.linalg.norm(rows, axis=1)[:, None]
    rhs = rng.uniform(-1.5, 0.5, size=6)
    polygon = np.array([lower, [upper[0], lower[1]], upper, [lower[0], upper[1]]])
    for row, bound in zip(rows, rhs):
        out = np.empty((2 * max(len(polygon), 1), 2))
        polygon = out[: _polygon_search.clip(polygon, len(polygon), row[0], row[1], bound, out)]
    expected, area = _polygon_reference(rows, rhs, lower, upper)
    assert (len(polygon) == 0) == (area < 1e-12)
    if len(polygon):
        x, y = polygon.T
        assert 0.5 * abs(x @ np.roll(y, -1) - y @ np.roll(x, -1)) == pytest.approx(area, abs=1e-12)
        # Each vertex of the reference is one of the clip's, and each of the clip's on its lines.
        distances = np.linalg.norm(expected[:, None] - polygon[None], axis=2)
        assert np.all(distances.min(axis=1) < 1e-9)
        assert np.all(rows @ polygon.T >= rhs[:, None] - 1e-9)


def test_a_line_through_a_vertex_adds_no_vertex():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    out = np.empty((8, 2))
    # x + y >= 1: the triangle above the diagonal, through two vertices.
    assert _polygon_search.clip(square, 4, 1.0, 1.0, 1.0, out) == 3
    # x + y >= 2 touches the square at one vertex: a point, not empty.
    assert _polygon_search.clip(square, 4, 1.0, 1.0, 2.0, out) == 1
    np.testing.assert_array_equal(out[0], [1.0, 1.0])
    assert _polygon_search.clip(square, 4, 1.0, 1.0, 2.0 + 1e-12, out) == 0
