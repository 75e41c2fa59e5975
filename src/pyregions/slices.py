"""Lines and planes through given points, as domains to count regions in.

A slice is the intersection of the input box with the affine line or plane
through 2 or 3 points.  In slice coordinates t (x = origin + basis @ t, the
basis orthonormal, so distances and the tolerance keep their input units) it
is a convex polygon (or segment) {t : rows @ t >= rhs}, and the network
restricted to it is a network on t, its first layer folded with the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from . import _highs
from ._validation import check_array
from .exceptions import ShapeError, UnsupportedLayerError
from .network import Network

__all__ = ["Slice"]

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
        slack = polygon @ row - bound
        if np.all(slack >= 0.0):
            continue
        kept = []
        for i in range(polygon.shape[0]):
            j = (i + 1) % polygon.shape[0]
            if slack[i] >= 0.0:
                kept.append(polygon[i])
            if (slack[i] >= 0.0) != (slack[j] >= 0.0):
                share = slack[i] / (slack[i] - slack[j])
                kept.append(polygon[i] + share * (polygon[j] - polygon[i]))
        polygon = np.array(kept)
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
    count = rows.shape[0]
    model.addRows(
        count, rhs, np.full(count, inf), count * m, np.arange(0, count * m, m, dtype=np.int32),
        np.tile(np.arange(m, dtype=np.int32), count), np.ascontiguousarray(rows).ravel(),
    )
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
