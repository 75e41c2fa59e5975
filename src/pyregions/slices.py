"""Lines and planes through given points, as domains to count regions in.

A slice is the intersection of the input box with the affine line or plane
through 2 or 3 points.  In slice coordinates t (x = origin + basis @ t, the
basis orthonormal, so distances and the tolerance keep their input units) it
is a convex polygon (or segment) {t : rows @ t >= rhs}, and the network
restricted to it is a network on t, its first layer folded with the map.
The regions of a network on a slice, as polygons, are :func:`slice_regions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from . import _highs
from ._affine import layer_map
from ._validation import check_array, check_positive
from .exceptions import ShapeError, UnsupportedLayerError
from .network import Network

__all__ = ["Slice", "SliceRegions", "slice_regions"]

# A coordinate that moves less than this along the slice is taken as fixed.
FLAT = 1e-12


@dataclass(frozen=True)
class Slice:
    """The box cut by the line or plane through some points.

    Attributes
    ----------
    anchors : ndarray, shape (2 or 3, n_inputs)
        The points, checked; the first is the origin.
    basis : ndarray, shape (n_inputs, m)
        Orthonormal directions of the slice (m = 1 for a line, 2 for a plane),
        oriented so that ``anchors[1]`` is on the positive first axis and
        ``anchors[2]`` on the positive side of the second.
    rows, rhs : ndarray
        The box in slice coordinates: ``rows @ t >= rhs``, one row per box face
        that the slice can reach.
    lower, upper : ndarray, shape (m,)
        The bounding box of the slice in slice coordinates.
    """

    anchors: np.ndarray
    basis: np.ndarray
    rows: np.ndarray
    rhs: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def through(
        cls, points, lower: np.ndarray, upper: np.ndarray, *, name: str = "through"
    ) -> Slice:
        """The slice of the box [lower, upper] through 2 or 3 ``points`` (rows).

        Parameters
        ----------
        points : array_like of shape (2 or 3, n_inputs)
            Points that span a line (2) or a plane (3); checked here.
        lower, upper : ndarray of shape (n_inputs,)
            The box.
        name : str, default="through"
            The caller's name for ``points``, used in the messages.

        Raises
        ------
        ShapeError
            When the points are not 2 or 3 finite rows of the box's dimension,
            do not span a line or plane, or it misses the box.
        """
        points = check_array(points, name, ndim=2, shape=(None, lower.shape[0]))
        if points.shape[0] not in (2, 3):
            msg = f"{name} must hold 2 points (a line) or 3 (a plane), got {points.shape[0]}"
            raise ShapeError(msg)
        origin = points[0]
        basis, triangle = np.linalg.qr((points[1:] - origin).T)
        diagonal = np.diag(triangle)
        if np.abs(diagonal).min() <= 1e-9 * max(np.abs(diagonal).max(), 1.0):
            if len(points) == 2:
                msg = "the points coincide: they span no line"
            else:
                msg = "the points are collinear: they span no plane"
            raise ShapeError(msg)
        # Orient each axis along p_i - p0, so that p1 lies on the positive t1 axis.
        basis = basis * np.sign(diagonal)
        moving = np.abs(basis).max(axis=1) > FLAT
        outside = np.any((origin[~moving] < lower[~moving]) | (origin[~moving] > upper[~moving]))
        # lower <= origin + basis t <= upper, for the coordinates that move.
        B = basis[moving]
        rows = np.concatenate([B, -B])
        rhs = np.concatenate([lower[moving] - origin[moving], origin[moving] - upper[moving]])
        box = None if outside else _bounding_box(rows, rhs)
        if box is None:
            msg = f"the {_KINDS[basis.shape[1]]} through the points misses the box"
            raise ShapeError(msg)
        return cls(points, basis, rows, rhs, *box)

    @property
    def origin(self) -> np.ndarray:
        """The first point, at t = 0."""
        return self.anchors[0]

    @property
    def kind(self) -> str:
        """``"line"`` or ``"plane"``."""
        return _KINDS[self.dimension]

    @property
    def dimension(self) -> int:
        """1 for a line, 2 for a plane."""
        return self.basis.shape[1]

    def network(self, network: Network) -> Network:
        """``network`` as a function of the slice coordinates t."""
        first = network.layers[0]
        if first.weights.ndim != 2:
            msg = "counting in a slice needs a ReLU first layer; this one is maxout"
            raise UnsupportedLayerError(msg)
        weights = [first.weights @ self.basis] + [layer.weights for layer in network.layers[1:]]
        biases = [first.bias + first.weights @ self.origin] + [
            layer.bias for layer in network.layers[1:]
        ]
        output = network.output
        return Network(
            weights, biases,
            output_weights=None if output is None else output.weights,
            output_bias=None if output is None else output.bias,
        )

    def walls(self, margin: float) -> tuple[np.ndarray, np.ndarray]:
        """The rows that bound the slice inside its bounding box (the others
        are redundant there), each a search unit of its own.

        A line's bounding box is the segment itself: no row is needed. A
        plane's rows are kept when they cut the bounding box (widened by
        ``margin`` against rounding) and hold an edge of the polygon: an
        image's plane meets hundreds of the box's faces, most of them only
        beyond other faces.
        """
        lowest = (np.where(self.rows > 0, self.lower, self.upper) * self.rows).sum(axis=1)
        cutting = lowest < self.rhs + margin
        if self.dimension == 1:
            cutting[:] = False
        else:
            cutting &= _polygon_edges(self.rows, self.rhs, self.lower, self.upper, margin)
        return self.rows[cutting], self.rhs[cutting]

    def points(self, t: np.ndarray) -> np.ndarray:
        """Input points at slice coordinates ``t`` (rows)."""
        return self.origin + np.atleast_2d(t) @ self.basis.T

    def coordinates(self, x: np.ndarray) -> np.ndarray:
        """Slice coordinates of input points ``x`` (rows) in the slice."""
        return (np.atleast_2d(x) - self.origin) @ self.basis


_KINDS = {1: "line", 2: "plane"}


def _polygon_edges(rows, rhs, lower, upper, margin: float) -> np.ndarray:
    """Which rows of {t : rows @ t >= rhs} hold an edge of that polygon,
    cut from its bounding box [lower, upper] one half-plane at a time."""
    polygon = np.array([lower, [upper[0], lower[1]], upper, [lower[0], upper[1]]])
    for row, bound in zip(rows, rhs):
        polygon = _clip(polygon, -row, -bound)
    # A row holds an edge when two neighbouring corners lie on it, apart;
    # in doubt a row is kept, which is always exact.
    on = np.abs(rows @ polygon.T - rhs[:, None]) <= margin * np.maximum(1.0, np.abs(rhs))[:, None]
    ahead = np.roll(np.arange(polygon.shape[0]), -1)
    apart = np.linalg.norm(polygon[ahead] - polygon, axis=1) > 0.0
    return np.any(on & on[:, ahead] & apart, axis=1)


def _bounding_box(rows: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Range of each coordinate over {t : rows @ t >= rhs}, by 2m LPs; None
    when the set is empty."""
    m = rows.shape[1]
    model = _highs.new_model()
    inf = highspy.kHighsInf
    model.addVars(m, np.full(m, -inf), np.full(m, inf))
    _highs.add_rows(model, rhs, inf, np.arange(m), rows)
    bounds = np.empty((2, m))
    for j in range(m):
        for k, sense in enumerate((highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize)):
            cost = np.zeros(m)
            cost[j] = 1.0
            model.changeColsCost(m, np.arange(m, dtype=np.int32), cost)
            model.changeObjectiveSense(sense)
            model.run()
            if model.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                return None
            bounds[k, j] = model.getInfo().objective_function_value
    return bounds[0], bounds[1]


