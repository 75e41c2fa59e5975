"""The paper's mixed-integer formulation of a ReLU or maxout network, and
region enumeration with it (Serra et al. 2018, sections 5 and 7).

For each hidden unit i of layer l, with a = W^l h^{l-1} + b^l:

    a_i = h_i - hbar_i,   0 <= h_i <= M+_i z_i,   0 <= hbar_i <= M-_i (1 - z_i),
    z_i in {0, 1},

with M+ and M- from :func:`pyregions.preactivation_bounds`; stable units
get no binary.  The point x lies in the interior of region z when

    f <= h_i + (1 - z_i) M_i   and   f <= hbar_i + z_i M_i

hold with f > 0 for every unstable unit; the paper maximises f.  Here f has
the lower bound ``tol``, so any feasible solution proves a region: each
distinct z of a feasible solution is one region.

Enumeration
-----------
``search="tree"`` (default) enumerates every region in one branch-and-bound
tree over the binaries, with HiGHS solving each node's LP relaxation (the
constraints above, z in [0, 1], one model hot-started from node to node).
The tree branches on the units in layer order; a node fixes the binaries
of the units before it. It is searched depth first, and a child whose
fixing the parent's LP point already satisfies exactly takes that point and
costs no LP. Every z with f >= tol is found, exactly once:

* the LP at a node relaxes the node's integer solutions, so a node is
  dropped only when its LP is infeasible, that is when no region has the
  node's prefix; there is no objective (a zero cost), hence no incumbent
  and no pruning by bound, which would lose regions;
* a node's children fix its next unit to each of its states, so they
  partition its integer solutions;
* at a leaf every binary is fixed, so its LP is exact: it is feasible if
  and only if its z is a region. The leaf is then recorded, which is the
  paper's no-good cut on that z: the partition removes it from the rest of
  the tree.

HiGHS's own MIP solver cannot run this enumeration in one tree: highspy
1.16 declares ``kCallbackMipDefineLazyConstraints``, but HiGHS's MIP solver
never calls it (it is not in ``mip/``), and no callback can add a row
(``HighsCallbackInput`` carries an interrupt flag and a user solution
only); ``kCallbackMipSolution`` reports each feasible solution but cannot
reject it, and once one is accepted every node whose bound does not beat
it is pruned. ``search="resolve"`` is the enumeration that HiGHS's MIP
solver can do: solve the MILP, stop at its first feasible solution, add the
no-good cut on its z, and re-solve, until the MILP is infeasible: one MILP
solve per region, kept as a check of the tree by a complete MILP solver
(its heuristics, cuts and branching) and as the benchmarks' baseline.

Scale
-----
The model is built on a scaled copy of the network (:func:`_scaled`): the
box mapped to [-1, 1]^n by one factor, each unit's pre-activation divided
by a positive scale, which changes no pattern and keeps HiGHS's numbers
near 1 at any scale: multiplying a unit's incoming weights and bias by
s > 0 and its outgoing weights by 1/s, or scaling the box, leaves the
scaled model as it was (but for rounding), so f > 0 means the same at every
scale (tested for s from 1e-8 to 1e8 and boxes of width 1e-3 and 1e4).
Each first-layer unit then has unit norm, so there
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
region of z is given per unit by the piece with z_p = 1; the tree branches
on such a unit once, one child per candidate piece.

Each activation is added to the model by a function of :data:`ACTIVATIONS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

from . import _highs
from .exceptions import SolverError, UnsupportedLayerError
from .network import Network
from .tightening import PreactivationBounds

__all__ = ["ACTIVATIONS", "FORMULATIONS", "SEARCHES", "MilpEnumeration", "enumerate_regions_milp"]


@dataclass(frozen=True)
class MilpEnumeration:
    """Regions found by the MILP.

    Attributes
    ----------
    patterns : ndarray of shape (regions, n_hidden)
        One activation pattern per region, in the order found: bool for a
        pure ReLU network, else int8 states (0/1 for ReLU, the winning piece
        for maxout).
    complete : bool
        False when the time limit or Ctrl-C stopped the enumeration.
    milp_solves : int
        MILP solves: 1 for the one tree (0 when no unit splits the box), one
        per region plus the last, infeasible one for ``search="resolve"``.
    lp_solves : int
        LP relaxations solved by the one tree (0 for ``"resolve"``, whose
        LPs are HiGHS's).
    nodes : int
        Branch-and-bound nodes: of the one tree, or HiGHS's over all solves.
    """

    patterns: np.ndarray
    complete: bool
    milp_solves: int
    lp_solves: int
    nodes: int


_FEASIBLE = 2  # HiGHS's kSolutionStatusFeasible
# Progress reports from the search, at most this often (seconds).
PROGRESS_INTERVAL = 0.25


class _Stopped(Exception):
    """The time limit came before the enumeration ended."""


@dataclass(frozen=True)
class _Branching:
    """A unit the tree branches on: its binaries' columns, and per state the
    state's code in a pattern and the binaries' values that fix it."""

    unit: int
    columns: np.ndarray
    states: list
    values: np.ndarray  # shape (states, columns)


class _PaperFormulation:
    """Constraints (1)-(6) of the paper on one HiGHS model, built once, with
    the binaries continuous in [0, 1] (the LP relaxation): a search fixes
    them or declares them integer."""

    def __init__(self, network, lower, upper, pre_bounds, tol, seed):
        self.model = model = _highs.new_model(seed)
        model.setOptionValue("mip_feasibility_tolerance", 1e-9)
        model.setOptionValue("primal_feasibility_tolerance", 1e-9)
        # With presolve, HiGHS declared the MILP infeasible while regions of
        # wide margin were left (2 of 68 seeds on a 10-input test network,
        # none of 120 without it); without, it is also about twice as fast,
        # and the tree's LPs start from the previous node's basis.
        model.setOptionValue("presolve", "off")
        layers, pre, lower, upper, self.centre, self.radius = _scaled(network, lower, upper, pre_bounds)
        previous = list(range(lower.shape[0]))
        model.addVars(lower.shape[0], lower, upper)
        # f comes first so that each unit's rows can bound it as they are added.
        self.f = self._add_column(tol / self.radius, highspy.kHighsInf)
        self.branchings: list[_Branching] = []
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
        self.binaries = np.array([c for b in self.branchings for c in b.columns], dtype=np.int32)

    def _add_binaries(self, unit: int, states: list, values: np.ndarray) -> list[int]:
        """Columns in [0, 1] for a unit the tree branches on; ``values[k]``
        fixes them to state ``states[k]``."""
        columns = [self._add_column(0.0, 1.0) for _ in range(values.shape[1])]
        self.branchings.append(_Branching(unit, np.array(columns), states, values))
        return columns

    def restrict(self, rows: np.ndarray, rhs: np.ndarray) -> None:
        """Keep x in {rows @ x >= rhs}, with f bounding the distance to each
        face as to the units' hyperplanes, so regions touching a face only
        at their boundary do not count."""
        columns = np.arange(rows.shape[1])
        norms = np.linalg.norm(rows, axis=1)
        # In the scaled inputs, as unit rows, so that f is a distance here too.
        rhs = (rhs - rows @ self.centre) / (self.radius * norms)
        for row, bound in zip(rows / norms[:, None], rhs):
            _highs.add_rows(self.model, bound, highspy.kHighsInf, columns, row)
            _highs.add_rows(self.model, -highspy.kHighsInf, -bound, [self.f, *columns], np.concatenate([[1.0], -row]))

    def _add_column(self, low, high) -> int:
        self.model.addVar(low, high)
        return self.model.getNumCol() - 1

    def cut_off(self, z: np.ndarray) -> None:
        """No-good cut: sum_{z_i = 1} (1 - z_i) + sum_{z_i = 0} z_i >= 1."""
        _highs.add_rows(self.model, 1.0 - z.sum(), highspy.kHighsInf, self.binaries, np.where(z, -1.0, 1.0))

    def pattern(self, z: np.ndarray) -> np.ndarray:
        """The activation pattern of the binaries' values ``z`` (0 or 1)."""
        pattern = self.stable_pattern.copy()
        start = 0
        for branching in self.branchings:
            values = z[start : start + branching.columns.size]
            state = int(np.flatnonzero((branching.values == values).all(axis=1))[0])
            pattern[branching.unit] = branching.states[state]
            start += branching.columns.size
        return pattern


class _OneTree:
    """All regions in one depth-first branch-and-bound tree over the
    binaries, HiGHS solving the nodes' LPs (see the module docstring)."""

    def __init__(self, form: _PaperFormulation, deadline, progress):
        self.form, self.deadline, self.progress = form, deadline, progress
        self.model = form.model
        # Where each unit's binaries sit in ``form.binaries``.
        sizes = [b.columns.size for b in form.branchings]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.low = np.zeros(form.binaries.size)
        self.high = np.ones(form.binaries.size)
        self.patterns: list[np.ndarray] = []
        self.nodes = self.lp_solves = 0
        self.last_report = time.monotonic()

    def run(self) -> MilpEnumeration:
        branchings = self.form.branchings
        # A node: (depth, state of unit depth - 1, a point of its parent's LP).
        stack: list[tuple[int, int, np.ndarray | None]] = [(0, -1, None)]
        complete = True
        try:
            while stack:
                self._tick()
                depth, state, point = stack.pop()
                self.nodes += 1
                if depth > 0:
                    self._fix(depth - 1, state)
                    if not self._satisfies(point, depth - 1, state):
                        point = None
                if point is None:
                    point = self._solve()
                    if point is None:
                        continue
                if depth == len(branchings):
                    self.patterns.append(self.form.pattern(self.low))
                    continue
                states = range(len(branchings[depth].states))
                # The child the point satisfies last, so that it is taken
                # first, at no LP.
                order = sorted(states, key=lambda k: self._satisfies(point, depth, k))
                stack.extend((depth + 1, k, point) for k in order)
        except (_Stopped, KeyboardInterrupt):
            complete = False
        found = np.array(self.patterns, dtype=self.form.stable_pattern.dtype)
        return MilpEnumeration(
            found.reshape(len(self.patterns), self.form.n_hidden), complete, 1, self.lp_solves, self.nodes
        )

    def _fix(self, index: int, state: int) -> None:
        """Fix unit ``index`` of the tree to ``state``, free those after it."""
        start, stop = self.starts[index], self.starts[index + 1]
        self.low[start:stop] = self.high[start:stop] = self.form.branchings[index].values[state]
        self.low[stop:], self.high[stop:] = 0.0, 1.0

    def _satisfies(self, point: np.ndarray | None, index: int, state: int) -> bool:
        """Whether ``point`` has unit ``index``'s binaries exactly at ``state``."""
        if point is None:
            return False
        branching = self.form.branchings[index]
        return bool(np.array_equal(point[branching.columns], branching.values[state]))

    def _solve(self) -> np.ndarray | None:
        """A point of the current node's LP, or None if it is infeasible."""
        model = self.model
        model.changeColsBounds(self.low.size, self.form.binaries, self.low, self.high)
        model.run()
        self.lp_solves += 1
        status = model.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        if status != highspy.HighsModelStatus.kOptimal:
            msg = (
                f"HiGHS failed on a node LP of the region MILP: {model.modelStatusToString(status)}; "
                "count with method='tree', or retry with another seed"
            )
            raise SolverError(msg)
        return np.asarray(model.getSolution().col_value)

    def _tick(self) -> None:
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            raise _Stopped
        if self.progress is not None and now - self.last_report >= PROGRESS_INTERVAL:
            self.last_report = now
            self.progress(len(self.patterns), self.nodes, self.lp_solves)


class _Resolve:
    """One HiGHS MILP solve per region, each stopped at its first feasible
    solution, whose z is then cut off by a no-good row."""

    def __init__(self, form: _PaperFormulation, deadline, progress):
        self.form, self.deadline, self.progress = form, deadline, progress
        model = self.model = form.model
        model.changeColsIntegrality(
            form.binaries.size, form.binaries,
            np.full(form.binaries.size, highspy.HighsVarType.kInteger),
        )
        model.changeColCost(form.f, 1.0)
        model.changeObjectiveSense(highspy.ObjSense.kMaximize)
        model.setOptionValue("mip_max_improving_sols", 1)
        self.nodes = self.solves = 0

    def run(self) -> MilpEnumeration:
        patterns, complete = [], True
        try:
            while True:
                if self.progress is not None:
                    self.progress(len(patterns), self.nodes, self.solves)
                z = self._next()
                if z is None:
                    break
                patterns.append(self.form.pattern(z))
        except (_Stopped, KeyboardInterrupt):
            complete = False
        found = np.array(patterns, dtype=self.form.stable_pattern.dtype)
        return MilpEnumeration(
            found.reshape(len(patterns), self.form.n_hidden), complete, self.solves, 0, self.nodes
        )

    def _next(self) -> np.ndarray | None:
        """The binaries of a region not yet cut off, cut off now; None when
        none is left."""
        model = self.model
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise _Stopped
            model.setOptionValue("time_limit", max(remaining, 1e-3))
        model.run()
        self.solves += 1
        self.nodes += max(model.getInfo().mip_node_count, 0)
        status = model.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        found = model.getInfo().primal_solution_status == _FEASIBLE
        if status == highspy.HighsModelStatus.kTimeLimit and not found:
            raise _Stopped
        if not found:
            msg = (
                f"HiGHS failed on the region MILP: {model.modelStatusToString(status)}; "
                "count with method='tree', or retry with another seed"
            )
            raise SolverError(msg)
        z = np.asarray(model.getSolution().col_value)[self.form.binaries] > 0.5
        self.form.cut_off(z)
        return z.astype(float)


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
        _highs.add_rows(form.model, layer.bias[i], layer.bias[i], [h, hbar, *previous],
                      np.concatenate([[1.0, -1.0], -layer.weights[i]]))
        if state == 0:
            (z,) = form._add_binaries(offset + i, [True, False], np.array([[1.0], [0.0]]))
            _highs.add_rows(form.model, -inf, 0.0, [h, z], [1.0, -m_plus])
            _highs.add_rows(form.model, -inf, m_minus, [hbar, z], [1.0, m_minus])
            big_m = max(m_plus, m_minus)
            _highs.add_rows(form.model, -inf, big_m, [form.f, h, z], [1.0, -1.0, big_m])
            _highs.add_rows(form.model, -inf, 0.0, [form.f, hbar, z], [1.0, -1.0, -big_m])
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
            _highs.add_rows(form.model, b[p], inf, index, np.concatenate([[1.0], -W[p]]))
        candidates = np.flatnonzero(~never_wins[i])
        if candidates.size == 1:
            p = candidates[0]
            _highs.add_rows(form.model, -inf, b[p], index, np.concatenate([[1.0], -W[p]]))
            form.stable_pattern[offset + i] = p
            columns.append(y)
            continue
        zs = form._add_binaries(offset + i, [int(p) for p in candidates], np.eye(candidates.size))
        _highs.add_rows(form.model, 1.0, 1.0, zs, np.ones(len(zs)))
        for p, z in zip(candidates, zs):
            m = top - low[i, p]
            _highs.add_rows(form.model, -inf, b[p] + m, [*index, z], np.concatenate([[1.0], -W[p], [m]]))
            for q in candidates[candidates != p]:
                big_m = max(top + high[i, q] - 2.0 * low[i, p], 0.0)
                _highs.add_rows(form.model, 
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
#: (network, lower, upper, pre_bounds, tol, seed), its binaries continuous
#: in ``branchings`` (see :class:`_PaperFormulation`).
FORMULATIONS = {"serra2018": _PaperFormulation}

#: The enumerations of a formulation's regions, by name (see the module docstring).
SEARCHES = {"tree": _OneTree, "resolve": _Resolve}


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
    search: str = "tree",
    domain: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
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
    search : {"tree", "resolve"}, default="tree"
        One branch-and-bound tree, or one MILP solve per region (a key of
        :data:`SEARCHES`).
    domain : (rows, rhs), optional
        Count in the polytope {x in box : rows @ x >= rhs} only (a slice).
    progress : callable, optional
        Called with (regions, nodes, solves) so far: about four times a
        second by the tree, counting its LPs; before each MILP solve by
        ``"resolve"``, counting them.

    Returns
    -------
    MilpEnumeration
    """
    if formulation not in FORMULATIONS:
        msg = f"formulation must be one of {sorted(FORMULATIONS)}, got {formulation!r}"
        raise ValueError(msg)
    if search not in SEARCHES:
        msg = f"search must be one of {sorted(SEARCHES)}, got {search!r}"
        raise ValueError(msg)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    form = FORMULATIONS[formulation](network, lower, upper, pre_bounds, tol, seed)
    if domain is not None:
        form.restrict(*domain)
    if not form.branchings:  # no unit splits the box: one region, nothing to solve
        return MilpEnumeration(form.stable_pattern[None, :].copy(), True, 0, 0, 0)
    return SEARCHES[search](form, deadline, progress).run()
