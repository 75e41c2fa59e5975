"""Small dense kernels shared by the others: products (also over a vector's
nonzeros), a dense inverse, the Farkas check of a proof of emptiness, the
side of a hyperplane.

Kernels take C-contiguous float64 arrays and scalars only.
No ``fastmath`` beyond the reassociation of sums (:func:`dot`), whose
rounding the tests' tolerances cover: every value computed here feeds a
sign test.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# A row of a layer's map on a region this small against the terms summed
# into it (``sum_j |W_ij| ||C_j||``) is the rounding residue of a
# cancellation, not a hyperplane: the unit is constant on the region.
CANCELLATION = 1e-12


@njit("b1[::1](f8[::1], f8, f8)", cache=True)
def side_mask(values, threshold, sign):
    """``sign * values >= threshold`` as a boolean mask."""
    mask = np.empty(values.shape[0], dtype=np.bool_)
    for i in range(values.shape[0]):
        mask[i] = sign * values[i] >= threshold
    return mask


# Sums may be reassociated (and multiply-adds fused) here, so that they
# vectorise: a long sum then costs a quarter as much. That changes only
# their rounding, by far less than any tolerance or margin they are tested
# against.
@njit(cache=True, fastmath={"reassoc", "contract"})
def dot(a, b):
    """``a @ b`` for two vectors."""
    total = 0.0
    for j in range(a.shape[0]):
        total += a[j] * b[j]
    return total


@njit(cache=True)
def nonzeros(x):
    """The positions of the nonzero entries of ``x``, in order."""
    positions = np.empty(x.shape[0], np.int64)
    count = 0
    for j in range(x.shape[0]):
        positions[count] = j
        count += x[j] != 0.0
    return positions[:count]


@njit(cache=True)
def dot_at(a, b, positions):
    """``a @ b`` for a ``b`` that is zero outside ``positions``: an LP's
    vertex, at a bound of 0 in most of its coordinates in the unit box."""
    if 4 * positions.shape[0] > a.shape[0]:
        # Mostly nonzero (a box not at 0): the vectorised pass is cheaper.
        return dot(a, b)
    total = 0.0
    for s in range(positions.shape[0]):
        total += a[positions[s]] * b[positions[s]]
    return total


@njit(cache=True, fastmath={"reassoc", "contract"})
def refutes(rows, rhs, multipliers, lower, upper):
    """Whether ``multipliers >= 0`` prove ``{x in box : rows @ x >= rhs}`` empty.

    By Farkas, the set is empty when the combination ``v = multipliers @ rows``
    satisfies ``max over the box of v . x < multipliers @ rhs``. The test is
    exact up to rounding, which the margin below covers by a wide factor.
    """
    n = lower.shape[0]
    v = np.zeros(n)
    for r in range(rows.shape[0]):
        weight = multipliers[r]
        for j in range(n):
            v[j] += weight * rows[r, j]
    best = 0.0
    scale = 0.0
    for j in range(n):
        best += max(v[j] * lower[j], v[j] * upper[j])
        scale += abs(v[j]) * max(abs(lower[j]), abs(upper[j]))
    needed = 0.0
    for r in range(rows.shape[0]):
        needed += multipliers[r] * rhs[r]
        scale += abs(multipliers[r] * rhs[r])
    return best < needed - 1e-12 * scale


@njit(cache=True)
def invert(B, inverse):
    """Gauss-Jordan inverse with partial pivoting; False if ``B`` is singular."""
    k = B.shape[0]
    work = B.copy()
    inverse[:, :] = 0.0
    for i in range(k):
        inverse[i, i] = 1.0
    scale = 0.0
    for i in range(k):
        for j in range(k):
            scale = max(scale, abs(work[i, j]))
    for col in range(k):
        pivot = col
        for i in range(col + 1, k):
            if abs(work[i, col]) > abs(work[pivot, col]):
                pivot = i
        if abs(work[pivot, col]) <= 1e-12 * scale:
            return False
        if pivot != col:
            for j in range(k):
                work[col, j], work[pivot, j] = work[pivot, j], work[col, j]
                inverse[col, j], inverse[pivot, j] = inverse[pivot, j], inverse[col, j]
        factor = 1.0 / work[col, col]
        for j in range(k):
            work[col, j] *= factor
            inverse[col, j] *= factor
        for i in range(k):
            if i != col and work[i, col] != 0.0:
                f = work[i, col]
                for j in range(k):
                    work[i, j] -= f * work[col, j]
                    inverse[i, j] -= f * inverse[col, j]
    return True
