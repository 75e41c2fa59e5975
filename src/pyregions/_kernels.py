"""Numba kernels of the activation-tree search.

These and the LP solver of :mod:`pyregions._simplex` are the jitted code of
pyregions; :mod:`pyregions.counting` orchestrates them. Kernels take C-contiguous float64 arrays and scalars only.
No ``fastmath``: every value computed here feeds a sign test.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
