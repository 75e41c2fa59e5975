"""The feasibility LPs of a tree search: the Numba dual simplex first,
HiGHS for what it leaves undecided."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import highspy
import numpy as np

from .. import _highs, _kernels
from .._kernels import simplex as _simplex
from ..exceptions import SolverError
from . import settings

__all__ = ["FeasibilityLP", "HighsFeasibility", "Refutations", "path_holds"]


def path_holds(row_ids: Sequence[int], index: int, row_id: int) -> bool:
    """Whether the path still holds, at ``index``, the row named ``row_id``.

    Row ids are unique along a search and the path is a stack, so when that
    row is still there, so is every row below it: what was built on the first
    ``index + 1`` rows (a basis, coefficients, a proof) is still valid.
    """
    return 0 <= index < len(row_ids) and row_ids[index] == row_id


class FeasibilityLP:
    """The LPs of one search: is ``{x in box : rows @ x >= rhs}`` empty?

    Each LP goes first to the Numba dual simplex of :mod:`pyregions._kernels.simplex`,
    warm-started from the basis of the deepest earlier LP whose rows are all
    still on the path (a parent's optimal basis stays dual feasible when the
    child's rows are appended). Its proofs of emptiness are checked by
    :func:`pyregions._kernels.refutes`. An LP it cannot decide, or whose proof
    fails the check, goes to :class:`HighsFeasibility`.
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray, seed: int, factor: np.ndarray):
        self.lower, self.upper = lower, upper
        self.n = lower.shape[0]
        self.settings = settings.SETTINGS
        self.costs = np.random.default_rng(seed).uniform(1.0, 2.0, self.n)
        # Bases of earlier feasible LPs on the current path, shallowest
        # first: (rows, id of the last row, basis, columns at their upper bound).
        self.bases: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        # Every row of the search combines the first layer's weights
        # (``factor``); the simplex works on these combinations when there
        # are fewer weight rows than path rows. Path rows' coefficients are
        # kept with their ids, like the bases. Rounding in them can only
        # mislead the simplex's pivots, whose answers are checked anyway;
        # ill-conditioned weights would mislead it often, so are not used.
        self.factor = np.ascontiguousarray(factor)
        self.pseudo_inverse = None
        if 0 < self.factor.shape[0] < self.n:
            # One SVD for the condition number and the pseudo-inverse (as
            # np.linalg.pinv computes it): on a CNN it is much of a ball's set-up.
            u, s, vt = np.linalg.svd(self.factor, full_matrices=False)
            if s[0] < self.settings.factor_condition_limit * s[-1]:
                self.pseudo_inverse = vt.T @ ((1.0 / s)[:, None] * u.T)
        self.coefficients = np.empty((0, self.factor.shape[0]))
        self.coefficient_ids: list[int] = []
        self.multipliers: np.ndarray | None = None
        # The basis of the last LP's point, when the simplex found it.
        self.vertex_basis: np.ndarray | None = None
        self.seed = seed
        self.highs: HighsFeasibility | None = None
        self.solves = 0
        self.fallbacks = 0  # LPs handed to HiGHS
        self._point = np.empty(self.n)

    def point_in(self, rows: np.ndarray, rhs: np.ndarray, row_ids: list[int]) -> np.ndarray | None:
        """A point of ``{x in box : rows @ x >= rhs}``, or None if it is empty.

        ``row_ids`` name the rows (unique along the search), so that a basis
        is reused only while the path still holds every row it was built on.
        """
        self.solves += 1
        k = len(row_ids)
        basic, at_upper = self.basis_for(row_ids)
        m = basic.shape[0]
        basic = np.concatenate([basic, np.arange(self.n + m, self.n + k)])
        at_upper = at_upper.copy()
        multipliers = np.empty(k)
        rows = np.ascontiguousarray(rows)
        coefficients, factor = self._factored(rows, row_ids)
        status, _ = _simplex.solve(
            rows, coefficients, factor, rhs, self.lower, self.upper, self.costs, basic,
            at_upper, self._point, multipliers, self.settings.simplex_iteration_limit,
        )
        # Both answers are checked here, apart from the simplex's own
        # arithmetic: the point against the rows, the proof by Farkas.
        tolerance = self.settings.simplex_check_tolerance
        if status == _simplex.FEASIBLE and np.all(rows @ self._point >= rhs - tolerance):
            if k:
                self.bases.append((k, row_ids[-1], basic, at_upper))
            self.multipliers = None
            self.vertex_basis = basic
            return self._point.copy()
        if status == _simplex.EMPTY and _kernels.refutes(rows, rhs, multipliers, self.lower, self.upper):
            self.multipliers = multipliers
            return None
        self.vertex_basis = None
        point, self.multipliers = self.undecided(rows, rhs)
        return point

    def undecided(self, rows: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """HiGHS's answer to an LP the simplex could not decide:
        ``(point, None)``, or ``(None, multipliers)`` when empty."""
        self.fallbacks += 1
        if self.highs is None:
            self.highs = HighsFeasibility(self.lower, self.upper, self.seed)
        return self.highs.point_in(rows, rhs)

    def basis_for(self, row_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The deepest feasible basis whose rows are all still on the path
        (dropping the others), and its columns at their upper bound: the
        slack basis of no rows if there is none."""
        while self.bases:
            m, last_id, basic, at_upper = self.bases[-1]
            if path_holds(row_ids, m - 1, last_id):
                return basic, at_upper
            self.bases.pop()
        return np.empty(0, dtype=np.int64), np.zeros(self.n, dtype=bool)

    def has_basis_for(self, row_ids: list[int]) -> bool:
        """Whether a feasible LP's basis covers every row of the path."""
        return any(m == len(row_ids) and path_holds(row_ids, m - 1, last) for m, last, _, _ in self.bases)

    def farkas_multipliers(self) -> np.ndarray | None:
        """Row multipliers proving the last LP empty, if it was."""
        return self.multipliers

    def _factored(self, rows: np.ndarray, row_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(coefficients, factor)`` with ``rows == coefficients @ factor``:
        through the first layer's weights when they are fewer than the rows,
        else the rows themselves."""
        k = rows.shape[0]
        if self.pseudo_inverse is None or k <= self.factor.shape[0]:
            return np.eye(k), rows
        keep = min(len(self.coefficient_ids), k)
        while keep and not path_holds(row_ids, keep - 1, self.coefficient_ids[keep - 1]):
            keep -= 1
        if keep < k:
            new = rows[keep:] @ self.pseudo_inverse
            self.coefficients = np.concatenate([self.coefficients[:keep], new])
            self.coefficient_ids = self.coefficient_ids[:keep] + list(row_ids[keep:])
        return self.coefficients[:k], self.factor


class HighsFeasibility:
    """One HiGHS model of ``{x in box : rows @ x >= rhs}`` with a zero
    objective, for the LPs the Numba simplex leaves undecided.

    The margin lives in the row bounds, never in a variable, whose cap
    stalls warm starts (docs/design-notes.md).
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray, seed: int):
        self.n = lower.shape[0]
        tuning = settings.SETTINGS
        self.highs = _highs.new_model(seed)
        self.highs.setOptionValue("primal_feasibility_tolerance", tuning.lp_feasibility_tolerance)
        self.highs.setOptionValue("dual_feasibility_tolerance", tuning.lp_feasibility_tolerance)
        self.highs.setOptionValue("simplex_iteration_limit", tuning.lp_iteration_limit)
        empty = np.array([], dtype=np.int32)
        self.highs.addCols(self.n, np.zeros(self.n), lower, upper, 0, empty, empty, np.array([]))
        self._index = np.arange(self.n, dtype=np.int32)

    def point_in(self, rows: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(point, None)`` or, when empty, ``(None, multipliers)`` (None
        when HiGHS gives no ray)."""
        old = self.highs.getNumRow()
        if old:
            self.highs.deleteRows(old, np.arange(old, dtype=np.int32))
        _highs.add_rows(self.highs, rhs, highspy.kHighsInf, self._index, rows)
        if self._run() == highspy.HighsModelStatus.kInfeasible:
            _, has_ray, ray = self.highs.getDualRay()
            return None, (np.abs(np.asarray(ray)) if has_ray else None)
        return np.array(self.highs.getSolution().col_value), None

    def _run(self):
        """Run HiGHS (default presolve and scaling); from a cleared basis if
        the warm start stalls or fails on a degenerate basis."""
        decided = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible)
        self.highs.run()
        status = self.highs.getModelStatus()
        if status not in decided:
            self.highs.clearSolver()
            self.highs.run()
            status = self.highs.getModelStatus()
        if status not in decided:
            msg = f"HiGHS could not decide a feasibility LP: {self.highs.modelStatusToString(status)}"
            raise SolverError(msg)
        return status


class Refutations:
    """Proofs that a unit's side is empty, kept for every later node where
    they still hold.

    Per (unit, side): the row index and id of the last row of the earlier
    layers when the proofs were found, and each proof's keys, the rows of the
    unit's own layer it uses. A proof holds wherever the path holds that row
    and the rows of its keys. The search meets the earlier layers' states one
    after another, so only the proofs under the last are kept, the latest
    ``kept`` of them.
    """

    def __init__(self, kept: int):
        self.kept = kept
        self.by_side: dict[tuple[int, float], tuple[int, int, deque[frozenset]]] = {}

    def record(self, unit: int, sign: float, anchor: int, row_id: int, keys) -> None:
        """Keep a proof of ``unit``'s side ``sign`` under the row ``anchor``
        (named ``row_id``; -1 for none) that uses the rows of ``keys``."""
        record = self.by_side.get((unit, sign))
        if record is None or record[:2] != (anchor, row_id):
            # Proofs under other earlier layers' states never hold again.
            record = self.by_side[unit, sign] = (anchor, row_id, deque(maxlen=self.kept))
        record[2].append(frozenset(keys))

    def holds(self, unit: int, sign: float, row_ids: Sequence[int], row_keys: Sequence[tuple]) -> bool:
        """Whether a proof kept for ``unit``'s side ``sign`` holds on the path."""
        record = self.by_side.get((unit, sign))
        if record is None:
            return False
        anchor, row_id, proofs = record
        if anchor >= 0 and not path_holds(row_ids, anchor, row_id):
            return False
        keys = set(row_keys[anchor + 1 :])
        return any(needed <= keys for needed in proofs)
