"""Points just across the tight rows of an LP's vertex: the tree search's
cheapest witnesses, in the regions on the other side of those rows."""

from __future__ import annotations

import numpy as np
from numba import njit

from .linalg import dot, dot_at, invert, nonzeros

# Where a point across tight rows is put, in margins (tol * ||row||) from
# each tight row of the vertex: ACROSS_STEP past each flipped row (so
# ACROSS_STEP - 1 inside the neighbouring region) and INWARD_STEP inside the
# others, so that no row is left exactly at its bound for rounding to break.
ACROSS_STEP = 2.5
INWARD_STEP = 0.5
# A later layer's row bends across every first-layer row, so points kept
# only INWARD_STEP inside it often end up thin in the region they reach,
# each costing a thin-check LP (docs/performance.md): such rows, and the
# path's newest row, which the LP made tight, get WIDE_INWARD_STEP.
WIDE_INWARD_STEP = 1.5


@njit(cache=True)
def _tight_block(rows, basic, tol):
    """The basic columns and tight rows of a basic solution, the inverse of
    their block, and each tight row's margin ``tol * ||row||`` (empty if
    the block is singular)."""
    k, n = rows.shape
    columns = np.empty(k, np.int64)
    logical_basic = np.zeros(k, np.bool_)
    t = 0
    for i in range(k):
        if basic[i] >= n:
            logical_basic[basic[i] - n] = True
        else:
            columns[t] = basic[i]
            t += 1
    tight = np.empty(t, np.int64)
    a = 0
    for r in range(k):
        if not logical_basic[r]:
            tight[a] = r
            a += 1
    M = np.empty((t, t))
    for a in range(t):
        for b in range(t):
            M[a, b] = rows[tight[a], columns[b]]
    inverse = np.empty((t, t))
    if not invert(M, inverse):
        return columns[:t], tight, inverse, np.empty(0)
    margin = np.empty(t)
    for a in range(t):
        margin[a] = tol * np.sqrt(dot(rows[tight[a]], rows[tight[a]]))
    return columns[:t], tight, inverse, margin