# Linear regions on a plane or a line through given points.
#
# Plane coordinates are those of :class:`pyregions.slices.Slice`, which checks
# the points and builds the basis: x = p0 + T t with T orthonormal, so
# distances in t are distances in x.  On a region with fixed unit states every
# pre-activation is affine in t, a_l(t) = C_l t + d_l, with
#
#     C_1 = W_1 T,  d_1 = W_1 p0 + b_1   (the first layer of Slice.network),
#     C_l = W_l diag(s_{l-1}) C_{l-1},  d_l = W_l diag(s_{l-1}) d_{l-1} + b_l,
#
# s the 0/1 states; a unit is active (a > 0) on one side of the line a = 0.
# A line through two points is drawn as a strip: t gets a dummy second
# coordinate in [0, 1] that no unit depends on, so its intervals are
# rectangles and one code path serves both.

#: How far a vertex may be outside a halfplane and still count as inside it,
#: relative to the size of the slice; only removes rounding slivers.
_CLIP_EPS = 1e-12

#: How far outside the slice's bounding box its polygon starts, relative to
#: the size of the slice, before the walls of the box cut it.
_PAD = 1e-9

@dataclass(frozen=True, eq=False)
class SliceRegions:
    """The linear regions of a network on a plane or line through points.

    Attributes
    ----------
    polygons : list of arrays of shape (n_vertices, 2)
        One convex polygon per region, counter-clockwise, in plane
        coordinates ``t`` (for a line: ``t`` along it, and a dummy second
        coordinate in [0, 1]).
    patterns : array of bool of shape (n_regions, n_hidden)
        The activation pattern of each region, layer by layer.
    slice : Slice
        The plane (or line) and its coordinates: ``x = origin + basis @ t[:n_dims]``.
    coordinates : array of shape (n_points, 2)
        The given points in plane coordinates.
    slice_polygon : array of shape (n_vertices, 2)
        The plane (or line) intersected with the box.
    """

    polygons: list[np.ndarray]
    patterns: np.ndarray
    slice: Slice
    coordinates: np.ndarray
    slice_polygon: np.ndarray

    @property
    def n_dims(self) -> int:
        """2 for a plane, 1 for a line."""
        return self.slice.dimension

    @property
    def origin(self) -> np.ndarray:
        """``p0``, the first point, of shape (n_inputs,)."""
        return self.slice.origin

    @property
    def basis(self) -> np.ndarray:
        """Orthonormal columns, of shape (n_inputs, n_dims)."""
        return self.slice.basis

    def to_inputs(self, t) -> np.ndarray:
        """Map plane coordinates of shape (n, 2) to inputs of shape (n, n_inputs)."""
        return self.slice.points(np.asarray(t, dtype=np.float64)[:, : self.n_dims])


