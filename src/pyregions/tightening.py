"""Pre-activation bounds of every hidden unit over an input box.

These bounds are the big-M constants of the MILP, and they tell which units
are *stable*: active or inactive everywhere in the box, so never a wall of a
region.  ``"interval"`` propagates the box through the layers with interval
arithmetic in the compiled core, rounded outward, so its bounds are rigorous.
``"lp"`` then minimises and maximises each pre-activation of the second and
later layers over the LP relaxation of the layers before it (each unstable
ReLU replaced by its triangle hull), one HiGHS model reused for every unit.
HiGHS's answer is not trusted: its row multipliers give a bound by weak
duality, evaluated with a bound on its rounding error, so every bound is
rigorous whatever the scale of the weights; where HiGHS decides nothing,
the interval bound stands. The first layer needs no LP: over a box its
interval bounds are exact.

A maxout unit gets bounds per piece, and its output lies in [max of the
pieces' lows, max of their highs]. A piece whose high is below another
piece's low never wins in the box (*stable-piece detection*), nor does a
copy of another piece's weights with a smaller bias, or the same bias and a
higher index (the first piece wins a tie); a maxout unit with a single
piece that can win is stable. The LP tightening has no relaxation of
maxout units: it stops at the first maxout layer, which, with every later
layer, keeps its interval bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from . import _core, _highs
from .domain import Box
from .network import Network

__all__ = ["PreactivationBounds", "preactivation_bounds"]

#: Unit roundoff is EPS / 2; rounding error bounds use EPS.
EPS = np.finfo(float).eps

METHODS = ("interval", "lp")


@dataclass(frozen=True)
class PreactivationBounds:
    """Lower and upper bounds of each hidden unit's pre-activation.

    Attributes
    ----------
    lower, upper : tuple of ndarray
        One float64 array per hidden layer, ``lower[l][i] <= W h + b <=
        upper[l][i]`` for every input in the box; of shape ``(n_l, k)`` for
        a maxout layer, one bound per piece.
    method : str
        ``"interval"`` or ``"lp"``.
    never_wins : tuple of (ndarray or None)
        Per hidden layer: None for a ReLU layer; for a maxout layer a bool
        array of shape ``(n_l, k)``, True for a piece below another piece
        everywhere in the box, or with the same weights as another piece
        and a smaller bias (or the same bias and a higher index). Empty for
        bounds built by hand of a pure ReLU network.
    first_layer_norms : ndarray or None
        For a ReLU first layer, the Euclidean norm of each unit's weights
        over the box's free inputs, for :meth:`stable_at`.

    Examples
    --------
    >>> import numpy as np
    >>> from pyregions import Box, Network, preactivation_bounds
    >>> net = Network([np.array([[1.0, -2.0]])], [np.array([0.5])])
    >>> b = preactivation_bounds(net, Box(0, 1))
    >>> float(b.lower[0][0]) <= -1.5 and float(b.upper[0][0]) >= 1.5
    True
    """

    lower: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]
    method: str
    never_wins: tuple[np.ndarray | None, ...] = ()
    first_layer_norms: np.ndarray | None = None

    @property
    def stably_active(self) -> tuple[np.ndarray, ...]:
        """Per layer, the units positive everywhere in the box (none for maxout)."""
        return tuple(low > 0 if low.ndim == 1 else np.zeros(len(low), bool) for low in self.lower)

    @property
    def stably_inactive(self) -> tuple[np.ndarray, ...]:
        """Per layer, the units at most 0 everywhere in the box (0 is inactive;
        none for maxout)."""
        return tuple(
            high <= 0 if high.ndim == 1 else np.zeros(len(high), bool) for high in self.upper
        )

    def stable_at(self, tol: float) -> tuple[np.ndarray, ...]:
        """Per layer, the state of each unit forced by the margin ``tol``.

        A region counts when it has a point at distance >= ``tol`` from
        every hyperplane that splits it (see :mod:`pyregions.counting`).
        When one side of a first-layer unit's hyperplane holds only points
        of the box within ``tol`` of it (``lower > -tol ||w||``, the
        inactive side; ``upper < tol ||w||``, the active one), that side
        holds no region and the unit is forced to the other: its hyperplane
        meets the box only within ``tol`` of the box's boundary. Were both
        sides thin (the box thinner than 2 ``tol`` across the hyperplane),
        the box's centre decides. Deeper units, whose gradient changes from
        region to region, are stable only by sign: ``lower > 0`` active,
        ``upper <= 0`` inactive (0 is inactive).

        Parameters
        ----------
        tol : float
            The margin, a distance in input units.

        Returns
        -------
        tuple of ndarray of int8
            Per hidden layer, per unit: 1 stably active, -1 stably inactive,
            0 split by the box (always 0 for a maxout layer).
        """
        states = []
        for layer, (low, high) in enumerate(zip(self.lower, self.upper)):
            if low.ndim > 1:
                states.append(np.zeros(len(low), np.int8))
                continue
            margin = np.zeros(low.shape)
            if layer == 0 and self.first_layer_norms is not None:
                # Shrunk by far more than the rounding of the norm: a side
                # exactly tol thick still holds a region.
                margin = tol * self.first_layer_norms * (1.0 - 1e-9)
            thin_inactive = low > -margin
            thin_active = (high < margin) | (high <= 0)
            active = thin_inactive & (~thin_active | (high > -low))
            states.append(np.where(active, 1, np.where(thin_active, -1, 0)).astype(np.int8))
        return tuple(states)

    @property
    def stable_pieces(self) -> tuple[np.ndarray | None, ...]:
        """Per layer: None for ReLU; for maxout, per unit the only piece that
        can win in the box, or -1 when several can."""
        return tuple(
            None if never is None
            else np.where((~never).sum(axis=1) == 1, np.argmin(never, axis=1), -1)
            for never in self.never_wins
        )

    @property
    def n_stable(self) -> int:
        """How many hidden units are stable over the box (ReLU units of one
        sign, maxout units with one piece that can win)."""
        relu = sum(a.sum() + i.sum() for a, i in zip(self.stably_active, self.stably_inactive))
        return int(relu + self._n_stable_maxout())

    def n_stable_at(self, tol: float) -> int:
        """:attr:`n_stable` with the ReLU units forced by the margin ``tol``
        (:meth:`stable_at`)."""
        relu = sum(np.count_nonzero(states) for states in self.stable_at(tol))
        return int(relu + self._n_stable_maxout())

    def _n_stable_maxout(self) -> int:
        return int(sum((p >= 0).sum() for p in self.stable_pieces if p is not None))

    @property
    def big_m(self) -> tuple[np.ndarray, ...]:
        """Per layer, max(|lower|, |upper|): a valid big-M for each unit (each
        piece, for maxout)."""
        return tuple(np.maximum(np.abs(lo), np.abs(hi)) for lo, hi in zip(self.lower, self.upper))


def check_network_and_box(network, box) -> None:
    """Refuse arguments that are not a :class:`Network` and a :class:`Box`."""
    if not isinstance(network, Network):
        msg = f"network must be a pyregions.Network, got {type(network).__name__}"
        raise TypeError(msg)
    if not isinstance(box, Box):
        msg = f"box must be a pyregions.Box, got {type(box).__name__}"
        raise TypeError(msg)


def preactivation_bounds(network: Network, box: Box, *, method: str = "lp") -> PreactivationBounds:
    """Bound every hidden pre-activation of ``network`` over ``box``.

    Parameters
    ----------
    network : Network
    box : Box
        Bounded input domain matching ``network.n_inputs``.
    method : {"lp", "interval"}, default="lp"
        ``"interval"``: interval arithmetic, rigorous (outward rounding) and
        fast.  ``"lp"``: interval bounds tightened by LPs over the triangle
        relaxation of the earlier layers; never looser than ``"interval"``,
        and as rigorous. The LPs stop at the first maxout layer: it and the
        layers after it keep their interval bounds.

    Returns
    -------
    PreactivationBounds

    Raises
    ------
    ShapeError
        When the box does not match the network.
    ValueError
        For an unknown method.
    """
    check_network_and_box(network, box)
    if method not in METHODS:
        msg = f"method must be one of {METHODS}, got {method!r}"
        raise ValueError(msg)
    lower, upper = box.bounds(network.n_inputs)
    layers = network.layers
    interval = _core.interval_bounds(
        [layer.weights for layer in layers], [layer.bias for layer in layers], lower, upper
    )
    free = lower < upper
    first_layer = layers[0]
    norms = None
    if first_layer.activation == "relu":
        norms = np.linalg.norm(first_layer.weights[:, free], axis=1)
        norms.flags.writeable = False
    lows = [low for low, _, _ in interval]
    highs = [high for _, high, _ in interval]
    never_wins = tuple(never for _, _, never in interval)
    for index, (layer, never) in enumerate(zip(layers, never_wins)):
        if never is not None:
            W, b = layer.weights, layer.bias
            if index == 0:
                # As the tree search sees them: fixed inputs folded into the bias.
                W, b = W[..., free], b + W[..., ~free] @ lower[~free]
            never |= _copies_that_lose(W, b)
    if method == "lp" and len(layers) > 1:
        _tighten_with_lp(network, lower, upper, lows, highs)
    for array in lows + highs + [never for never in never_wins if never is not None]:
        array.flags.writeable = False
    return PreactivationBounds(tuple(lows), tuple(highs), method, never_wins, norms)


def _copies_that_lose(weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Per maxout unit and piece, whether another piece has the same weights
    and wins against it everywhere: a larger bias, or the same bias and a
    lower index (``argmax`` takes the first on a tie)."""
    k = bias.shape[1]
    same = np.all(weights[:, :, None, :] == weights[:, None, :, :], axis=-1)
    lower_index = np.arange(k)[:, None] < np.arange(k)[None, :]
    beats = (bias[:, :, None] > bias[:, None, :]) | ((bias[:, :, None] == bias[:, None, :]) & lower_index)
    return np.any(same & beats, axis=1)


