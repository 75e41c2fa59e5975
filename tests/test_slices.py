"""Counting in lines and planes through given points."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, ShapeError, UnsupportedLayerError, count_regions
from pyregions.slices import Slice

from .reference import exhaustive_regions, network_on_slice, random_maxout_network, random_network

TOL = 1e-6


def slice_patterns(net, box, points, **kwargs):
    result = count_regions(net, box, through=points, return_patterns=True, **kwargs)
    assert result.complete
    return {tuple(p) for p in result.unpacked_patterns()}


def exhaustive_in_slice(net, box, points):
    """Exhaustive enumeration on the network restricted to the slice, projected here."""
    sliced, lower, upper, domain = network_on_slice(net, points, *box.bounds(net.n_inputs))
    return exhaustive_regions(sliced, lower, upper, TOL, domain=domain)


@pytest.mark.parametrize(("n_inputs", "widths", "seed"), [(3, [4, 3], 0), (5, [3, 3], 1), (784, [3, 3], 2)])
@pytest.mark.parametrize("n_points", [2, 3])
def test_slice_counts_equal_exhaustive_enumeration_in_the_slice(n_inputs, widths, seed, n_points):
    net = random_network(n_inputs, widths, seed)
    box = Box(0, 1) if n_inputs == 784 else Box(-1, 1)
    lower, upper = box.bounds(n_inputs)
    points = np.random.default_rng(seed).uniform(lower, upper, size=(n_points, n_inputs))
    expected = exhaustive_in_slice(net, box, points)
    assert slice_patterns(net, box, points) == expected
    assert slice_patterns(net, box, points, method="milp") == expected


def test_a_plane_through_a_2_input_box_counts_the_whole_box():
    net = random_network(2, [5, 4], 3)
    points = np.array([[-1.0, -1.0], [0.3, -0.2], [-0.5, 0.9]])
    full = count_regions(net, Box(-1, 1), return_patterns=True)
    assert slice_patterns(net, Box(-1, 1), points) == {tuple(p) for p in full.unpacked_patterns()}


def test_a_line_equals_a_dense_sweep():
    net = random_network(3, [5, 4], 4)
    points = np.array([[-1.0, -0.5, 0.2], [0.7, 0.9, -0.4]])
    lower, upper = -np.ones(3), np.ones(3)
    plane = Slice.through(points, lower, upper)
    t = np.linspace(plane.lower[0], plane.upper[0], 400_001)[:, None]
    patterns = net.activation_patterns(plane.points(t))
    pieces = int(np.any(patterns[1:] != patterns[:-1], axis=1).sum()) + 1
    assert len(slice_patterns(net, Box(-1, 1), points)) == pieces


def test_sampled_patterns_of_the_plane_are_counted():
    net = random_network(6, [5, 5], 5)
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, size=(3, 6))
    found = slice_patterns(net, Box(-1, 1), points)
    weights = rng.dirichlet(np.ones(3), size=20_000)  # convex combinations: inside the box
    assert {tuple(p) for p in net.activation_patterns(weights @ points)} <= found


def test_slice_counts_do_not_depend_on_jobs():
    net = random_network(4, [6, 5], 6)
    points = np.random.default_rng(1).uniform(-1, 1, size=(3, 4))
    serial = count_regions(net, Box(-1, 1), through=points, return_patterns=True)
    parallel = count_regions(net, Box(-1, 1), through=points, return_patterns=True, jobs=2)
    np.testing.assert_array_equal(serial.patterns, parallel.patterns)


@pytest.mark.parametrize(
    ("points", "error", "match"),
    [
        (np.zeros((4, 3)), ShapeError, r"^through must hold 2 points \(a line\) or 3 \(a plane\), got 4$"),
        (np.zeros((2, 2)), ShapeError, r"^through must have shape \(\*, 3\), got \(2, 2\)$"),
        (np.zeros((2, 3)), ShapeError, "^the points coincide: they span no line$"),
        (np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2.0]]), ShapeError,
         "^the points are collinear: they span no plane$"),
        (np.array([[5, 5, 5], [6, 5, 5.0]]), ShapeError, "^the line through the points misses the box$"),
        (np.array([[3, 0, 0], [0, 3, 0.0]]), ShapeError, "^the line through the points misses the box$"),
        (np.array([[5, 0, 0], [0, 5, 0], [0, 0, 5.0]]), ShapeError,
         "^the plane through the points misses the box$"),
        (np.array([[0, 0, np.nan], [1, 0, 0.0]]), ShapeError, "^through must be finite"),
    ],
)
def test_bad_points_are_refused(points, error, match):
    with pytest.raises(error, match=match):
        count_regions(random_network(3, [3], 0), Box(-1, 1), through=points)


def test_a_maxout_first_layer_is_refused_for_slices():
    net = random_maxout_network(3, [3], 2, 0)
    with pytest.raises(UnsupportedLayerError, match="ReLU first layer"):
        count_regions(net, Box(-1, 1), through=np.eye(3)[:2])


@pytest.mark.parametrize("n_points", [2, 3])
def test_the_basis_is_orthonormal_and_oriented_along_the_points(n_points):
    points = np.random.default_rng(7).uniform(-1, 1, size=(n_points, 5))
    plane = Slice.through(points, -np.ones(5), np.ones(5))
    assert plane.kind == ("line" if n_points == 2 else "plane")
    np.testing.assert_allclose(plane.basis.T @ plane.basis, np.eye(n_points - 1), atol=1e-12)
    t = plane.coordinates(points)
    np.testing.assert_allclose(plane.points(t), points, atol=1e-12)
    np.testing.assert_array_equal(t[0], 0.0)
    # p1 on the positive first axis, p2 on the positive side of the second.
    assert t[1, 0] > 0 and np.allclose(t[1, 1:], 0.0, atol=1e-12)
    assert n_points == 2 or t[2, 1] > 0


@pytest.mark.parametrize("n_points", [2, 3])
def test_walls_are_the_faces_that_bound_the_slice(n_points):
    rng = np.random.default_rng(7)
    points = rng.uniform(0, 1, size=(n_points, 40))
    plane = Slice.through(points, np.zeros(40), np.ones(40))
    rows, rhs = plane.walls(1e-9)
    assert rows.shape[0] < plane.rows.shape[0]
    t = rng.uniform(plane.lower, plane.upper, size=(20_000, plane.dimension))
    inside = np.all(t @ plane.rows.T >= plane.rhs, axis=1)
    if n_points == 2:
        # The segment is its bounding box.
        assert rows.shape[0] == 0 and inside.all()
    else:
        assert 0 < inside.sum() < t.shape[0]
        assert np.array_equal(np.all(t @ rows.T >= rhs, axis=1), inside)


def test_a_plane_meeting_a_thousand_faces_of_the_box_is_counted():
    # It once ran out of Python's recursion limit: a search frame per wall.
    net = random_network(784, [6, 5], 4)
    points = 0.5 + 0.45 * np.random.default_rng(0).choice([-1, 1], (3, 784))
    plane = Slice.through(points, np.zeros(784), np.ones(784))
    assert plane.walls(1e-9)[0].shape[0] > 1000
    found = slice_patterns(net, Box(0, 1), points)
    assert found == slice_patterns(net, Box(0, 1), points, method="milp")
    weights = np.random.default_rng(1).dirichlet(np.ones(3), size=20_000)
    assert {tuple(p) for p in net.activation_patterns(weights @ points)} <= found
