"""Regions on a plane or line through points: the polygons and their figure."""

from __future__ import annotations

import re

import numpy as np
import pytest

from pyregions import Box, Network, count_regions, plots
from pyregions.cli import main
from pyregions.exceptions import ShapeError, UnsupportedLayerError

from .reference import random_network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def matplotlib():
    return pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")


def split_slice(network, found, tol):
    """Every region of the slice, by splitting it by each unit's line in turn:
    a reference that shares only the geometry with the count's patterns.

    Returns ``(polygons, patterns)``.
    """
    C, d = plots._first_layer(found.slice.network(network))
    pieces = [(found.slice_polygon, [], C, d)]
    for l, layer in enumerate(network.layers):
        split = []
        for polygon, states, C, d in pieces:
            for part, state in split_layer(polygon, C, d, tol):
                nxt = plots._next_layer(network.layers[l + 1], state, C, d) \
                    if l + 1 < len(network.layers) else (None, None)
                split.append((part, [*states, state], *nxt))
        pieces = split
    polygons = [polygon for polygon, *_ in pieces]
    patterns = np.array([np.concatenate(states) for _, states, *_ in pieces], dtype=bool)
    return polygons, patterns.reshape(len(polygons), network.n_hidden)


def split_layer(polygon, C, d, tol):
    """The parts of ``polygon`` on which every unit of one layer keeps its state."""
    done = []
    stack = [(polygon, np.full(len(d), -1, dtype=np.int8))]
    while stack:
        polygon, forced = stack.pop()
        S = polygon @ C.T + d
        # Units already split on keep their side, whatever rounding says.
        straddle = (S.max(axis=0) > 0) & (S.min(axis=0) < 0) & (forced < 0)
        if not straddle.any():
            done.append((polygon, np.where(forced >= 0, forced == 1, S.max(axis=0) > 0)))
            continue
        j = int(np.argmax(straddle))
        for side, sign in ((0, 1.0), (1, -1.0)):
            part = plots._clip(polygon, sign * C[j], -sign * d[j])
            if plots._thickness(part) >= tol:
                state = forced.copy()
                state[j] = side
                stack.append((part, state))
    return done


def areas(found):
    return np.array([plots._area(polygon) for polygon in found.polygons])


def check_regions(net, found):
    """Polygons tile the slice, and each one's pattern is the network's there."""
    total = plots._area(found.slice_polygon)
    assert areas(found).sum() == pytest.approx(total, rel=1e-9)
    assert (areas(found) > 0).all()
    assert len({row.tobytes() for row in found.patterns}) == len(found.polygons)
    centroids = np.array([polygon.mean(axis=0) for polygon in found.polygons])
    assert (net.activation_patterns(found.to_inputs(centroids)) == found.patterns).all()


@pytest.mark.parametrize(
    ("widths", "seed", "points"),
    [
        ([3], 0, [[0, 0], [1, 0], [0, 1]]),
        ([6, 5], 1, [[0, 0], [1, 0], [0, 1]]),
        ([4, 4, 3], 2, [[0.2, 0.1], [-0.5, 0.9], [0.7, -0.4]]),
        ([8, 2], 3, [[5, 5], [6, 5], [5, 7]]),
    ],
)
def test_polygons_of_a_2_input_network_tile_the_box_and_match_the_count(widths, seed, points):
    net = random_network(2, widths, seed)
    box = Box(-1, 1)
    found = plots.slice_regions(net, box, points)
    check_regions(net, found)
    # The plane is the whole input space: the slice is the box.
    assert plots._area(found.slice_polygon) == pytest.approx(4.0, rel=1e-12)
    assert len(found.polygons) == count_regions(net, box).regions


def test_intervals_of_a_1_input_network_tile_the_line_and_match_the_count():
    net = random_network(1, [5, 4], 4)
    box = Box(-1, 1)
    found = plots.slice_regions(net, box, [[0.3], [-0.2]])
    check_regions(net, found)
    lengths = [np.ptp(polygon[:, 0]) for polygon in found.polygons]
    assert sum(lengths) == pytest.approx(2.0, rel=1e-9)
    assert len(found.polygons) == count_regions(net, box).regions


def grid_patterns(net, found, n=200):
    """Patterns of a dense grid of the slice: a subset of the regions, not exact."""
    low, high = found.slice_polygon.min(axis=0), found.slice_polygon.max(axis=0)
    u, v = np.meshgrid(np.linspace(low[0], high[0], n), np.linspace(low[1], high[1], n))
    t = np.column_stack([u.ravel(), v.ravel()])
    x = found.to_inputs(t)
    lower, upper = Box(0, 1).bounds(net.n_inputs)
    x = x[np.all((x >= lower) & (x <= upper), axis=1)]
    return {row.tobytes() for row in net.activation_patterns(x)}


def test_random_784_input_slice_holds_every_sampled_pattern():
    net = random_network(784, [12, 10], 5)
    points = np.random.default_rng(5).random((3, 784))
    found = plots.slice_regions(net, Box(0, 1), points)
    check_regions(net, found)
    assert np.allclose(found.to_inputs(found.coordinates), points)
    sampled = grid_patterns(net, found)
    drawn = {row.tobytes() for row in found.patterns}
    assert sampled <= drawn
    assert len(sampled) >= 0.8 * len(drawn)


