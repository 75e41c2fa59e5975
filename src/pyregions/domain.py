"""Input domains over which regions are counted."""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_positive
from .exceptions import ShapeError

__all__ = ["Box"]


class Box:
    """The axis-aligned box ``{x : lower <= x <= upper}``.

    Parameters
    ----------
    lower, upper : float or array of shape (n_inputs,)
        Finite bounds with ``lower <= upper``. Scalars apply to every input
        and take the network's dimension when the box is used.

    Raises
    ------
    ShapeError
        When a bound is not finite (an unbounded domain cannot be counted),
        the two shapes differ, or ``lower > upper`` somewhere.

    Examples
    --------
    >>> from pyregions import Box
    >>> Box(0, 1).bounds(3)
    (array([0., 0., 0.]), array([1., 1., 1.]))
    """

    def __init__(self, lower, upper):
        lo = check_array(lower, "lower", ndim=(0, 1))
        hi = check_array(upper, "upper", ndim=(0, 1))
        if lo.ndim == 1 and hi.ndim == 1 and lo.shape != hi.shape:
            msg = f"lower and upper must have the same shape, got {lo.shape} and {hi.shape}"
            raise ShapeError(msg)
        bad = np.flatnonzero(np.broadcast_to(lo > hi, np.broadcast_shapes(lo.shape, hi.shape)))
        if bad.size:
            i = int(bad[0])
            where = f" at index {i}" if max(lo.ndim, hi.ndim) else ""
            msg = (
                f"lower must be <= upper, got lower={float(lo.flat[min(i, lo.size - 1)])} > "
                f"upper={float(hi.flat[min(i, hi.size - 1)])}{where}"
            )
            raise ShapeError(msg)
        self.lower = lo
        self.upper = hi

    @classmethod
    def around(cls, x, radius: float, clip=(0.0, 1.0)) -> Box:
        """The L-infinity ball of ``radius`` around ``x``, cut to the box ``clip``.

        Parameters
        ----------
        x : array of shape (n_inputs,)
        radius : float
            Positive.
        clip : (float, float) or None, default=(0.0, 1.0)
            The input domain the ball is cut to (its bounds may be arrays
            of shape (n_inputs,)), or None for no cut.

        Raises
        ------
        ShapeError
            When ``x`` is not a finite vector, or the ball misses ``clip``.
        ValueError
            When ``radius`` is not a positive number.

        Examples
        --------
        >>> from pyregions import Box
        >>> Box.around([0.5, 0.98], 0.05).upper
        array([0.55, 1.  ])
        """
        point = check_array(x, "x", ndim=1)
        radius = check_positive(radius, "radius")
        lower, upper = point - radius, point + radius
        if clip is not None:
            lower = np.maximum(lower, check_array(clip[0], "clip[0]", ndim=(0, 1)))
            upper = np.minimum(upper, check_array(clip[1], "clip[1]", ndim=(0, 1)))
        if np.any(lower > upper):
            msg = f"the ball of radius {radius} around x misses the box clip={clip}"
            raise ShapeError(msg)
        return cls(lower, upper)

    @property
    def dimension(self) -> int | None:
        """Number of inputs, or None for a box given by scalars."""
        if self.lower.ndim == 0 and self.upper.ndim == 0:
            return None
        return (self.lower if self.lower.ndim else self.upper).shape[0]

    def bounds(self, n_inputs: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(lower, upper)`` as float64 arrays of length ``n_inputs``.

        Raises
        ------
        ShapeError
            When the box has another dimension.
        """
        if self.dimension is not None and self.dimension != n_inputs:
            msg = f"the box has dimension {self.dimension} but the network has {n_inputs} inputs"
            raise ShapeError(msg)
        lo = np.ascontiguousarray(np.broadcast_to(self.lower, (n_inputs,)), dtype=np.float64)
        hi = np.ascontiguousarray(np.broadcast_to(self.upper, (n_inputs,)), dtype=np.float64)
        return lo, hi

    def __repr__(self) -> str:
        def show(a):
            return repr(float(a)) if a.ndim == 0 else f"array(shape={a.shape})"

        return f"Box({show(self.lower)}, {show(self.upper)})"