@njit(cache=True)
def points_across(
    rows, rhs, point, basic, flippable, tol, lower, upper, first_weights, max_flips, out,
    first_flipped, inward, row_layers,
):
    """Points just across a few tight rows of a basic solution, as their
    first-layer pre-activations.

    ``point`` is the basic solution of ``basic`` (as left by :func:`solve`):
    its tight rows are those whose logicals are nonbasic, as many as the
    basic columns. Moving only the basic columns, so that some flippable
    tight rows (1 to ``max_flips`` of them) fall ACROSS_STEP margins below
    their rhs and the other tight rows rise INWARD_STEP margins above it
    (the last row WIDE_INWARD_STEP), gives a point of a neighbouring
    region: the vertex's region with those rows' sides reversed. When
    ``inward`` is asked for, tight rows of layers past the first (by
    ``row_layers``) rise WIDE_INWARD_STEP too, unless that takes the
    vertex's own point out of the box or across a row. A point is
    kept if it stays in the box and meets every row before the first one it
    flips (the rows it shares with that row's other side); the rows after
    are the caller's to check.

    Writes ``first_weights @ point`` for each kept point to ``out`` (shape
    (capacity, m)) and the index of its first flipped row to
    ``first_flipped``, in increasing order of that index; stops when
    ``out`` is full. Unless ``inward`` is empty, writes there the same for
    the vertex's own region: the point with no row flipped, as far inside
    its tight rows as the other points are, a witness that the region is
    not thin. Returns how many points are across, and whether ``inward``
    was written (False if that point leaves the box or crosses a row).
    """
    k = rows.shape[0]
    m = first_weights.shape[0]
    columns, tight, inverse, margin = _tight_block(rows, basic, tol)
    t = tight.shape[0]
    flips = np.empty(t, np.int64)  # positions in tight of the flippable rows
    f = 0
    for a in range(t):
        if flippable[tight[a]]:
            flips[f] = a
            f += 1
    nothing_across = f == 0 or max_flips <= 0 or out.shape[0] == 0
    if (nothing_across and inward.shape[0] == 0) or margin.shape[0] < t:
        return 0, False
    support = nonzeros(point)
    # The basic columns' coefficients are gathered once, so that the moves'
    # passes run along memory.
    row_block = np.empty((t, k))
    first_block = np.empty((t, m))
    for c in range(t):
        for r in range(k):
            row_block[c, r] = rows[r, columns[c]]
        for q in range(m):
            first_block[c, q] = first_weights[q, columns[c]]
    vertex_slacks = np.empty(k)
    vertex_firsts = np.empty(m)
    for r in range(k):
        vertex_slacks[r] = dot_at(rows[r], point, support) - rhs[r]
    for q in range(m):
        vertex_firsts[q] = dot_at(first_weights[q], point, support)
    inward_steps = np.empty(t)
    moves, slacks, firsts = np.zeros((f + 1, t)), np.zeros((f + 1, k)), np.zeros((f + 1, m))
    # Later layers' rows only matter to the thin check, which asks for inward.
    widen = inward.shape[0] > 0
    for _ in range(2):
        for a in range(t):
            wide = tight[a] == k - 1 or (widen and row_layers[tight[a]] > 0)
            inward_steps[a] = WIDE_INWARD_STEP if wide else INWARD_STEP
        # The base move alone decides the steps; the flips' moves follow once.
        _fill_moves(
            0, 1, inverse, margin, inward_steps, flips[:f], row_block, first_block,
            vertex_slacks, vertex_firsts, moves, slacks, firsts,
        )
        inside_own = inward.shape[0] > 0
        for c in range(t):
            x = point[columns[c]] + moves[0, c]
            if x < lower[columns[c]] or x > upper[columns[c]]:
                inside_own = False
        for r in range(k):
            if slacks[0, r] < 0.0:
                inside_own = False
        if inside_own or not widen:
            break
        widen = False
    _fill_moves(
        1, f + 1, inverse, margin, inward_steps, flips[:f], row_block, first_block,
        vertex_slacks, vertex_firsts, moves, slacks, firsts,
    )
    if inside_own:
        for q in range(inward.shape[0]):
            inward[q] = firsts[0, q]
    count = _combinations(
        point, columns, tight, flips[:f], moves, slacks, firsts, lower, upper, max_flips, out,
        first_flipped,
    )
    _sort_by_first_row(out, first_flipped, count, k)
    return count, inside_own


@njit(cache=True)
def _fill_moves(
    start, stop, inverse, margin, inward_steps, flips, row_block, first_block, vertex_slacks,
    vertex_firsts, moves, slacks, firsts,
):
    """Rows ``start`` to ``stop - 1`` of the moves of the basic columns, and
    of the rows' slacks and the first layer: row 0 puts every tight row its
    inward step inside (from the vertex's slacks and first layer), row
    ``e + 1`` flips the ``e``-th flippable row (a change to add to row 0)."""
    t, k, m = inverse.shape[1], row_block.shape[1], first_block.shape[1]
    for e in range(start, stop):
        for c in range(t):
            if e == 0:
                total = 0.0
                for a in range(t):
                    total += inverse[c, a] * inward_steps[a] * margin[a]
                moves[0, c] = total
            else:
                a = flips[e - 1]
                moves[e, c] = -inverse[c, a] * (ACROSS_STEP + inward_steps[a]) * margin[a]
        for r in range(k):
            slacks[e, r] = vertex_slacks[r] if e == 0 else 0.0
        for q in range(m):
            firsts[e, q] = vertex_firsts[q] if e == 0 else 0.0
        for c in range(t):
            step = moves[e, c]
            for r in range(k):
                slacks[e, r] += row_block[c, r] * step
            for q in range(m):
                firsts[e, q] += first_block[c, q] * step


