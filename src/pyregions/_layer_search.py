"""The tree search over a network's last ReLU layer, in Numba.

Below the head of the last layer, the search of :class:`pyregions.counting._TreeSearch`
is the same at every node: split the next unit by its witnesses, test a side
with no witness by an LP, put points across the LP's vertex, keep and reuse
proofs of emptiness. That is where nearly all the nodes of a deep count are
(MNIST 784-11-11: about 300 last-layer regions below each first-layer one),
and in Python each cost about as much interpreter time as simplex time. This
module runs that part of the search as one compiled loop, with the same
witnesses and proofs, so its counts are the Python search's. Its LPs start
from the latest feasible basis whose tight rows are all on the path, not
only from an ancestor's: a basis's duals live on its tight rows alone, so
it is dual feasible for any LP that holds them, and the latest is usually
the nearest (on MNIST 784-11-11, 16 iterations per LP instead of 21).

Everything is local to one region of the earlier layers, which fixes the
last layer's affine map: ``C x + d`` in input space, ``G a + g`` in the first
layer's pre-activations ``a``, the coordinates in which points across a
vertex come (:func:`pyregions._simplex.points_across`). A row's key is a bit,
``2 * unit + state``, so a proof of emptiness is a bit mask that holds while
the path's mask covers it.

Two things Numba cannot do go back to Python through ``objmode``: HiGHS, for
the rare LP the simplex leaves undecided, and the clock and progress reports,
every TICK_NODES nodes. :func:`run` registers the Python search that owns the
call for them (per thread: a Dask worker may run several searches).
"""

from __future__ import annotations

import signal
import threading

import numpy as np
from numba import njit, objmode

from ._kernels import dot, refutes
from ._simplex import EMPTY, FEASIBLE, points_across, solve

# Statuses of an LP, as the search sees it after its checks.
LP_FEASIBLE = 0
LP_EMPTY = 1  # with multipliers that refute it
LP_EMPTY_UNPROVEN = 2  # HiGHS said empty but gave no usable ray
LP_FAILED = 3  # HiGHS raised: the search stops
# How a search ended.
COMPLETE = 0
INTERRUPTED = 1
OVER_BUDGET = 2
# Nodes between calls back to Python for the clock and progress.
TICK_NODES = 1024
# Feasible bases kept to warm-start LPs from (the latest whose tight rows
# are all on the path is taken).
RECENT_BASES = 16
# Units a layer may have here: the keys of a proof are bits of an int64.
MAX_WIDTH = 31

_hooks = threading.local()


def run(owner, *args):
    """:func:`search` with ``args``, for the Python search ``owner``; returns
    its results, then the exception it stopped for, if any (to raise once
    the results are recorded).

    ``owner`` answers the calls back (``owner.lp.undecided`` and
    ``owner.layer_tick``). An exception raised there is caught and stops
    the loop, so that the regions it found are recorded before the
    exception is raised again. Ctrl-C is only noted while the loop runs and
    stops it at its next tick: a KeyboardInterrupt raised by the signal as
    the loop passed into ``objmode`` came out as a SystemError.
    """
    previous = getattr(_hooks, "state", None)
    _hooks.state = state = {"owner": owner, "error": None, "interrupted": False}
    handler = None
    if threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGINT, lambda *_: state.update(interrupted=True))
    try:
        results = search(*args)
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
        _hooks.state = previous
    error = state["error"]
    if state["interrupted"] and error is None:
        error = KeyboardInterrupt()
    return results, error


def _decide_in_python(rows, rhs, point, multipliers) -> int:
    """Hand an LP the simplex left undecided to the owner's HiGHS."""
    state = _hooks.state
    try:
        found, proof = state["owner"].lp.undecided(rows, rhs)
    except BaseException as error:  # noqa: BLE001 (raised by run() once the search has stopped)
        state["error"] = error
        return LP_FAILED
    if found is not None:
        point[:] = found
        return LP_FEASIBLE
    if proof is None or proof.shape[0] != rhs.shape[0]:
        return LP_EMPTY_UNPROVEN
    multipliers[:] = proof
    return LP_EMPTY


