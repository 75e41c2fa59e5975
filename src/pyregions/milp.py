"""The paper's mixed-integer formulation of a ReLU or maxout network, and
region enumeration with it (Serra et al. 2018, sections 5 and 7).

For each hidden unit i of layer l, with a = W^l h^{l-1} + b^l:

    a_i = h_i - hbar_i,   0 <= h_i <= M+_i z_i,   0 <= hbar_i <= M-_i (1 - z_i),
    z_i in {0, 1},

with M+ and M- from :func:`pyregions.preactivation_bounds`; stable units
get no binary.  The point x lies in the interior of region z when

    f <= h_i + (1 - z_i) M_i   and   f <= hbar_i + z_i M_i

hold with f > 0 for every unstable unit; the paper maximises f.  Here f has
the lower bound ``tol``, so any feasible solution already proves a region
and HiGHS stops at its first one; a no-good cut then removes that z and the
model is re-solved, until it is infeasible.  HiGHS offers no callback that
accepts lazy constraints during one branch and bound, so each region costs
one MILP solve: this is the faithful reference, not the fast method.

The model is built on a scaled copy of the network (:func:`_scaled`): the
box mapped to [-1, 1]^n by one factor, each unit's pre-activation divided
by a positive scale, which changes no pattern and keeps HiGHS's numbers
near 1 at any scale. Each first-layer unit then has unit norm, so there
``tol`` is the input distance of the tree search; for a deeper unit it is
measured in units of its scale, not of its gradient on the region, so in
general position and with a small tolerance both count the same regions.
Units forced by the margin (:meth:`PreactivationBounds.stable_at`) get no
binary, as in the tree search.  A unit whose pre-activation is
constant 0 on a region (its inputs all inactive) makes f <= 0 there, so that
region is lost: the MILP assumes general position, the tree search does not.

A maxout unit with pieces a_p = W_p h^{l-1} + b_p, p < k, and output y gets
one binary z_p per piece that can win in the box (the others, below another
piece everywhere, never win and get none):

    sum_p z_p = 1,   y >= a_p for every p,   y <= a_p + M_p (1 - z_p),
    f <= a_p - a_q + M_pq (1 - z_p)   for candidate pieces q != p,

with M_p = max_r u_r - l_p and M_pq = max_r u_r + u_q - 2 l_p from the
pieces' bounds [l_p, u_p]: when z_r = 1 for r != p, f <= a_r - a_p makes the
last rows slack. A unit with one candidate piece is stable: y = a_p. The
region of z is given per unit by the piece with z_p = 1.

Each activation is added to the model by a function of :data:`ACTIVATIONS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from . import _highs
from .exceptions import SolverError, UnsupportedLayerError
from .network import Network
from .tightening import PreactivationBounds

__all__ = ["ACTIVATIONS", "FORMULATIONS", "MilpEnumeration", "enumerate_regions_milp"]


@dataclass(frozen=True)
class MilpEnumeration:
    """Regions found by the MILP.

    Attributes
    ----------
    patterns : ndarray of shape (regions, n_hidden)
        One activation pattern per region, in the order found: bool for a
        pure ReLU network, else int8 states (0/1 for ReLU, the winning piece
        for maxout).
    solver_calls : int
        MILP solves, the last one (infeasible) included.
    complete : bool
        False when the time limit or Ctrl-C stopped the enumeration.
    """

    patterns: np.ndarray
    solver_calls: int
    complete: bool


_FEASIBLE = 2  # HiGHS's kSolutionStatusFeasible


class _OutOfTime(Exception):
    """The time limit ended a MILP solve before it found or refuted a region."""


class _PaperFormulation:
    """Constraints (1)-(6) of the paper on one HiGHS model, built once."""

    def __init__(self, network, lower, upper, pre_bounds, tol, seed):
        self.model = model = _highs.new_model(seed)
        model.setOptionValue("mip_max_improving_sols", 1)
        model.setOptionValue("mip_feasibility_tolerance", 1e-9)
        model.setOptionValue("primal_feasibility_tolerance", 1e-9)
        # With presolve, HiGHS declared the MILP infeasible while regions of
        # wide margin were left (2 of 68 seeds on a 10-input test network,
        # none of 120 without it); without, it is also about twice as fast.
        model.setOptionValue("presolve", "off")
        layers, pre, lower, upper, self.centre, self.radius = _scaled(network, lower, upper, pre_bounds)
        previous = list(range(lower.shape[0]))
        model.addVars(lower.shape[0], lower, upper)
        # f comes first so that each unit's rows can bound it as they are added.
        self.f = self._add_column(tol / self.radius, highspy.kHighsInf)
        self.binaries: list[int] = []  # column of each z
        self.binary_units: list[int] = []  # the hidden unit of each z
        self.binary_states: list[int] = []  # the unit's state when z = 1
        maxout = network.maxout_rank is not None
        self.stable_pattern = np.zeros(network.n_hidden, dtype=np.int8 if maxout else bool)
        self.stable = np.concatenate(pre_bounds.stable_at(tol))
        offset = 0
        for index, layer in enumerate(layers):
            add_layer = ACTIVATIONS.get(layer.activation)
            if add_layer is None:
                msg = (
                    f"layer {index} ({type(layer).__name__}): no MILP formulation of "
                    f"activation {layer.activation!r}; known: {sorted(ACTIVATIONS)}"
                )
                raise UnsupportedLayerError(msg)
            never_wins = pre_bounds.never_wins[index] if layer.activation == "maxout" else None
            bounds = (*pre[index], never_wins)
            previous = add_layer(self, layer, bounds, previous, offset)
            offset += layer.n_neurons
        self.n_hidden = offset
        model.changeColCost(self.f, 1.0)
        model.changeObjectiveSense(highspy.ObjSense.kMaximize)

    def _add_binary(self, unit: int, state: int) -> int:
        z = self._add_column(0.0, 1.0)
        self.model.changeColIntegrality(z, highspy.HighsVarType.kInteger)
        self.binaries.append(z)
        self.binary_units.append(unit)
        self.binary_states.append(state)
        return z

    def restrict(self, rows: np.ndarray, rhs: np.ndarray) -> None:
        """Keep x in {rows @ x >= rhs}, with f bounding the distance to each
        face as to the units' hyperplanes, so regions touching a face only
        at their boundary do not count."""
        columns = np.arange(rows.shape[1])
        norms = np.linalg.norm(rows, axis=1)
        # In the scaled inputs, as unit rows, so that f is a distance here too.
        rhs = (rhs - rows @ self.centre) / (self.radius * norms)
        for row, bound in zip(rows / norms[:, None], rhs):
            self._add_row(bound, highspy.kHighsInf, columns, row)
            self._add_row(-highspy.kHighsInf, -bound, [self.f, *columns], np.concatenate([[1.0], -row]))

    def _add_column(self, low, high) -> int:
        self.model.addVar(low, high)
        return self.model.getNumCol() - 1

    def _add_row(self, low, high, index, values) -> None:
        index = np.asarray(index, dtype=np.int32)
        self.model.addRow(low, high, index.size, index, np.asarray(values, dtype=float))

    def next_region(self, time_limit: float | None) -> np.ndarray | None:
        """The pattern of a region not yet cut off, or None when none is left.

        Raises :class:`_OutOfTime` when the time limit came before an answer.
        """
        if time_limit is not None:
            self.model.setOptionValue("time_limit", max(time_limit, 1e-3))
        self.model.run()
        status = self.model.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        found = self.model.getInfo().primal_solution_status == _FEASIBLE
        if status == highspy.HighsModelStatus.kTimeLimit and not found:
            raise _OutOfTime
        if not found:
            msg = (
                f"HiGHS failed on the region MILP: {self.model.modelStatusToString(status)}; "
                "count with method='tree', or retry with another seed"
            )
            raise SolverError(msg)
        values = np.asarray(self.model.getSolution().col_value)
        z = values[self.binaries] > 0.5
        self._cut_off(z)
        pattern = self.stable_pattern.copy()
        pattern[np.asarray(self.binary_units)[z]] = np.asarray(self.binary_states)[z]
        return pattern

    def _cut_off(self, z: np.ndarray) -> None:
        """No-good cut: sum_{z_i = 1} (1 - z_i) + sum_{z_i = 0} z_i >= 1."""
        values = np.where(z, -1.0, 1.0)
        self._add_row(1.0 - z.sum(), highspy.kHighsInf, self.binaries, values)


def _relu_bigm(form: _PaperFormulation, layer, bounds, previous, offset) -> list[int]:
    """Add a ReLU layer: a = h - hbar, one binary per unstable unit.

    Returns the columns of the layer's outputs h.
    """
    low, high, _ = bounds
    inf = highspy.kHighsInf
    columns = []
    for i in range(layer.n_neurons):
        m_plus, m_minus = max(high[i], 0.0), max(-low[i], 0.0)
        state = form.stable[offset + i]
        # A stable unit passes a on (active) or 0 (inactive) even where the
        # margin alone made it stable and a has the other sign, as the tree
        # search does: h = a - hbar with hbar = 0, or h = 0.
        if state == 1:
            h, hbar = form._add_column(min(low[i], 0.0), m_plus), form._add_column(0.0, 0.0)
        elif state == -1:
            h, hbar = form._add_column(0.0, 0.0), form._add_column(min(-high[i], 0.0), m_minus)
        else:
            h, hbar = form._add_column(0.0, m_plus), form._add_column(0.0, m_minus)
        form._add_row(layer.bias[i], layer.bias[i], [h, hbar, *previous],
                      np.concatenate([[1.0, -1.0], -layer.weights[i]]))
        if state == 0:
            z = form._add_binary(offset + i, True)
            form._add_row(-inf, 0.0, [h, z], [1.0, -m_plus])
            form._add_row(-inf, m_minus, [hbar, z], [1.0, m_minus])
            big_m = max(m_plus, m_minus)
            form._add_row(-inf, big_m, [form.f, h, z], [1.0, -1.0, big_m])
            form._add_row(-inf, 0.0, [form.f, hbar, z], [1.0, -1.0, -big_m])
        else:
            form.stable_pattern[offset + i] = state == 1
        columns.append(h)
    return columns


def _maxout_bigm(form: _PaperFormulation, layer, bounds, previous, offset) -> list[int]:
    """Add a maxout layer: y = max_p a_p, one binary per piece that can win.

    Returns the columns of the layer's outputs y.
    """
    low, high, never_wins = bounds
    inf = highspy.kHighsInf
    columns = []
    for i in range(layer.n_neurons):
        W, b = layer.weights[i], layer.bias[i]
        top = float(high[i].max())
        y = form._add_column(float(low[i].max()), top)
        index = [y, *previous]
        for p in range(layer.rank):
            form._add_row(b[p], inf, index, np.concatenate([[1.0], -W[p]]))
        candidates = np.flatnonzero(~never_wins[i])
        if candidates.size == 1:
            p = candidates[0]
            form._add_row(-inf, b[p], index, np.concatenate([[1.0], -W[p]]))
            form.stable_pattern[offset + i] = p
            columns.append(y)
            continue
        zs = [form._add_binary(offset + i, int(p)) for p in candidates]
        form._add_row(1.0, 1.0, zs, np.ones(len(zs)))
        for p, z in zip(candidates, zs):
            m = top - low[i, p]
            form._add_row(-inf, b[p] + m, [*index, z], np.concatenate([[1.0], -W[p], [m]]))
            for q in candidates[candidates != p]:
                big_m = max(top + high[i, q] - 2.0 * low[i, p], 0.0)
                form._add_row(
                    -inf, b[p] - b[q] + big_m, [form.f, *previous, z],
                    np.concatenate([[1.0], W[q] - W[p], [big_m]]),
                )
        columns.append(y)
    return columns


def _scaled(network, lower, upper, pre_bounds):
    """The network with each unit's pre-activation divided by a positive scale,
    on the box mapped to ``x' = (x - centre) / radius``.

    A ReLU or maxout unit commutes with a positive factor, so the regions
    and patterns are the same. Each first-layer unit (over ``x'``) gets unit
    norm, so that its margin is a distance (in units of ``radius``) as in the
    tree search; a later unit the norm of its weights on the scaled units
    before it. The MILP then sees numbers near 1 at any scale of weights and
    box, where HiGHS's absolute tolerances make sense.

    Returns ``(layers, [(lower, upper), ...], x_lower, x_upper, centre, radius)``.
    """
    half = (upper - lower) / 2.0
    centre = lower + half
    radius = float(half.max()) if half.max() > 0 else 1.0
    # The previous layer's scales; a fixed input is its centre, 0 in x'.
    columns = np.where(half > 0, radius, 0.0)
    shift = centre
    layers, bounds = [], []
    for layer, low, high in zip(network.layers, pre_bounds.lower, pre_bounds.upper):
        W = layer.weights * columns
        b = layer.bias + layer.weights @ shift
        norms = np.linalg.norm(W, axis=-1)
        scale = norms if norms.ndim == 1 else norms.max(axis=1)
        scale = np.where(scale > 0, scale, 1.0)
        per_row = scale if norms.ndim == 1 else scale[:, None]
        layers.append(type(layer)(W / per_row[..., None], b / per_row))
        bounds.append((low / per_row, high / per_row))
        columns, shift = scale, np.zeros(scale.shape[0])
    return layers, bounds, (lower - centre) / radius, (upper - centre) / radius, centre, radius


#: How each activation enters the MILP, by name: a function
#: ``(formulation, layer, (lower, upper, never_wins), input_columns,
#: first_unit) -> output_columns``. Callers may add or replace entries.
ACTIVATIONS = {"relu": _relu_bigm, "maxout": _maxout_bigm}

#: The MILP formulations available, by name; each builds one HiGHS model from
#: (network, lower, upper, pre_bounds, tol, seed) and yields regions from
#: ``next_region``.
FORMULATIONS = {"serra2018": _PaperFormulation}


def enumerate_regions_milp(
    network: Network,
    lower: np.ndarray,
    upper: np.ndarray,
    pre_bounds: PreactivationBounds,
    *,
    tol: float,
    time_limit: float | None = None,
    seed: int = 0,
    formulation: str = "serra2018",
    domain: tuple[np.ndarray, np.ndarray] | None = None,
) -> MilpEnumeration:
    """Enumerate the regions of ``network`` over the box [lower, upper].

    Parameters
    ----------
    network : Network
    lower, upper : ndarray
        The box, one entry per input.
    pre_bounds : PreactivationBounds
        Big-M constants and stable units, from :func:`preactivation_bounds`.
    tol : float
        The margin, in input units: the lower bound on f (see above).
    time_limit : float, optional
        Seconds for the whole enumeration.
    seed : int
        HiGHS's random seed.
    formulation : str, default="serra2018"
        A key of :data:`FORMULATIONS`.
    domain : (rows, rhs), optional
        Count in the polytope {x in box : rows @ x >= rhs} only (a slice).

    Returns
    -------
    MilpEnumeration
    """
    if formulation not in FORMULATIONS:
        msg = f"formulation must be one of {sorted(FORMULATIONS)}, got {formulation!r}"
        raise ValueError(msg)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    model = FORMULATIONS[formulation](network, lower, upper, pre_bounds, tol, seed)
    if domain is not None:
        model.restrict(*domain)
    if not model.binaries:  # no unit splits the box: one region, nothing to solve
        return MilpEnumeration(model.stable_pattern[None, :].copy(), 0, True)
    patterns, calls, complete = [], 0, True
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            complete = False
            break
        calls += 1
        try:
            pattern = model.next_region(remaining)
        except (_OutOfTime, KeyboardInterrupt):
            complete = False
            break
        if pattern is None:
            break
        patterns.append(pattern)
    found = np.array(patterns, dtype=model.stable_pattern.dtype).reshape(
        len(patterns), model.n_hidden
    )
    return MilpEnumeration(found, calls, complete)
