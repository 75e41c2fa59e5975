"""Regions on a plane or line through points: the polygons and their figure."""

from __future__ import annotations

import importlib
import re
from importlib.resources import files

import numpy as np
import pytest

from pyregions import Box, Network, count_regions, plots
from pyregions.cli import main
from pyregions.exceptions import ShapeError, UnsupportedLayerError

from .reference import random_network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def matplotlib():
    return importlib.import_module("matplotlib")


def area(polygon):
    """Shoelace area."""
    x, y = polygon.T
    return 0.5 * abs(x @ np.roll(y, -1) - y @ np.roll(x, -1))


def inside(polygon, t):
    """Which points ``t`` lie strictly inside the convex ``polygon``."""
    edges = np.roll(polygon, -1, axis=0) - polygon
    offsets = t[:, None, :] - polygon[None]
    cross = edges[None, :, 0] * offsets[..., 1] - edges[None, :, 1] * offsets[..., 0]
    return (cross > 0).all(axis=1) | (cross < 0).all(axis=1)


def check_regions(net, box, found, samples=4000):
    """The polygons tile the slice of the box, and the network's pattern at
    points sampled in each one is the one drawn there."""
    rng = np.random.default_rng(0)
    lower, upper = box.bounds(net.n_inputs)
    assert len({row.tobytes() for row in found.patterns}) == len(found.polygons)
    assert sum(map(area, found.polygons)) == pytest.approx(area(found.slice_polygon), rel=1e-9)
    # Points in each polygon (convex combinations of its vertices) have its pattern.
    for polygon, pattern in zip(found.polygons, found.patterns):
        assert area(polygon) > 0
        t = rng.dirichlet(np.ones(len(polygon)), size=8) @ polygon
        x = found.to_inputs(t)
        assert np.all((x >= lower - 1e-9) & (x <= upper + 1e-9))
        assert (net.activation_patterns(x) == pattern).all()
    # Points of the slice drawn at random fall in exactly one polygon, those
    # outside the box in none.
    low, high = found.slice_polygon.min(axis=0), found.slice_polygon.max(axis=0)
    t = rng.uniform(low, high, size=(samples, 2))
    x = found.to_inputs(t)
    in_box = np.all((x >= lower) & (x <= upper), axis=1)
    hits = np.array([inside(polygon, t) for polygon in found.polygons])
    assert (hits.sum(axis=0) == in_box).all()
    drawn = found.patterns[hits.argmax(axis=0)[in_box]]
    assert (net.activation_patterns(x[in_box]) == drawn).all()


def check_coordinates(found, points):
    """``to_inputs`` maps the plane's coordinates isometrically through the points."""
    np.testing.assert_allclose(found.to_inputs(found.coordinates), points, atol=1e-12)
    t = np.random.default_rng(1).normal(size=(6, 2))
    if found.n_dims == 1:
        t[:, 1] = 0.5  # the strip's dummy coordinate
    x = found.to_inputs(t)
    distances = np.linalg.norm(t[:, None] - t[None], axis=2)
    np.testing.assert_allclose(np.linalg.norm(x[:, None] - x[None], axis=2), distances, atol=1e-12)


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
    check_regions(net, box, found)
    check_coordinates(found, points)
    # The plane is the whole input space: the slice is the box.
    assert area(found.slice_polygon) == pytest.approx(4.0, rel=1e-12)
    assert len(found.polygons) == count_regions(net, box).regions


def test_intervals_of_a_1_input_network_tile_the_line_and_match_the_count():
    net = random_network(1, [5, 4], 4)
    box = Box(-1, 1)
    found = plots.slice_regions(net, box, [[0.3], [-0.2]])
    check_regions(net, box, found)
    check_coordinates(found, [[0.3], [-0.2]])
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
    check_regions(net, Box(0, 1), found)
    check_coordinates(found, points)
    sampled = grid_patterns(net, found)
    drawn = {row.tobytes() for row in found.patterns}
    assert sampled <= drawn
    assert len(sampled) >= 0.8 * len(drawn)


@pytest.mark.parametrize("rows", [3, 2])
def test_regions_drawn_are_those_counted_in_the_slice(rows):
    net = random_network(784, [10, 8], 6)
    points = np.random.default_rng(6).random((rows, 784))
    found = plots.slice_regions(net, Box(0, 1), points)
    check_regions(net, Box(0, 1), found)
    check_coordinates(found, points)
    counted = count_regions(net, Box(0, 1), through=points, tol=1e-6, return_patterns=True)
    assert {row.tobytes() for row in found.patterns} == {
        row.tobytes() for row in counted.unpacked_patterns()
    }