def _tighten_with_lp(network, lower, upper, lows, highs) -> None:
    """Tighten ``lows``/``highs`` of layers 2..L in place, layer by layer.

    The ReLU layers before the first maxout layer are tightened (a maxout
    unit has no relaxation here), up to a layer whose interval bounds
    overflowed. Each bound is the larger of the interval
    bound and the LP's certified one, so it stays sound whatever HiGHS does.
    """
    relaxation = _Relaxation(lower, upper)
    layers = network.layers
    for index, layer in enumerate(layers[:-1]):
        following = layers[index + 1]
        finite = np.isfinite(lows[index]).all() and np.isfinite(highs[index]).all()
        if layer.activation != "relu" or following.activation != "relu" or not finite:
            break
        relaxation.add_layer(layer, lows[index], highs[index])
        for i in range(following.n_neurons):
            W, b = following.weights[i], following.bias[i]
            lows[index + 1][i] = max(lows[index + 1][i], relaxation.minimum(W, b))
            highs[index + 1][i] = min(highs[index + 1][i], -relaxation.minimum(-W, -b))


@dataclass(frozen=True)
class _RelaxedLayer:
    """One ReLU layer of the triangle relaxation and the indices of its rows.

    An unstable unit has the rows h >= a (``r1``) and h <= s (a - l)
    (``r2``), a stably active one h = a (``eq``), a stably inactive one the
    column h = 0; -1 where a unit has no such row. ``slope`` (s) is rounded
    up, so the second row holds for every a in [l, u].
    """

    weights: np.ndarray
    bias: np.ndarray
    low: np.ndarray
    top: np.ndarray  # max(u, 0), the bound of h
    slope: np.ndarray
    r1: np.ndarray
    r2: np.ndarray
    eq: np.ndarray


