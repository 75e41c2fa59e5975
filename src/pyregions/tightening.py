"""Pre-activation bounds of every hidden unit over an input box.

These bounds are the big-M constants of the MILP, and they tell which units
are *stable*: active or inactive everywhere in the box, so never a wall of a
region.  ``"interval"`` propagates the box through the layers with interval
arithmetic in the compiled core, rounded outward, so its bounds are rigorous.
``"lp"`` then minimises and maximises each pre-activation of the second and
later layers over the LP relaxation of the layers before it (each unstable
ReLU replaced by its triangle hull), one HiGHS model reused for every unit.
The first layer needs no LP: over a box its interval bounds are exact.

A maxout unit gets bounds per piece, and its output lies in [max of the
pieces' lows, max of their highs]. A piece whose high is below another
piece's low never wins in the box (*stable-piece detection*); a maxout unit
with a single piece that can win is stable. The LP tightening has no
relaxation of maxout units: it stops at the first maxout layer, which, with
every later layer, keeps its interval bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from . import _core, _highs
from .domain import Box
from .exceptions import SolverError
from .network import Network

__all__ = ["PreactivationBounds", "preactivation_bounds"]

#: Widening of every LP bound, relative to max(1, |bound|): HiGHS meets its
#: tolerances only approximately, and a bound that is too tight by a hair
#: would declare a unit stable that is not.
LP_SAFETY = 1e-7

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
        everywhere in the box. Empty for bounds built by hand of a pure ReLU
        network.

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
        maxout = sum((p >= 0).sum() for p in self.stable_pieces if p is not None)
        return int(relu + maxout)

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


def preactivation_bounds(network: Network, box: Box, method: str = "lp") -> PreactivationBounds:
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
        and widened by ``LP_SAFETY`` against solver tolerances. The LPs stop
        at the first maxout layer: it and the layers after it keep their
        interval bounds.

    Returns
    -------
    PreactivationBounds

    Raises
    ------
    ShapeError
        When the box does not match the network.
    ValueError
        For an unknown method.
    SolverError
        When HiGHS fails on one of the tightening LPs.
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
    lows = [low for low, _, _ in interval]
    highs = [high for _, high, _ in interval]
    never_wins = tuple(never for _, _, never in interval)
    if method == "lp" and len(layers) > 1:
        _tighten_with_lp(network, lower, upper, lows, highs)
    for array in lows + highs + [never for never in never_wins if never is not None]:
        array.flags.writeable = False
    return PreactivationBounds(tuple(lows), tuple(highs), method, never_wins)


def _tighten_with_lp(network, lower, upper, lows, highs) -> None:
    """Tighten ``lows``/``highs`` of layers 2..L in place, layer by layer.

    Columns: the inputs, then each layer's post-activations h.  Layer l's
    rows relate h_l to h_{l-1}: h = a for stable active units, h = 0 (fixed
    column) for stable inactive ones, and for the others the triangle
    h >= a, h >= 0, h <= u (a - l) / (u - l).  Only the objective changes
    between the LPs of one layer.  The ReLU layers before the first maxout
    layer are tightened (a maxout unit has no relaxation here).
    """
    model = _highs.new_model()
    model.setOptionValue("presolve", "off")
    inf = highspy.kHighsInf
    n_inputs = lower.shape[0]
    model.addVars(n_inputs, lower, upper)
    previous = np.arange(n_inputs, dtype=np.int32)  # columns of the layer's input
    layers = network.layers
    for index, layer in enumerate(layers[:-1]):
        if layer.activation != "relu" or layers[index + 1].activation != "relu":
            break
        low, high = lows[index], highs[index]
        width = layer.n_neurons
        first = model.getNumCol()
        model.addVars(width, np.zeros(width), np.maximum(high, 0.0))
        columns = np.arange(first, first + width, dtype=np.int32)
        for i in range(width):
            if high[i] <= 0:
                continue  # column fixed at 0 by its upper bound
            # a = W[i] h_prev + b[i]; rows are written as h - slope * (W[i] h_prev) <=> rhs.
            row_index = np.concatenate([[columns[i]], previous]).astype(np.int32)
            if low[i] > 0:
                values = np.concatenate([[1.0], -layer.weights[i]])
                model.addRow(layer.bias[i], layer.bias[i], row_index.size, row_index, values)
                continue
            values = np.concatenate([[1.0], -layer.weights[i]])
            model.addRow(layer.bias[i], inf, row_index.size, row_index, values)
            slope = high[i] / (high[i] - low[i])
            values = np.concatenate([[1.0], -slope * layer.weights[i]])
            model.addRow(-inf, slope * (layer.bias[i] - low[i]), row_index.size, row_index, values)
        previous = columns
        _optimise_layer(model, layers[index + 1], previous, lows[index + 1], highs[index + 1])


def _optimise_layer(model, layer, inputs, low, high) -> None:
    n_cols = model.getNumCol()
    all_columns = np.arange(n_cols, dtype=np.int32)
    for i in range(layer.n_neurons):
        cost = np.zeros(n_cols)
        cost[inputs] = layer.weights[i]
        model.changeColsCost(n_cols, all_columns, cost)
        for sense, bound in ((highspy.ObjSense.kMinimize, low), (highspy.ObjSense.kMaximize, high)):
            model.changeObjectiveSense(sense)
            model.run()
            status = model.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                msg = (
                    "HiGHS failed on a bound-tightening LP: "
                    f"{model.modelStatusToString(status)}"
                )
                raise SolverError(msg)
            value = model.getInfo().objective_function_value + layer.bias[i]
            slack = LP_SAFETY * max(1.0, abs(value))
            if sense == highspy.ObjSense.kMinimize:
                bound[i] = max(bound[i], value - slack)
            else:
                bound[i] = min(bound[i], value + slack)