def _tick_in_python(nodes, regions, solves) -> bool:
    """Let the owner report progress and read the clock; True to stop."""
    state = _hooks.state
    if state["interrupted"]:
        return True
    try:
        return state["owner"].layer_tick(nodes, regions, solves)
    except BaseException as error:  # noqa: BLE001 (a progress callback's, raised by run())
        state["error"] = error
        return True


@njit(cache=True)
def _grown_rows(array, size):
    grown = np.empty((max(size, 2 * array.shape[0]), array.shape[1]), array.dtype)
    grown[: array.shape[0]] = array
    return grown


@njit(cache=True)
def _grown_items(array, size):
    grown = np.empty(max(size, 2 * array.shape[0]), array.dtype)
    grown[: array.shape[0]] = array
    return grown


@njit(cache=True)
def _keep_basis(slot, basic, at_upper, row_bit, n, columns, tight, bits, sizes, uppers):
    """Keep a feasible basis in ``slot``: its basic columns, its tight rows
    (those whose logical is not basic) and their keys, its columns at their
    upper bound."""
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
    mask = 0
    for r in range(k):
        if tight[slot, r] and row_bit[r] >= 0:
            mask |= np.int64(1) << row_bit[r]
    sizes[slot] = size
    bits[slot] = mask
    uppers[slot] = at_upper


@njit(cache=True)
def _solve_lp(
    rows, rhs, coefficients, k, factor, factored, lower, upper, weights, row_bit, path_mask,
    columns, tight, bits, sizes, uppers, n_kept, point, multipliers, max_iterations,
    check_tolerance,
):
    """The LP of the first ``k`` rows, warm-started from the latest kept
    basis whose tight rows are all on the path (slot 0, the head's, always
    is); a feasible basis is kept in the next slot. Returns the status and
    the final basis (empty unless the simplex found the point)."""
    n = lower.shape[0]
    recent = columns.shape[0] - 1
    slot = 0
    for back in range(min(n_kept, recent)):
        candidate = 1 + (n_kept - 1 - back) % recent
        if (bits[candidate] & ~path_mask) == 0:
            slot = candidate
            break
    basic = np.empty(k, np.int64)
    size = sizes[slot]
    basic[:size] = columns[slot, :size]
    for r in range(k):
        if not tight[slot, r]:
            basic[size] = n + r
            size += 1
    at_upper = uppers[slot].copy()
    m = factor.shape[0]
    if factored and k > m:
        status, _ = solve(
            rows[:k], coefficients[:k], factor, rhs[:k], lower, upper, weights, basic, at_upper,
            point, multipliers, max_iterations,
        )
    else:
        status, _ = solve(
            rows[:k], np.eye(k), rows[:k], rhs[:k], lower, upper, weights, basic, at_upper,
            point, multipliers, max_iterations,
        )
    if status == FEASIBLE:
        holds = True
        for r in range(k):
            if dot(rows[r], point) < rhs[r] - check_tolerance:
                holds = False
                break
        if holds:
            _keep_basis(1 + n_kept % recent, basic, at_upper, row_bit, n, columns, tight, bits, sizes, uppers)
            return LP_FEASIBLE, basic
    if status == EMPTY and refutes(rows[:k], rhs[:k], multipliers, lower, upper):
        return LP_EMPTY, basic[:0]
    with objmode(decided="int64"):
        decided = _decide_in_python(rows[:k], rhs[:k], point, multipliers[:k])
    return decided, basic[:0]


@njit(cache=True)
def _unvisited(pattern, order, next_child, depth, start_depth):
    """The prefixes, in the layer, of the node at ``depth`` (about to be
    visited) and of the second children still to come above it, deepest
    first."""
    w = order.shape[0]
    states = np.zeros((depth - start_depth + 1, w), np.bool_)
    lengths = np.zeros(depth - start_depth + 1, np.int64)
    for s in range(depth):
        states[0, s] = pattern[order[s]]
    lengths[0] = depth
    count = 1
    for s in range(depth - 1, start_depth - 1, -1):
        if next_child[s] == 1:
            for p in range(s):
                states[count, p] = pattern[order[p]]
            lengths[count] = s + 1  # states[count, s] stays False: the second child
            count += 1
    return states[:count], lengths[:count]