def slice_regions(network, box, points, *, tol: float = 1e-6) -> SliceRegions:
    """The linear regions of ``network`` on the plane through 3 points, or the
    line through 2, intersected with ``box``, as polygons.

    The regions are those counted by :func:`pyregions.count_regions` with
    ``through=points``; each one's polygon is the slice of the box cut by
    the halfplanes of its activation pattern.

    Parameters
    ----------
    network : Network
        A ReLU network.
    box : Box
    points : array_like of shape (2 or 3, n_inputs)
        Points that span a line (2) or a plane (3); they need not lie in the box.
    tol : float, default=1e-6
        Passed to :func:`pyregions.count_regions`: regions thinner than this
        (in input units) are not counted, hence not drawn.

    Returns
    -------
    SliceRegions

    Raises
    ------
    ShapeError
        If ``points`` has the wrong shape, the points are collinear
        (coincident for a line), or the slice misses or only touches the box.
    UnsupportedLayerError
        If the network has a maxout layer.
    """
    for i, layer in enumerate(network.layers):
        if layer.activation != "relu":
            msg = (f"plotting regions supports ReLU layers only; hidden layer {i} is "
                   f"{type(layer).__name__} ({layer.activation})")
            raise UnsupportedLayerError(msg)
    tol = check_positive(tol, "tol")
    plane = Slice.through(points, *box.bounds(network.n_inputs), name="points")
    polygon = _slice_polygon(plane)
    if _thickness(polygon) < tol:
        msg = f"the {plane.kind} through the points only touches the box"
        raise ShapeError(msg)
    # Imported here: counting sits a layer above slices, which it reads.
    from .counting import count_regions

    found = count_regions(network, box, through=plane.anchors, tol=tol, return_patterns=True)
    polygons, patterns = _clip_patterns(
        plane.network(network), polygon, found.unpacked_patterns(), tol
    )
    coordinates = _on_strip(plane.coordinates(plane.anchors), 0.5)
    return SliceRegions(polygons, patterns, plane, coordinates, polygon)