@pytest.fixture
def figures(monkeypatch):
    """The figures written, as they were saved."""
    saved = []
    write = plots._write_atomically

    def recorded(figure, path):
        saved.append(figure)
        return write(figure, path)

    monkeypatch.setattr(plots, "_write_atomically", recorded)
    return saved


def check_figure(figure, path, found, size):
    """One filled polygon per region, the count in the title, and a PNG of
    ``size`` pixels that is not blank."""
    from matplotlib.collections import PolyCollection
    from matplotlib.image import imread

    axes = figure.axes[0]
    (collection,) = [c for c in axes.collections if isinstance(c, PolyCollection)]
    drawn = [path.vertices for path in collection.get_paths()]
    assert len(drawn) == len(found.polygons)
    for vertices, polygon in zip(drawn, found.polygons):
        np.testing.assert_allclose(vertices[: len(polygon)], polygon)
    assert axes.get_title().startswith(f"{len(found.polygons)} linear regions on the {found.slice.kind}")
    image = imread(path)
    assert path.read_bytes().startswith(PNG_MAGIC) and image.shape[:2] == size
    assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > len(found.polygons)


def test_png_is_written_for_a_plane_and_a_line(matplotlib, tmp_path, figures):
    net = random_network(784, [6, 6], 8)
    points = np.random.default_rng(8).random((3, 784))
    for name, rows, colour, size in (("plane", 3, "pattern", (720, 840)),
                                     ("function", 3, "function", (720, 840)),
                                     ("line", 2, "pattern", (312, 1080))):
        path = tmp_path / f"{name}.png"
        assert plots.plot_regions(net, Box(0, 1), points[:rows], path, colour=colour) == path
        check_figure(figures[-1], path, plots.slice_regions(net, Box(0, 1), points[:rows]), size)
    faces = [figure.axes[0].collections[0].get_facecolors() for figure in figures[:2]]
    assert faces[0].shape == faces[1].shape and not np.allclose(faces[0], faces[1])
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


def test_cli_plot_writes_the_figure(matplotlib, model, tmp_path, capsys, figures):
    points = np.random.default_rng(9).random((3, 4))
    np.save(tmp_path / "p.npy", points)
    out = tmp_path / "regions.png"
    assert main(["plot", str(model), "--box", "0:1", "--through", str(tmp_path / "p.npy"),
                 "--out", str(out), "--colour", "function"]) == 0
    assert capsys.readouterr().out == f"Figure written to {out}\n"
    net = Network.load(model)
    check_figure(figures[-1], out, plots.slice_regions(net, Box(0, 1), points), (720, 840))


def test_cli_plot_of_a_line_in_a_box_file(matplotlib, model, tmp_path, capsys, figures):
    points = np.array([[-0.5, 0.1, 0.2, 0.9], [1.5, 0.3, 0.1, -0.2]])
    np.save(tmp_path / "p.npy", points)
    box = Box([-1, 0, 0, -0.5], [2, 0.5, 0.5, 1])
    np.save(tmp_path / "box.npy", np.array(box.bounds(4)))
    out = tmp_path / "line.png"
    assert main(["plot", str(model), "--box-file", str(tmp_path / "box.npy"), "--through",
                 str(tmp_path / "p.npy"), "--out", str(out), "--tol", "1e-4"]) == 0
    found = plots.slice_regions(Network.load(model), box, points, tol=1e-4)
    check_regions(Network.load(model), box, found)
    check_figure(figures[-1], out, found, (312, 1080))


def test_cli_plot_without_a_model_draws_the_bundled_example(matplotlib, tmp_path, capsys, figures):
    points = np.random.default_rng(10).random((3, 784))
    np.save(tmp_path / "p.npy", points)
    out = tmp_path / "bundled.png"
    assert main(["plot", "--through", str(tmp_path / "p.npy"), "--out", str(out)]) == 0
    bundled = Network.load(files("pyregions") / "data" / "mnist_784_8_8.npz")
    check_figure(figures[-1], out, plots.slice_regions(bundled, Box(0, 1), points), (720, 840))


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