@njit(cache=True)
def _combinations(
    point, columns, tight, flips, moves, slacks, firsts, lower, upper, max_flips, out, first_flipped,
):
    """The points across each combination of 1 to ``max_flips`` of the
    ``flips`` (positions in ``tight``), by size then in lexicographic order,
    that stay in the box and meet the rows before their first flipped one;
    written as :func:`points_across` does, until ``out`` is full. Returns
    how many."""
    t, k, m, f = columns.shape[0], slacks.shape[1], firsts.shape[1], flips.shape[0]
    capacity = out.shape[0]
    chosen = np.empty(max_flips, np.int64)
    # Sums of the moves and slacks of a combination's first rows, one level
    # per row chosen: a combination differs from the last in its final row
    # mostly, so most take one sum per column and per row.
    partial_x = np.empty((max(max_flips, 1), t))
    partial_slack = np.empty((max(max_flips, 1), k))
    partial_first = np.empty((max(max_flips, 1), m))
    for q in range(m):
        partial_first[0, q] = firsts[0, q]
    for c in range(t):
        partial_x[0, c] = point[columns[c]] + moves[0, c]
    for r in range(k):
        partial_slack[0, r] = slacks[0, r]
    count = 0
    for size in range(1, min(max_flips, f) + 1):
        for i in range(size):
            chosen[i] = i
        valid = 0  # levels 1..valid hold the sums of the current prefix
        while count < capacity:
            low = tight[flips[chosen[0]]]
            for level in range(valid, size - 1):
                e = chosen[level] + 1
                for c in range(t):
                    partial_x[level + 1, c] = partial_x[level, c] + moves[e, c]
                for r in range(low):
                    partial_slack[level + 1, r] = partial_slack[level, r] + slacks[e, r]
                for q in range(m):
                    partial_first[level + 1, q] = partial_first[level, q] + firsts[e, q]
            valid = size - 1
            last = chosen[size - 1] + 1
            inside = True
            for c in range(t):
                x = partial_x[size - 1, c] + moves[last, c]
                if x < lower[columns[c]] or x > upper[columns[c]]:
                    inside = False
                    break
            for r in range(low if inside else 0):
                if partial_slack[size - 1, r] + slacks[last, r] < 0.0:
                    inside = False
                    break
            if inside:
                for q in range(m):
                    out[count, q] = partial_first[size - 1, q] + firsts[last, q]
                first_flipped[count] = low
                count += 1
            # The next combination of this size, in lexicographic order.
            i = size - 1
            while i >= 0 and chosen[i] == f - size + i:
                i -= 1
            if i < 0:
                break
            chosen[i] += 1
            for j in range(i + 1, size):
                chosen[j] = chosen[j - 1] + 1
            valid = min(valid, i)
    return count


@njit(cache=True)
def _sort_by_first_row(out, first_flipped, count, k):
    """Sorts the first ``count`` points of ``out`` by their first flipped
    row (of ``k``), stably, by counting: np.argsort's mergesort costs a
    second to compile."""
    starts = np.zeros(k + 1, np.int64)
    for i in range(count):
        starts[first_flipped[i] + 1] += 1
    for r in range(k):
        starts[r + 1] += starts[r]
    unsorted, unsorted_flipped = out[:count].copy(), first_flipped[:count].copy()
    for i in range(count):
        position = starts[unsorted_flipped[i]]
        starts[unsorted_flipped[i]] += 1
        first_flipped[position] = unsorted_flipped[i]
        for q in range(out.shape[1]):
            out[position, q] = unsorted[i, q]


@njit(cache=True)
def across_step(tol, thin_tol):
    """The margin by which points are put across a vertex's rows: sixteen
    times ``thin_tol`` when thin regions are looked for, so that those
    points, INWARD_STEP of it (eight times ``thin_tol``) inside the rows they
    keep, are also that far from most later rows and prove the regions they
    reach not thin (docs/performance.md)."""
    return max(tol, 16.0 * thin_tol) if thin_tol > tol else tol
