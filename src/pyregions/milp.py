"""The paper's mixed-integer formulation of a ReLU network, and region
enumeration with it (Serra et al. 2018, section 5).

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

Note that ``tol`` is measured here in pre-activation units, not as an input
distance as in the tree search; in general position and with a small
tolerance both count the same regions.  A unit whose pre-activation is
constant 0 on a region (its inputs all inactive) makes f <= 0 there, so that
region is lost: the MILP assumes general position, the tree search does not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from . import _highs
from .exceptions import SolverError
from .network import Network
from .tightening import PreactivationBounds

__all__ = ["FORMULATIONS", "MilpEnumeration", "enumerate_regions_milp"]


@dataclass(frozen=True)
class MilpEnumeration:
    """Regions found by the MILP.

    Attributes
    ----------
    patterns : ndarray of bool, shape (regions, n_hidden)
        One activation pattern per region, in the order found.
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
        inf = highspy.kHighsInf
        previous = list(range(lower.shape[0]))
        model.addVars(lower.shape[0], lower, upper)
        self.binaries: list[int] = []  # column of z per unstable unit
        self.unstable: list[int] = []  # global index of each unstable unit
        self.stable_active = np.concatenate(pre_bounds.stably_active)
        walls: list[tuple[int, int, int, float]] = []  # (h, hbar, z, M) per unstable unit
        offset = 0
        for layer, low, high in zip(network.layers, pre_bounds.lower, pre_bounds.upper):
            columns = []
            for i in range(layer.n_neurons):
                m_plus, m_minus = max(high[i], 0.0), max(-low[i], 0.0)
                h = self._add_column(0.0, m_plus)
                hbar = self._add_column(0.0, m_minus)
                index = np.array([h, hbar, *previous], dtype=np.int32)
                values = np.concatenate([[1.0, -1.0], -layer.weights[i]])
                model.addRow(layer.bias[i], layer.bias[i], index.size, index, values)
                if low[i] < 0 < high[i]:
                    z = self._add_column(0.0, 1.0)
                    model.changeColIntegrality(z, highspy.HighsVarType.kInteger)
                    self._add_row(-inf, 0.0, [h, z], [1.0, -m_plus])
                    self._add_row(-inf, m_minus, [hbar, z], [1.0, m_minus])
                    walls.append((h, hbar, z, max(m_plus, m_minus)))
                    self.binaries.append(z)
                    self.unstable.append(offset + i)
                columns.append(h)
            previous = columns
            offset += layer.n_neurons
        self.n_hidden = offset
        f = self._add_column(tol, inf)
        for h, hbar, z, big_m in walls:
            self._add_row(-inf, big_m, [f, h, z], [1.0, -1.0, big_m])
            self._add_row(-inf, 0.0, [f, hbar, z], [1.0, -1.0, -big_m])
        model.changeColCost(f, 1.0)
        model.changeObjectiveSense(highspy.ObjSense.kMaximize)

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
            msg = f"HiGHS failed on the region MILP: {self.model.modelStatusToString(status)}"
            raise SolverError(msg)
        values = np.asarray(self.model.getSolution().col_value)
        z = values[self.binaries] > 0.5
        self._cut_off(z)
        pattern = self.stable_active.copy()
        pattern[self.unstable] = z
        return pattern

    def _cut_off(self, z: np.ndarray) -> None:
        """No-good cut: sum_{z_i = 1} (1 - z_i) + sum_{z_i = 0} z_i >= 1."""
        values = np.where(z, -1.0, 1.0)
        self._add_row(1.0 - z.sum(), highspy.kHighsInf, self.binaries, values)


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
        The lower bound on f, in pre-activation units.
    time_limit : float, optional
        Seconds for the whole enumeration.
    seed : int
        HiGHS's random seed.
    formulation : str, default="serra2018"
        A key of :data:`FORMULATIONS`.

    Returns
    -------
    MilpEnumeration
    """
    if formulation not in FORMULATIONS:
        msg = f"formulation must be one of {sorted(FORMULATIONS)}, got {formulation!r}"
        raise ValueError(msg)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    model = FORMULATIONS[formulation](network, lower, upper, pre_bounds, tol, seed)
    if not model.binaries:  # no unit splits the box: one region, nothing to solve
        return MilpEnumeration(model.stable_active[None, :].copy(), 0, True)
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
    found = np.array(patterns, dtype=bool).reshape(len(patterns), model.n_hidden)
    return MilpEnumeration(found, calls, complete)
