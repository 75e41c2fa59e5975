"""Numba kernels of the activation-tree search.

Every jitted function of pyregions lives here; :mod:`pyregions.counting`
orchestrates them. Kernels take C-contiguous float64 arrays and scalars only.
No ``fastmath``: every value computed here feeds a sign test.
"""

from __future__ import annotations

import numpy as np
from numba import float64, njit


@njit(
    "Tuple((f8, b1, i8))(f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], f8[:, ::1], f8[::1], f8)",
    cache=True,
    locals={"slope": float64, "value": float64, "t": float64},
)
def walk(start, direction, objective, lower, upper, rows, rhs, target):
    """Walk from ``start`` along ``direction`` projected on the box.

    The path is ``x(t) = clip(start + t * direction, lower, upper)``, which
    stays in the box. The walk ends where ``objective . x`` reaches
    ``target``; or where it stops increasing; or just before a row
    ``rows[r] . x >= rhs[r]`` of the current region would be violated; or
    where every coordinate has reached its bound.

    Returns ``(t, reached, row)``: the step where the walk ended, whether it
    reached ``target``, and the row that blocked it (-1 for none). The point
    itself is ``clip(start + t * direction, lower, upper)``.
    """
    n = start.shape[0]
    k = rows.shape[0]
    # Breakpoints: the step at which each coordinate reaches its bound.
    stops = np.full(n, np.inf)
    n_moving = 0
    for j in range(n):
        if direction[j] > 0.0:
            stops[j] = max((upper[j] - start[j]) / direction[j], 0.0)
            n_moving += 1
        elif direction[j] < 0.0:
            stops[j] = max((lower[j] - start[j]) / direction[j], 0.0)
            n_moving += 1
    order = np.argsort(stops)
    value = 0.0
    slope = 0.0
    scale = 0.0
    for j in range(n):
        value += objective[j] * start[j]
        slope += objective[j] * direction[j]
        scale += direction[j] * direction[j]
    slack = np.empty(k)
    row_slope = np.zeros(k)
    row_eps = np.empty(k)
    for r in range(k):
        s = -rhs[r]
        norm = 0.0
        for j in range(n):
            s += rows[r, j] * start[j]
            row_slope[r] += rows[r, j] * direction[j]
            norm += rows[r, j] * rows[r, j]
        # A witness found by an LP may sit a solver tolerance outside a row.
        slack[r] = max(s, 0.0)
        # Rows the direction was projected onto have a slope of rounding size.
        row_eps[r] = 1e-12 * np.sqrt(norm * scale)
    t = 0.0
    for position in range(n_moving + 1):
        t_next = stops[order[position]] if position < n_moving else np.inf
        if slope <= 0.0:
            return t, value >= target, -1
        t_block = np.inf
        blocking = -1
        for r in range(k):
            if row_slope[r] < -row_eps[r]:
                t_row = t + slack[r] / -row_slope[r]
                if t_row < t_block:
                    t_block = t_row
                    blocking = r
        t_goal = t + max(target - value, 0.0) / slope
        if t_goal <= min(t_next, t_block):
            return t_goal, True, -1
        if t_block < t_next:
            return t_block, False, blocking
        if position == n_moving:
            break
        value += slope * (t_next - t)
        for r in range(k):
            slack[r] += row_slope[r] * (t_next - t)
        t = t_next
        # Coordinate j is clipped from here on: it stops moving.
        j = order[position]
        slope -= objective[j] * direction[j]
        for r in range(k):
            row_slope[r] -= rows[r, j] * direction[j]
    return t, value >= target, -1


@njit("b1[::1](f8[::1], f8, f8)", cache=True)
def side_mask(values, threshold, sign):
    """``sign * values >= threshold`` as a boolean mask."""
    mask = np.empty(values.shape[0], dtype=np.bool_)
    for i in range(values.shape[0]):
        mask[i] = sign * values[i] >= threshold
    return mask


@njit("b1(f8[:, ::1], f8[::1], f8[::1], f8[::1], f8[::1])", cache=True)
def refutes(rows, rhs, multipliers, lower, upper):
    """Whether ``multipliers >= 0`` prove ``{x in box : rows @ x >= rhs}`` empty.

    By Farkas, the set is empty when the combination ``v = multipliers @ rows``
    satisfies ``max over the box of v . x < multipliers @ rhs``. The test is
    exact up to rounding, which the margin below covers by a wide factor.
    """
    n = lower.shape[0]
    best = 0.0
    scale = 0.0
    for j in range(n):
        v = 0.0
        for r in range(rows.shape[0]):
            v += multipliers[r] * rows[r, j]
        best += max(v * lower[j], v * upper[j])
        scale += abs(v) * max(abs(lower[j]), abs(upper[j]))
    needed = 0.0
    for r in range(rows.shape[0]):
        needed += multipliers[r] * rhs[r]
        scale += abs(multipliers[r] * rhs[r])
    return best < needed - 1e-12 * scale