@njit(cache=True)
def search(
    rows, rhs, coefficients, k0, factor, factored, first_bias, C, d, G, g, thresholds, forced,
    order, start_depth, decided, values, head_basis, head_upper, flippable, row_depths, row_bits,
    lower, upper, weights, tol, max_flips, across_capacity, proofs_kept, max_iterations,
    check_tolerance, budget,
):
    """Search every pattern of the last layer below the current node.

    Parameters
    ----------
    rows, rhs, coefficients : arrays of shapes (r, n), (r,), (r, m)
        The path's rows, their right-hand sides and their combinations of
        the first layer's weights (``factor``, shape (m, n)), the first
        ``k0`` filled, with room after them for a row per unit of the layer
        still to decide.
    factored : bool
        Whether the simplex may work through ``factor``.
    first_bias : array (m,)
    C, d, G, g : the layer's affine map on the region, in input space
        (shapes (w, n), (w,)) and in first-layer pre-activations ((w, m), (w,)).
    thresholds : array (w,)
        ``tol * ||C_i||``.
    forced : int8 array (w,)
        +1 or -1 for a unit whose state is fixed on the region (stable in
        the box, or constant here), 0 for a unit to split.
    order : int64 array (w,)
        The layer's units in search order.
    start_depth : int
        The node's depth in the layer: the units ``order[:start_depth]``
        are decided, with states ``decided`` (bool array (w,), by unit).
    values : array (p, w)
        The layer's pre-activations at the witnesses of the node.
    head_basis, head_upper : a feasible basis of the path's first
        ``head_basis.shape[0]`` rows (at most ``k0``), its columns at their upper bound.
    flippable, row_depths, row_bits : arrays (k0,)
        Whether each path row's second child is still to come, its depth,
        and its key for a row of this layer (-1 for an earlier layer's).
    lower, upper, weights, tol, max_flips, across_capacity, proofs_kept,
    max_iterations, check_tolerance
        The box, the simplex's costs, and the constants of the Python search.
    budget : int
        Nodes the search may visit besides this one before it stops.

    Returns
    -------
    patterns : bool array (regions, w)
    across_firsts, across_depths : arrays (q, m) and (q,)
        Points put across earlier rows: first-layer pre-activations, and the
        depth of the row they were put across.
    nodes, solves : int
        Nodes visited (this one included), LPs solved.
    status : int
        COMPLETE; INTERRUPTED when Python asked the search to stop; or
        OVER_BUDGET. ``patterns`` then holds what was found so far.
    unvisited, lengths : arrays (r, w) and (r,)
        Over budget, the prefixes in the layer (states in search order, the
        first ``lengths`` valid) of the nodes not visited: the one that
        tripped the budget, then the second children left on its path,
        deepest first.
    """
    w = order.shape[0]
    n = lower.shape[0]
    m = factor.shape[0]
    total_rows = k0 + w
    flips = np.zeros(total_rows, np.bool_)
    flips[:k0] = flippable
    row_depth = np.empty(total_rows, np.int64)
    row_depth[:k0] = row_depths
    row_bit = np.empty(total_rows, np.int64)
    row_bit[:k0] = row_bits
    # Bases to warm-start LPs from: the head's in slot 0, then the latest
    # feasible ones in a ring.
    columns = np.empty((RECENT_BASES + 1, total_rows), np.int64)
    tight = np.zeros((RECENT_BASES + 1, total_rows), np.bool_)
    bits = np.zeros(RECENT_BASES + 1, np.int64)
    sizes = np.zeros(RECENT_BASES + 1, np.int64)
    uppers = np.empty((RECENT_BASES + 1, n), np.bool_)
    _keep_basis(0, head_basis, head_upper, row_bit, n, columns, tight, bits, sizes, uppers)
    n_kept = 0
    point = np.empty(n)
    multipliers = np.empty(total_rows)
    across_out = np.empty((across_capacity, m))
    across_rows = np.empty(across_capacity, np.int64)
    # Points across this layer's rows, by depth, as the layer's pre-activations.
    kept_across = np.empty((w, across_capacity, w))
    n_across = np.zeros(w, np.int64)
    out_firsts = np.empty((16, m))
    out_depths = np.empty(16, np.int64)
    n_out = 0
    proofs = np.zeros((w, 2, proofs_kept), np.int64)
    n_proofs = np.zeros((w, 2), np.int64)
    path_mask = 0
    for r in range(k0):
        if row_bits[r] >= 0:
            path_mask |= np.int64(1) << row_bits[r]
    # Witnesses: the layer's pre-activations of every stored point, and the
    # index lists of the nodes on the path, one segment each.
    store = np.empty((max(2 * values.shape[0], 64), w))
    store[: values.shape[0]] = values
    n_points = values.shape[0]
    indices = np.empty(max(4 * values.shape[0], 64), np.int64)
    for i in range(values.shape[0]):
        indices[i] = i
    starts = np.zeros(w + 1, np.int64)
    ends = np.zeros(w + 1, np.int64)
    ends[start_depth] = values.shape[0]
    next_child = np.zeros(w, np.int64)
    pushed = np.zeros(w, np.bool_)
    marks = np.zeros(w, np.int64)
    pattern = decided.copy()
    found = np.empty((64, w), np.bool_)
    n_found = 0
    nodes = 0
    solves = 0
    status = COMPLETE
    unvisited = np.zeros((0, w), np.bool_)
    lengths = np.zeros(0, np.int64)
    k = k0
    t = start_depth
    descend = True
    while t >= start_depth:
        if descend:
            descend = False
            if nodes > budget:
                status = OVER_BUDGET
                unvisited, lengths = _unvisited(pattern, order, next_child, t, start_depth)
                break
            nodes += 1
            if nodes % TICK_NODES == 0:
                with objmode(stop="boolean"):
                    stop = _tick_in_python(nodes, n_found, solves)
                if stop:
                    status = INTERRUPTED
                    break
            if t == w:
                if n_found == found.shape[0]:
                    found = _grown_rows(found, n_found + 1)
                found[n_found] = pattern
                n_found += 1
                t -= 1
                continue
            u = order[t]
            pushed[t] = False
            if forced[u] != 0:
                pattern[u] = forced[u] > 0
                next_child[t] = 2
                starts[t + 1] = starts[t]
                ends[t + 1] = ends[t]
                t += 1
                descend = True
                continue
            next_child[t] = 0
        # Back at node t: undo the child just searched, then take the next.
        if pushed[t]:
            k -= 1
            path_mask &= ~(np.int64(1) << row_bit[k])
            n_points = marks[t]
            pushed[t] = False
        if next_child[t] == 2:
            t -= 1
            continue
        index = next_child[t]
        next_child[t] += 1
        sign = 1.0 if index == 0 else -1.0
        u = order[t]
        marks[t] = n_points
        if index == 1 and n_across[t] > 0:
            # Points put across this row while its first child was searched.
            count = n_across[t]
            if n_points + count > store.shape[0]:
                store = _grown_rows(store, n_points + count)
            store[n_points : n_points + count] = kept_across[t, :count]
            n_across[t] = 0
            first_new = n_points
            n_points += count
        else:
            first_new = n_points
        start = ends[t]
        needed = start + (ends[t] - starts[t]) + (n_points - first_new) + 1
        if needed > indices.shape[0]:
            indices = _grown_items(indices, needed)
        size = 0
        threshold = thresholds[u]
        for i in range(starts[t], ends[t]):
            p = indices[i]
            if sign * store[p, u] >= threshold:
                indices[start + size] = p
                size += 1
        for p in range(first_new, n_points):
            if sign * store[p, u] >= threshold:
                indices[start + size] = p
                size += 1
        pattern[u] = sign > 0
        rows[k] = sign * C[u]
        rhs[k] = threshold - sign * d[u]
        coefficients[k] = sign * G[u]
        flips[k] = index == 0
        row_depth[k] = t
        bit = 2 * u + (1 if sign > 0 else 0)
        row_bit[k] = bit
        path_mask |= np.int64(1) << bit
        k += 1
        pushed[t] = True
        starts[t + 1] = start
        ends[t + 1] = start + size
        if size == 0:
            # No witness: a kept proof, the box, or an LP decides.
            side = 1 if sign > 0 else 0
            refuted = False
            for j in range(min(n_proofs[u, side], proofs_kept)):
                if (proofs[u, side, j] & ~path_mask) == 0:
                    refuted = True
                    break
            if not refuted:
                one = np.ones(1)
                if refutes(rows[k - 1 : k], rhs[k - 1 : k], one, lower, upper):
                    proofs[u, side, n_proofs[u, side] % proofs_kept] = 0
                    n_proofs[u, side] += 1
                    refuted = True
            if refuted:
                continue
            solves += 1
            answer, basic = _solve_lp(
                rows, rhs, coefficients, k, factor, factored, lower, upper, weights, row_bit,
                path_mask, columns, tight, bits, sizes, uppers, n_kept, point, multipliers,
                max_iterations, check_tolerance,
            )
            if basic.shape[0] > 0:
                n_kept += 1
            if answer == LP_FAILED:
                status = INTERRUPTED
                break
            if answer == LP_EMPTY_UNPROVEN:
                continue
            if answer == LP_EMPTY:
                mult = multipliers[:k]
                largest = mult.max()
                if mult[k - 1] > 0.0:
                    mask = 0
                    support = np.empty(k, np.int64)
                    n_support = 0
                    for r in range(k):
                        if mult[r] > 1e-9 * largest:
                            support[n_support] = r
                            n_support += 1
                            if row_bit[r] >= 0 and r < k - 1:
                                mask |= np.int64(1) << row_bit[r]
                    chosen = support[:n_support]
                    if refutes(rows[chosen], rhs[chosen], mult[chosen], lower, upper):
                        proofs[u, side, n_proofs[u, side] % proofs_kept] = mask
                        n_proofs[u, side] += 1
                continue
            if basic.shape[0] > 0:
                count = points_across(
                    rows[:k], rhs[:k], point, basic, flips[:k], tol, lower, upper, factor,
                    max_flips, across_out, across_rows,
                )
                for i in range(count):
                    r = across_rows[i]
                    if r < k0:
                        if n_out == out_firsts.shape[0]:
                            out_firsts = _grown_rows(out_firsts, n_out + 1)
                            out_depths = _grown_items(out_depths, n_out + 1)
                        out_firsts[n_out] = across_out[i] + first_bias
                        out_depths[n_out] = row_depth[r]
                        n_out += 1
                    else:
                        depth = row_depth[r]
                        slot = n_across[depth]
                        if slot < across_capacity:
                            first = across_out[i] + first_bias
                            for v in range(w):
                                total = g[v]
                                for q in range(m):
                                    total += G[v, q] * first[q]
                                kept_across[depth, slot, v] = total
                            n_across[depth] = slot + 1
            # The LP's point as a witness, if rounding left it in the child.
            if n_points == store.shape[0]:
                store = _grown_rows(store, n_points + 1)
            first = first_bias.copy()
            for q in range(m):
                first[q] += dot(factor[q], point)
            inside = True
            for v in range(w):
                total = g[v]
                for q in range(m):
                    total += G[v, q] * first[q]
                store[n_points, v] = total
            for s in range(t + 1):
                v = order[s]
                if (store[n_points, v] > 0.0) != pattern[v]:
                    inside = False
            if inside:
                indices[start] = n_points
                ends[t + 1] = start + 1
            n_points += 1
        t += 1
        descend = True
    return (
        found[:n_found], out_firsts[:n_out], out_depths[:n_out], nodes, solves, status, unvisited,
        lengths,
    )