@pytest.mark.parametrize("rows", [3, 2])
def test_regions_of_the_count_are_those_of_splitting_the_slice(rows):
    net = random_network(784, [10, 8], 6)
    points = np.random.default_rng(6).random((rows, 784))
    found = plots.slice_regions(net, Box(0, 1), points)
    check_regions(net, found)
    polygons, patterns = split_slice(net, found, 1e-6)
    order = np.lexsort(found.patterns.T)
    assert (patterns[np.lexsort(patterns.T)] == found.patterns[order]).all()
    split_areas = np.array([plots._area(p) for p in polygons])[np.lexsort(patterns.T)]
    assert np.allclose(split_areas, areas(found)[order], rtol=1e-9, atol=1e-12)


def test_png_is_written_for_a_plane_and_a_line(matplotlib, tmp_path):
    net = random_network(784, [6, 6], 8)
    points = np.random.default_rng(8).random((3, 784))
    for name, rows, colour in (("plane", 3, "pattern"), ("function", 3, "function"),
                               ("line", 2, "pattern")):
        path = tmp_path / f"{name}.png"
        assert plots.plot_regions(net, Box(0, 1), points[:rows], path, colour=colour) == path
        assert path.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["function.png", "line.png", "plane.png"]


@pytest.mark.parametrize(
    ("points", "error", "match"),
    [
        (np.zeros((4, 2)), ShapeError, r"^points must hold 2 points \(a line\) or 3 \(a plane\), got 4$"),
        (np.zeros((3, 3)), ShapeError, r"^points must have shape \(\*, 2\), got \(3, 3\)$"),
        ([[0, 0], [1, 1], [2, 2]], ShapeError, "^the points are collinear: they span no plane$"),
        ([[0.5, 0.5], [0.5, 0.5]], ShapeError, "^the points coincide: they span no line$"),
        ([[5, 5], [6, 5]], ShapeError, "^the line through the points misses the box$"),
        ([[0, 0], [1, -1]], ShapeError, "^the line through the points only touches the box$"),
    ],
)
def test_bad_points_are_refused(points, error, match):
    net = random_network(2, [3], 0)
    with pytest.raises(error, match=match):
        plots.slice_regions(net, Box(0, 1), points)


@pytest.mark.parametrize(
    ("points", "match"),
    [
        ([[5, 0, 0], [0, 5, 0], [0, 0, 5]], "^the plane through the points misses the box$"),
        ([[1, 1, 1], [2, 1, 0], [1, 2, 0]], "^the plane through the points only touches the box$"),
    ],
)
def test_planes_off_the_box_are_refused(points, match):
    with pytest.raises(ShapeError, match=match):
        plots.slice_regions(random_network(3, [3], 0), Box(0, 1), points)


def test_maxout_colour_and_tol_are_checked(tmp_path):
    maxout = Network([np.ones((2, 3, 2))], [np.zeros((2, 3))])
    with pytest.raises(UnsupportedLayerError, match="hidden layer 0 is MaxoutLayer"):
        plots.slice_regions(maxout, Box(0, 1), np.eye(3, 2))
    net = random_network(2, [3], 0)
    with pytest.raises(ValueError, match="tol must be a positive number, got 0"):
        plots.slice_regions(net, Box(0, 1), np.eye(3, 2), tol=0)
    with pytest.raises(ValueError, match="colour must be one of pattern, function; got 'hue'"):
        plots.plot_regions(net, Box(0, 1), np.eye(3, 2), tmp_path / "x.png", colour="hue")


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "net.npz"
    random_network(4, [5, 5], 9).save(path)
    return path


def test_cli_plot_writes_the_figure(matplotlib, model, tmp_path, capsys):
    through = tmp_path / "p.npy"
    np.save(through, np.random.default_rng(9).random((3, 4)))
    out = tmp_path / "regions.png"
    assert main(["plot", str(model), "--box", "0:1", "--through", str(through),
                 "--out", str(out), "--colour", "function"]) == 0
    assert capsys.readouterr().out == f"Figure written to {out}\n"
    assert out.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("points", "match"),
    [
        (None, "No such file or directory"),
        (np.zeros((3, 5)), r"p\.npy: expected an array of shape \(3, 4\) for a plane or \(2, 4\)"),
        (np.zeros(4), r"got \(4,\)"),
        (np.array([[0.1] * 4, [0.2] * 4, [0.3] * 4]), "points are collinear"),
    ],
)
def test_cli_plot_errors_are_one_line_and_exit_2(model, tmp_path, capsys, points, match):
    through = tmp_path / "p.npy"
    if points is not None:
        np.save(through, points)
    code = main(["plot", str(model), "--through", str(through), "--out", str(tmp_path / "r.png")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("pyregions: error: ")
    assert re.search(match, err)
    assert not (tmp_path / "r.png").exists()