def _on_strip(t: np.ndarray, dummy: float) -> np.ndarray:
    """Rows of slice coordinates; those of a line get a second coordinate, ``dummy``."""
    t = np.atleast_2d(t)
    return t if t.shape[1] == 2 else np.column_stack([t, np.full(len(t), dummy)])


def _slice_polygon(plane: Slice) -> np.ndarray:
    """The polygon {t : lower <= origin + basis t <= upper} (a strip [a, b] x [0, 1]
    for a line), counter-clockwise."""
    if plane.dimension == 1:
        (u0,), (u1,) = plane.lower, plane.upper
        return np.array([[u0, 0.0], [u1, 0.0], [u1, 1.0], [u0, 1.0]])
    # The sides of the bounding box touch the slice; widened, it leaves every
    # edge to the walls, so that no vertex comes out twice.
    scale = 1.0 + np.abs([plane.lower, plane.upper]).max()
    pad = _PAD * scale
    (u0, v0), (u1, v1) = plane.lower - pad, plane.upper + pad
    polygon = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
    # Walls left out do not reach the bounding box by 2 pad, so not the widened one.
    for row, rhs in zip(*plane.walls(2.0 * pad)):
        polygon = _clip(polygon, -row, -rhs, eps=_CLIP_EPS * scale)
    return polygon


def _clip(polygon: np.ndarray, a: np.ndarray, b: float, *, eps: float = 0.0) -> np.ndarray:
    """The convex polygon cut by the halfplane ``a . t <= b`` (Sutherland-Hodgman)."""
    s = polygon @ a - b
    inside = s <= eps
    if inside.all():
        return polygon
    if not inside.any():
        return polygon[:0]
    kept = []
    m = len(polygon)
    for i in range(m):
        j = (i + 1) % m
        if inside[i]:
            kept.append(polygon[i])
        if inside[i] != inside[j]:
            kept.append(polygon[i] + s[i] / (s[i] - s[j]) * (polygon[j] - polygon[i]))
    return np.array(kept)


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _thickness(polygon: np.ndarray) -> float:
    """Twice the area over the perimeter: the width of a long thin polygon."""
    if len(polygon) < 3:
        return 0.0
    perimeter = np.linalg.norm(polygon - np.roll(polygon, -1, axis=0), axis=1).sum()
    return 2.0 * _area(polygon) / perimeter if perimeter > 0 else 0.0


def _first_layer(sliced):
    """``C_1, d_1`` of the network on the slice, with a zero column for a line's dummy axis."""
    first = sliced.layers[0]
    return _on_strip(first.weights, 0.0), first.bias


def _clip_patterns(sliced, slice_polygon, patterns, tol):
    """The polygon of each pattern: the slice cut by its units' halfplanes.

    ``sliced`` is the network on the slice (:meth:`Slice.network`).  Returns
    ``(polygons, patterns)`` without the patterns thinner than ``tol``.
    """
    polygons, kept = [], []
    first = _first_layer(sliced)
    for pattern in np.asarray(patterns, dtype=bool):
        polygon, start = slice_polygon, 0
        C, d = first
        for l, layer in enumerate(sliced.layers):
            state = pattern[start:start + layer.n_neurons]
            start += layer.n_neurons
            signs = np.where(state, -1.0, 1.0)
            # A unit with no vertex outside its halfplane cuts no part of the
            # polygon either: a CNN's plane has hundreds of units, few cutting.
            cutting = np.any(signs[:, None] * (C @ polygon.T + d[:, None]) > 0.0, axis=1)
            for j in np.flatnonzero(np.any(C != 0.0, axis=1) & cutting):
                polygon = _clip(polygon, signs[j] * C[j], -signs[j] * d[j])
            if l + 1 < len(sliced.layers):
                following = sliced.layers[l + 1]
                C, d, _ = layer_map(following.weights, following.bias, C, d, state)
        if _thickness(polygon) >= tol:
            polygons.append(polygon)
            kept.append(pattern)
    return polygons, np.array(kept, dtype=bool).reshape(len(kept), sliced.n_hidden)
