"""Feasible bases kept to warm-start the LPs of the compiled search, and
the LP of a node on its path.

A basis's duals live on its tight rows alone, so it is dual feasible for
any LP that holds them: a node's LP starts from the latest kept basis whose
tight rows are all on the path, usually the nearest. A row's key names its
unit, its side and its layer's region (see
:mod:`pyregions._kernels.layer_search`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, objmode

from .callbacks import LP_EMPTY, LP_FEASIBLE, decide_in_python
from .linalg import dot_at, nonzeros, refutes
from .simplex import EMPTY, FEASIBLE, solve

# Feasible bases kept to warm-start LPs from (the latest whose tight rows
# are all on the path is taken).
RECENT_BASES = 16


@njit(cache=True)
def keep_basis(slot, basic, at_upper, row_key, n, kept):
    """Keep a feasible basis in ``slot`` of ``kept`` (a KeptBases): its basic
    columns, its tight rows (those whose logical is not basic) and their
    keys, its columns at their upper bound."""
    columns, tight, keys, sizes, uppers, _ = kept
    k = basic.shape[0]
    tight[slot] = False
    tight[slot, :k] = True
    size = 0
    for i in range(k):
        if basic[i] < n:
            columns[slot, size] = basic[i]
            size += 1
        else:
            tight[slot, basic[i] - n] = False
    keys[slot] = -1
    for r in range(k):
        if tight[slot, r]:
            keys[slot, r] = row_key[r]
    sizes[slot] = size
    for j in range(at_upper.shape[0]):
        uppers[slot, j] = at_upper[j]


@njit(cache=True)
def on_path(keys, slot, row_key, k):
    """Whether every tight row of the basis kept in ``slot`` is on the path."""
    for r in range(keys.shape[1]):
        key = keys[slot, r]
        if key >= 0 and (r >= k or row_key[r] != key):
            return False
    return True


@njit(cache=True)
def solve_lp(path, rhs, k, depth, network, limits, row_key, kept, lp):
    """The LP of the first ``k`` rows of the path (with right-hand sides
    ``rhs``), made at ``depth``, warm-started from the latest kept basis
    whose tight rows are all on the path, else from the deepest such basis
    of an LP made on the path, else from the head's (slot 0, always on the
    path). A feasible basis is kept in the next slot of the ring (slots 1
    to RECENT_BASES) and in its depth's slot after it. Its point and
    multipliers go to ``lp`` (a NodeLP). Returns the status and the final
    basis (empty unless the simplex found the point)."""
    rows, coefficients, factor = path.rows, path.coefficients, network.factor
    lower, upper = limits.lower, limits.upper
    columns, tight, keys, sizes, uppers, made = kept
    point, multipliers = lp.point, lp.multipliers
    n, n_kept = lower.shape[0], made[0]
    slot = 0
    for back in range(min(n_kept, RECENT_BASES)):
        candidate = 1 + (n_kept - 1 - back) % RECENT_BASES
        if on_path(keys, candidate, row_key, k):
            slot = candidate
            break
    if slot == 0:
        # The ring can be filled by a sibling subtree's LPs, none on the path.
        for above in range(depth, -1, -1):
            candidate = RECENT_BASES + 1 + above
            if sizes[candidate] >= 0 and on_path(keys, candidate, row_key, k):
                slot = candidate
                break
    basic = np.empty(k, np.int64)
    size = sizes[slot]
    for i in range(size):
        basic[i] = columns[slot, i]
    for r in range(k):
        if not tight[slot, r]:
            basic[size] = n + r
            size += 1
    at_upper = uppers[slot].copy()
    # One call of the simplex, not one per branch: each call site is
    # compiled (and inlined) again at a cold start. Its passes over the
    # columns go through the first layer's weights, or the identity of the
    # shorter side (np.eye would be a compile of its own).
    if network.factored and k > factor.shape[0]:
        combinations, combined = coefficients[:k], factor
    else:
        side = min(n, k)
        identity = np.zeros((side, side))
        for r in range(side):
            identity[r, r] = 1.0
        combinations, combined = (rows[:k], identity) if n < k else (identity, rows[:k])
    status, _ = solve(
        rows[:k], combinations, combined, rhs[:k], lower, upper, limits.costs, basic, at_upper,
        point, multipliers, limits.max_iterations,
    )
    if status == FEASIBLE:
        holds = True
        support = nonzeros(point)
        for r in range(k):
            if dot_at(rows[r], point, support) < rhs[r] - limits.check_tolerance:
                holds = False
                break
        if holds:
            ring = 1 + n_kept % RECENT_BASES
            stacked = RECENT_BASES + 1 + depth
            for kept_slot in (ring, stacked):
                keep_basis(kept_slot, basic, at_upper, row_key, n, kept)
            made[0] += 1
            return LP_FEASIBLE, basic
    if status == EMPTY and refutes(rows[:k], rhs[:k], multipliers, lower, upper):
        return LP_EMPTY, basic[:0]
    with objmode(decided="int64"):
        decided = decide_in_python(rows[:k], rhs[:k], point, multipliers[:k])
    return decided, basic[:0]