class _Relaxation:
    """The triangle relaxation of the layers added so far, as one HiGHS LP.

    HiGHS sees scaled columns (the box mapped to [-1, 1], each h to [0, 1])
    and rows of largest coefficient 1, so that its numbers stay near 1 at
    any scale of weights and box (it takes 1e20 for infinity); its answer
    only supplies the row multipliers of the bound certified in
    :meth:`minimum`.
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray):
        self.lower, self.upper = lower, upper
        self.model = _highs.new_model()
        self.model.setOptionValue("presolve", "off")
        radius = (upper - lower) / 2.0
        # The last layer's columns in original units: offset + scale * column.
        self.offset, self.scale = lower + radius, radius
        self.columns = np.arange(lower.shape[0], dtype=np.int32)
        free = np.where(radius > 0, 1.0, 0.0)
        self.model.addVars(lower.shape[0], -free, free)
        self.row_scale = np.empty(0)
        self.layers: list[_RelaxedLayer] = []

    def add_layer(self, layer, low: np.ndarray, high: np.ndarray) -> None:
        """Add a ReLU layer's columns and rows, given its pre-activation bounds."""
        width = layer.n_neurons
        first_column = self.model.getNumCol()
        top = np.maximum(high, 0.0)
        self.model.addVars(width, np.zeros(width), np.where(top > 0, 1.0, 0.0))
        columns = np.arange(first_column, first_column + width, dtype=np.int32)
        active = np.flatnonzero(low > 0)
        unstable = np.flatnonzero((low <= 0) & (high > 0))
        slope = np.zeros(width)
        slope[unstable] = high[unstable] / (high[unstable] - low[unstable]) * (1 + 4 * EPS)
        # a in the scaled columns: g @ column + c.
        g = layer.weights * self.scale
        c = layer.bias + layer.weights @ self.offset
        units = np.concatenate([active, unstable, unstable])
        own = np.concatenate([top[active], top[unstable], -top[unstable]])
        times_a = np.concatenate([-np.ones(active.size + unstable.size), slope[unstable]])
        row_low = np.concatenate(
            [c[active], c[unstable], slope[unstable] * (low[unstable] - c[unstable])]
        )
        row_high = np.concatenate([c[active], np.full(2 * unstable.size, highspy.kHighsInf)])
        values = np.column_stack([own, times_a[:, None] * g[units]])
        norm = np.max(np.abs(values), axis=1, initial=0.0)
        norm[norm == 0] = 1.0
        count = units.size
        start = self.model.getNumRow()
        index = np.column_stack([columns[units], np.tile(self.columns, (count, 1))])
        _highs.add_rows(
            self.model, row_low / norm, np.where(np.isinf(row_high), row_high, row_high / norm),
            index, values / norm[:, None],
        )
        self.row_scale = np.concatenate([self.row_scale, norm])
        ids = start + np.arange(count)
        eq, r1, r2 = (np.full(width, -1) for _ in range(3))
        eq[active] = ids[: active.size]
        r1[unstable] = ids[active.size : active.size + unstable.size]
        r2[unstable] = ids[active.size + unstable.size :]
        self.layers.append(_RelaxedLayer(layer.weights, layer.bias, low, top, slope, r1, r2, eq))
        self.columns, self.offset, self.scale = columns, np.zeros(width), top

    def minimum(self, weights: np.ndarray, bias: float) -> float:
        """A certified lower bound of ``weights @ h + bias`` over the
        relaxation, h the last layer added (-inf on overflow)."""
        n = self.model.getNumCol()
        cost = np.zeros(n)
        with np.errstate(over="ignore", invalid="ignore"):
            cost[self.columns] = weights * self.scale
        largest = np.max(np.abs(cost))
        duals = np.zeros(self.row_scale.size)
        if 0 < largest < np.inf and duals.size:
            self.model.changeColsCost(n, np.arange(n, dtype=np.int32), cost / largest)
            self.model.run()
            if self.model.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                # A stalled warm start can succeed from scratch.
                self.model.clearSolver()
                self.model.run()
            solution = self.model.getSolution()
            if solution.dual_valid:
                duals = largest * np.asarray(solution.row_dual) / self.row_scale
        # Overflow makes the bound -inf or nan, and so discarded.
        with np.errstate(over="ignore", invalid="ignore"):
            return _certified_minimum(weights, bias, self.layers, duals, self.lower, self.upper)


