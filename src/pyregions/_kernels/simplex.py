"""A dense dual simplex, in Numba, for the tree search's feasibility LPs.

Each LP of the tree search asks whether ``{x in [lower, upper] : rows @ x >= rhs}``
is empty, with few rows (one per unit on the search path, so at most a few
dozen) and many columns (784 for MNIST). HiGHS spent about 40 us an
iteration on these through highspy; this solver about 5, because with ``k``
rows the basis inverse is a small dense matrix, of which only the ``t``
columns of the vertex's tight rows are kept, ``k x t`` (updated in product
form, recomputed every REINVERSION_INTERVAL iterations through the block of
those rows and the basic structural columns), and the only long loops are
passes over the columns (the pivot row, made on the first layer's weights
when they are fewer than the rows; reduced costs are updated from it
between inversions), one to price the ratio test's breakpoints and one to
pick the smallest few of them.

The LP solved is

.. math::

    \\min_x \\; w^\\top x \\quad \\text{s.t.} \\quad A x - r = 0,\\;
    \\ell \\le x \\le u,\\; r \\ge b,

with fixed random weights :math:`w > 0`, so that ties in the ratio test, and
the cycling they allow, are unlikely (an LP that does not settle within its
iteration limit goes to HiGHS). Its only use is feasibility: the first
primal-feasible basis is returned. The cost never changes, so a basis that
was optimal stays dual feasible when rows are appended with their logical
variables basic; this is what lets the caller warm-start a child from its
parent's basis. Emptiness comes with Farkas multipliers, which the caller
checks independently (:func:`pyregions._kernels.refutes`); anything this
solver cannot decide (iteration limit, a singular basis) is handed to HiGHS.

Variables are numbered ``0..n-1`` for ``x`` and ``n + i`` for the logical
``r_i`` of row ``i``.

From the basis of a feasible answer, :func:`pyregions._kernels.across.points_across`
puts points in the regions on the other side of its tight rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .linalg import dot_at, invert, nonzeros

FEASIBLE = 0
EMPTY = 1
UNDECIDED = 2

# Absolute tolerance on bounds and row activities, as HiGHS's
# primal_feasibility_tolerance in the tree search: the rows are of unit
# norm, so this is a distance in input units, 100 times below the default
# margin the rows already hold.
PRIMAL_TOLERANCE = 1e-10
# Relative size below which a pivot candidate is treated as zero.
PIVOT_TOLERANCE = 1e-9
# Breakpoints of the ratio test are taken in rounds of this many, the
# smallest not yet passed, in order. An iteration passes about three: on
# MNIST networks' LPs, rounds of 8 took 8% less time than keeping 16 and
# sorting all the rest when more were needed, and rounds of 4 no less than 8.
SMALLEST_KEPT = 8
# Scales the price of a basic column out of its bounds against a violated
# row: fixing rows first took 10% fewer iterations on MNIST networks' LPs.
COLUMN_PRICE_FACTOR = 0.1
# Iterations between fresh inversions of the basis (updates in between):
# an inversion costs several iterations, and 64 updates in a row left the
# LPs' iteration counts as they were with 16 (docs/performance.md).
REINVERSION_INTERVAL = 64


@njit(cache=True)
def _combine(weights, factor, out):
    """``out = weights @ factor``, two rows of ``factor`` per pass over
    ``out`` (a quarter faster than one)."""
    m, n = factor.shape
    out[:] = 0.0
    for q in range(0, m - 1, 2):
        w0, w1 = weights[q], weights[q + 1]
        for j in range(n):
            out[j] += w0 * factor[q, j] + w1 * factor[q + 1, j]
    if m % 2:
        w0 = weights[m - 1]
        for j in range(n):
            out[j] += w0 * factor[m - 1, j]


@njit(cache=True)
def _invert_basis(rows, basic, inverse, tight):
    """The columns of the basis matrix's inverse for the tight rows (the
    others are unit vectors): ``inverse[:, a]`` for row ``tight[a]``, rows
    in ascending order; returns their number, or -1 if the basis is singular.

    A basic logical is a unit column ``-e_r``, so the inverse's column ``r``
    is ``-e`` of that logical's slot. The other rows, whose logicals are not
    basic (the vertex's tight rows), are as many as the basic structural
    columns ``S``, and only their block ``M`` needs inverting: a structural
    slot's entries are ``M^-1``'s, a logical's (row ``r``) are
    ``rows[r, S] M^-1``.
    """
    k, n = rows.shape
    columns = np.empty(k, np.int64)  # slots of the structural columns
    is_tight = np.ones(k, np.bool_)
    t = 0
    for i in range(k):
        if basic[i] < n:
            columns[t] = i
            t += 1
        else:
            is_tight[basic[i] - n] = False
    a = 0
    for r in range(k):
        if is_tight[r]:
            tight[a] = r
            a += 1
    M = np.empty((t, t))
    for a in range(t):
        for c in range(t):
            M[a, c] = rows[tight[a], basic[columns[c]]]
    M_inverse = np.empty((t, t))
    if not invert(M, M_inverse):
        return -1
    for c in range(t):
        for a in range(t):
            inverse[columns[c], a] = M_inverse[c, a]
    for i in range(k):
        if basic[i] < n:
            continue
        r = basic[i] - n
        for a in range(t):
            total = 0.0
            for c in range(t):
                total += rows[r, basic[columns[c]]] * M_inverse[c, a]
            inverse[i, a] = total
    return t


@njit(cache=True)
def _smallest(ratio, gain, count, smallest, smallest_ratio, under):
    """The positions of the SMALLEST_KEPT smallest of the first ``count``
    ratios, in order (ties to the earlier position), among those with a
    positive gain; returns how many.

    A candidate passed in an earlier round has ratio ``inf``. The smallest
    ratio of each of SMALLEST_KEPT interleaved blocks belongs to a different
    candidate, so the largest of them bounds the kept ratios: one pass finds
    it, the blocks side by side, and the few candidates under it are
    gathered (in ``under``) without branches, then sorted in.
    """
    kept = smallest.shape[0]
    bound = np.inf
    if count >= 4 * kept:
        for b in range(kept):
            smallest_ratio[b] = np.inf
        for start in range(0, count - kept + 1, kept):
            for b in range(kept):
                smallest_ratio[b] = min(smallest_ratio[b], ratio[start + b])
        bound = smallest_ratio[0]
        for b in range(1, kept):
            bound = max(bound, smallest_ratio[b])
    n_under = 0
    for c in range(count):
        under[n_under] = c
        n_under += not ratio[c] > bound
    n_smallest = 0
    for u in range(n_under):
        c = under[u]
        t = ratio[c]
        if n_smallest < kept or t < smallest_ratio[n_smallest - 1]:
            if gain[c] <= 0.0:
                continue
            slot = min(n_smallest, kept - 1)
            while slot > 0 and smallest_ratio[slot - 1] > t:
                smallest_ratio[slot] = smallest_ratio[slot - 1]
                smallest[slot] = smallest[slot - 1]
                slot -= 1
            smallest_ratio[slot] = t
            smallest[slot] = c
            n_smallest = min(n_smallest + 1, kept)
    return n_smallest


@njit(cache=True)
def solve(
    rows, coefficients, factor, rhs, lower, upper, weights, basic, at_upper, point, multipliers,
    max_iterations,
):
    """Find a point of ``{x in [lower, upper] : rows @ x >= rhs}`` or prove it empty.

    Parameters
    ----------
    rows, rhs : arrays of shape (k, n) and (k,)
    coefficients, factor : arrays of shape (k, m) and (m, n)
        ``rows == coefficients @ factor`` up to rounding. The passes over
        all columns run on the factor, so with ``m < k`` (rows that all
        combine a network's first-layer weights) they cost ``m / k`` as
        much; with none, pass ``eye(k)`` and ``rows``.
    lower, upper : arrays of shape (n,)
        Finite bounds, ``lower < upper``.
    weights : array of shape (n,)
        Positive costs, the same for every call that shares a basis.
    basic : int64 array of shape (k,), in and out
        The starting basis, dual feasible for ``weights`` (the slack basis
        ``n + arange(k)`` with every column at its lower bound is); the
        final basis on return.
    at_upper : bool array of shape (n,), in and out
        Which nonbasic columns sit at their upper bound.
    point : array of shape (n,), out
        The point found, when feasible.
    multipliers : array of shape (k,), out
        Row multipliers proving emptiness, when empty (to be checked).
    max_iterations : int

    Returns
    -------
    status : int
        FEASIBLE, EMPTY or UNDECIDED.
    iterations : int
    """
    k, n = rows.shape
    in_basis = np.full(n + k, -1, np.int64)
    for i in range(k):
        in_basis[basic[i]] = i
    # Value of each nonbasic column (its bound); 0 for basic ones.
    fixed = np.empty(n)
    sense = np.empty(n)
    for j in range(n):
        fixed[j] = 0.0 if in_basis[j] >= 0 else (upper[j] if at_upper[j] else lower[j])
        sense[j] = 0.0 if in_basis[j] >= 0 else (-1.0 if at_upper[j] else 1.0)
    # B^-1's columns of the tight rows, inverse[:, a] for row tight[a], the
    # first n_tight of each (see _invert_basis: the others are unit vectors).
    inverse = np.empty((k, k))
    tight = np.empty(k, np.int64)
    n_tight = 0
    tight_values = np.empty(k)  # a vector's entries on the tight rows
    # B^-1 times the entering variable's column, the pivot column of the update
    transformed = np.empty(k)
    activity = np.empty(k)
    values = np.empty(k)
    duals = np.empty(k)
    alpha = np.empty(n)
    priced = np.empty(n)
    gain = np.empty(n + k)
    candidates = np.empty(n + k, np.int64)
    ratio = np.empty(n + k)
    under = np.empty(n + k, np.int64)
    m = factor.shape[0]
    mixed_alpha = np.empty(m)
    mixed_duals = np.empty(m)
    smallest = np.empty(SMALLEST_KEPT, np.int64)
    smallest_ratio = np.empty(SMALLEST_KEPT)
    # N x_N, the rows' activity of the nonbasic variables (columns at their
    # bound, logicals at their row's rhs), kept up to date from here on.
    support = nonzeros(fixed)
    for q in range(m):
        mixed_alpha[q] = dot_at(factor[q], fixed, support)
    for r in range(k):
        total = 0.0 if in_basis[n + r] >= 0 else -rhs[r]
        for q in range(m):
            total += coefficients[r, q] * mixed_alpha[q]
        activity[r] = total
    since_inversion = REINVERSION_INTERVAL
    for iteration in range(max_iterations):
        if since_inversion >= REINVERSION_INTERVAL:
            n_tight = _invert_basis(rows, basic, inverse, tight)
            if n_tight < 0:
                return UNDECIDED, iteration
            since_inversion = 0
        t = n_tight
        for a in range(t):
            tight_values[a] = activity[tight[a]]
        for i in range(k):
            total = activity[basic[i] - n] if basic[i] >= n else 0.0
            for a in range(t):
                total -= inverse[i, a] * tight_values[a]
            values[i] = total
        leaving = -1
        best = 0.0
        for i in range(k):
            v = basic[i]
            low = lower[v] if v < n else rhs[v - n]
            high = upper[v] if v < n else np.inf
            if values[i] < low - PRIMAL_TOLERANCE:
                shortfall = low - values[i]
            elif values[i] > high + PRIMAL_TOLERANCE:
                shortfall = values[i] - high
            else:
                continue
            # Dual steepest edge: the weight is the squared norm of the
            # row of the inverse, exact here since the inverse is explicit.
            # Rows go before columns out of their bounds (COLUMN_PRICE_FACTOR).
            # A logical's slot has a 1 more, from its row's unit column.
            norm = 0.0 if v < n else 1.0
            for a in range(t):
                norm += inverse[i, a] * inverse[i, a]
            score = shortfall * shortfall / norm
            if v < n:
                score *= COLUMN_PRICE_FACTOR
            if score > best:
                best = score
                leaving = i
        if leaving < 0:
            for j in range(n):
                point[j] = fixed[j]
            for i in range(k):
                v = basic[i]
                if v < n:
                    point[v] = min(max(values[i], lower[v]), upper[v])
            return FEASIBLE, iteration
        v_out = basic[leaving]
        low = lower[v_out] if v_out < n else rhs[v_out - n]
        increase = values[leaving] < low
        shortfall = low - values[leaving] if increase else values[leaving] - upper[v_out]
        direction = 1.0 if increase else -1.0
        # The row duals, weights_B B^-1: zero on rows that are not tight
        # (a structural slot's entry in a unit column is 0), so by position
        # in tight, as inverse's columns.
        for a in range(t):
            duals[a] = 0.0
        for i in range(k):
            v = basic[i]
            if v < n:
                for a in range(t):
                    duals[a] += weights[v] * inverse[i, a]
        # alpha_j = (row `leaving` of B^-1) . column j, through the factor:
        # combined first into m numbers, then one pass over the columns,
        # along memory (a leaving logical's row of B^-1 has a -1 more, on
        # its own row). priced_j = duals . column j is taken the same way
        # after each inversion, and updated from alpha in between.
        for q in range(m):
            total = -coefficients[v_out - n, q] if v_out >= n else 0.0
            for a in range(t):
                total += inverse[leaving, a] * coefficients[tight[a], q]
            mixed_alpha[q] = total
        _combine(mixed_alpha, factor, alpha)
        if since_inversion == 0:
            for q in range(m):
                y_q = 0.0
                for a in range(t):
                    y_q += duals[a] * coefficients[tight[a], q]
                mixed_duals[q] = y_q
            _combine(mixed_duals, factor, priced)
        # x_B[leaving] moves by -alpha_j per unit increase of nonbasic j;
        # the candidates are the variables that move it the right way from
        # their bound (gain > 0), each with the dual step at which its
        # reduced cost changes sign (ratio), both by position in candidates.
        # Columns first, without branches: sense_j is +1 at the lower bound,
        # -1 at the upper and 0 in the basis, and candidates are compacted
        # by a conditional count; their ratios are divided out after, in a
        # pass that vectorises (in the loop, the divisions are scalar).
        largest = 0.0
        # Not a literal 0: Numba would compile _smallest for Literal[int](0) too.
        count = np.int64(0)
        for j in range(n):
            g = -direction * alpha[j] * sense[j]
            d = (weights[j] - priced[j]) * sense[j]
            candidates[count] = j
            gain[count] = g
            ratio[count] = max(d, 0.0)
            count += g > 0.0
            largest = max(largest, g)
        for c in range(count):
            ratio[c] /= max(gain[c], 1e-300)
        for a in range(t):
            g = direction * inverse[leaving, a]
            if g > 0.0:
                candidates[count] = n + tight[a]
                gain[count] = g
                ratio[count] = max(duals[a], 0.0) / g
                count += 1
                largest = max(largest, g)
        threshold = PIVOT_TOLERANCE * max(largest, 1.0)
        # Bound-flipping ratio test: pass breakpoints in order of ratio
        # (flipping each column to its other bound) while the leaving
        # variable would still fall short; the next one enters. Usually few
        # are passed, so the breakpoints are taken in rounds of the
        # SMALLEST_KEPT smallest, each round skipping those passed (their
        # gain is zeroed, their ratio made infinite) rather than sorted.
        # Before a second round, the walk stops if passing all that are
        # left would still leave it short (none can enter then): that walk
        # would be the longest.
        entering = -1
        n_smallest = _smallest(ratio, gain, count, smallest, smallest_ratio, under)
        position = 0
        while True:
            if position == n_smallest:
                if n_smallest < SMALLEST_KEPT:
                    break  # every candidate was seen
                capacity = 0.0
                for c in range(count):
                    j = candidates[c]
                    if gain[c] > threshold:
                        capacity += gain[c] * (upper[j] - lower[j] if j < n else np.inf)
                if shortfall - capacity > PRIMAL_TOLERANCE:
                    break
                n_smallest = _smallest(ratio, gain, count, smallest, smallest_ratio, under)
                position = 0
                if n_smallest == 0:
                    break
            candidate = smallest[position]
            j = candidates[candidate]
            position += 1
            ratio[candidate] = np.inf
            if gain[candidate] <= threshold:
                gain[candidate] = 0.0
                continue
            span = upper[j] - lower[j] if j < n else np.inf
            if shortfall - gain[candidate] * span > PRIMAL_TOLERANCE:
                shortfall -= gain[candidate] * span
                at_upper[j] = not at_upper[j]
                sense[j] = -sense[j]
                step = -fixed[j]
                fixed[j] = upper[j] if at_upper[j] else lower[j]
                step += fixed[j]
                for r in range(k):
                    activity[r] += rows[r, j] * step
                gain[candidate] = 0.0
                continue
            entering = j
            break
        if entering < 0:
            # No variable can lift the leaving one to its bound: its row
            # of the inverse combines the rows into a proof of emptiness.
            for r in range(k):
                multipliers[r] = 0.0
            for a in range(t):
                multipliers[tight[a]] = max(-direction * inverse[leaving, a], 0.0)
            if v_out >= n:
                multipliers[v_out - n] = max(direction, 0.0)
            return EMPTY, iteration
        # The duals move along the leaving row of the inverse until the
        # entering variable's reduced cost is zero: priced_j by dual_step * alpha_j.
        entering_position = -1  # an entering logical's column in inverse
        if entering < n:
            dual_step = (weights[entering] - priced[entering]) / alpha[entering]
            # B^-1 times its column, while the slots are still the old basis's
            for a in range(t):
                tight_values[a] = rows[tight[a], entering]
            for i in range(k):
                total = -rows[basic[i] - n, entering] if basic[i] >= n else 0.0
                for a in range(t):
                    total += inverse[i, a] * tight_values[a]
                transformed[i] = total
        else:
            for a in range(t):
                if tight[a] == entering - n:
                    entering_position = a
            dual_step = -duals[entering_position] / inverse[leaving, entering_position]
            for i in range(k):
                transformed[i] = -inverse[i, entering_position]
        for j in range(n):
            priced[j] += dual_step * alpha[j]
        # The leaving variable joins N at its bound, the entering one leaves it.
        in_basis[v_out] = -1
        if v_out < n:
            at_upper[v_out] = not increase
            sense[v_out] = -1.0 if at_upper[v_out] else 1.0
            fixed[v_out] = upper[v_out] if at_upper[v_out] else lower[v_out]
            for r in range(k):
                activity[r] += rows[r, v_out] * fixed[v_out]
        else:
            activity[v_out - n] -= rhs[v_out - n]
        if entering < n:
            for r in range(k):
                activity[r] -= rows[r, entering] * fixed[entering]
            fixed[entering] = 0.0
            sense[entering] = 0.0
        else:
            activity[entering - n] += rhs[entering - n]
        basic[leaving] = entering
        in_basis[entering] = leaving
        # Product-form update of the inverse; a small pivot re-inverts.
        pivot = transformed[leaving]
        if abs(pivot) < 1e-7:
            since_inversion = REINVERSION_INTERVAL
            continue
        # An entering logical's row stops being tight: its column becomes
        # the unit -e_leaving, and is dropped (the last takes its place).
        # A leaving logical's row becomes tight: its column, -e_leaving
        # until now, joins the kept ones to be updated with them.
        if entering_position >= 0:
            t -= 1
            tight[entering_position] = tight[t]
            for i in range(k):
                inverse[i, entering_position] = inverse[i, t]
        if v_out >= n:
            tight[t] = v_out - n
            for i in range(k):
                inverse[i, t] = -1.0 if i == leaving else 0.0
            t += 1
        n_tight = t
        for a in range(t):
            inverse[leaving, a] /= pivot
        for i in range(k):
            if i != leaving and transformed[i] != 0.0:
                multiple = transformed[i]
                for a in range(t):
                    inverse[i, a] -= multiple * inverse[leaving, a]
        since_inversion += 1
    return UNDECIDED, max_iterations