def _certified_minimum(weights, bias, layers, duals, lower, upper) -> float:
    """A rigorous lower bound of ``weights @ h_L + bias`` over the relaxation,
    from any row multipliers ``duals`` (weak duality, evaluated with a
    bound on its rounding error; Neumaier and Shcherbina 2004).

    With y >= 0 on the inequality rows, ``f - sum_r y_r g_r`` (each g_r >= 0
    on the relaxation) is affine in the columns, and its minimum over their
    bounds is a lower bound of f. It is computed backwards through the
    layers, as ``theta @ a`` per layer. Each value comes with the sum of the
    magnitudes of its terms, which bounds its rounding error by gamma_K
    times that sum (Higham 2002, section 3.1), K the longest chain of
    operations. Multipliers of the wrong sign are clipped, so HiGHS's
    answer only ever costs tightness, never soundness.

    References
    ----------
    A. Neumaier and O. Shcherbina, "Safe bounds in linear and mixed-integer
    linear programming", Mathematical Programming 99 (2004), 283-296.
    """
    # Row -1, no row, reads the 0 appended.
    duals = np.append(np.where(np.isfinite(duals), duals, 0.0), 0.0)
    c, c_abs = weights, np.abs(weights)
    value, magnitude = float(bias), abs(float(bias))
    chain = 8
    for layer in reversed(layers):
        y1 = np.maximum(duals[layer.r1], 0.0)
        y2 = np.maximum(duals[layer.r2], 0.0)
        y_eq = duals[layer.eq]
        # f - y1 (h - a) - y2 (s (a - l) - h) - y_eq (h - a): theta is the
        # coefficient of a, rho that of h.
        rho = c - y1 + y2 - y_eq
        rho_abs = c_abs + y1 + y2 + np.abs(y_eq)
        theta = y1 - layer.slope * y2 + y_eq
        theta_abs = y1 + layer.slope * y2 + np.abs(y_eq)
        at = np.where(rho >= 0, 0.0, layer.top)
        # A sign of rho wrong by rounding costs at most its error times the range.
        value += rho @ at + (layer.slope * y2) @ layer.low + theta @ layer.bias
        magnitude += (
            rho_abs @ (at + layer.top) + (layer.slope * y2) @ np.abs(layer.low)
            + theta_abs @ np.abs(layer.bias)
        )
        c, c_abs = theta @ layer.weights, theta_abs @ np.abs(layer.weights)
        chain += layer.weights.shape[0] + 8
    at = np.where(c >= 0, lower, upper)
    value += c @ at
    magnitude += c_abs @ (np.abs(at) + upper - lower)
    chain += lower.shape[0] + 8
    gamma = chain * EPS / (1 - chain * EPS)
    # Twice gamma: the error sum is itself rounded; tiny covers underflow.
    bound = value - 2 * gamma * magnitude - chain * np.finfo(float).tiny
    return float(np.nextafter(bound, -np.inf)) if np.isfinite(bound) else -np.inf
