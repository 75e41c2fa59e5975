"""The tree search over a ReLU network's layers, in Numba.

The search of :class:`pyregions.counting.search.TreeSearch` is the same at every
node of a ReLU layer: split the next unit by its witnesses, test a side with
no witness by an LP, put points across the LP's vertex, keep and reuse
proofs of emptiness. In Python each node cost about as much interpreter
time as simplex time. This module runs the search of a ReLU network (every
layer, whatever its width, a slice's walls included) as one compiled loop,
with the same witnesses and proofs, so its counts are the Python search's. Its LPs warm-start from kept bases
(:mod:`.bases`).

Entering a layer, the loop computes the layer's affine map on the region
of the layers above (:mod:`.layer_maps`): ``C x + d`` in input space,
``G a + g`` in the first layer's pre-activations ``a``, the coordinates in
which points across a vertex come (:func:`pyregions._kernels.across.points_across`).
A row's key is a bit, ``2 * unit + state`` with the unit counted in its
layer, in a row of int64 words as wide as the widest layer needs, so a
proof of emptiness is a bit mask that holds while the path's mask for that
layer covers it, until the layers above change; a kept basis names its
tight rows by key and by that region.

What Numba cannot do goes back to Python through ``objmode``
(:mod:`.callbacks`): HiGHS, for the rare LP the simplex leaves undecided,
and, every TICK_NODES nodes, the regions found (so the loop's memory does
not grow with the count), the clock and progress reports;
:func:`.callbacks.run_answered` registers the Python search that owns the
call for them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, objmode

from .across import across_step, points_across
from .bases import RECENT_BASES, keep_basis, solve_lp
from .bundles import KeptBases, NodeLP
from .callbacks import (
    LP_EMPTY,
    LP_EMPTY_UNPROVEN,
    LP_FAILED,
    LP_FEASIBLE,
    SPLIT,
    STOP,
    tick_in_python,
)
from .layer_maps import enter_layer, forward, layer_workspace, unit_states
from .linalg import dot_at, nonzeros, refutes

# How a search ended.
COMPLETE = 0
INTERRUPTED = 1
OVER_BUDGET = 2
# Nodes between calls back to Python for the clock and progress.
TICK_NODES = 1024
# Bits of a word of a proof's or a path's mask.
WORD_BITS = 64


@njit(cache=True)
def _grown_rows(array, size):
    grown = np.empty((max(size, 2 * array.shape[0]), array.shape[1]), array.dtype)
    for i in range(array.shape[0]):
        for j in range(array.shape[1]):
            grown[i, j] = array[i, j]
    return grown


@njit(cache=True)
def _grown_items(array, size):
    grown = np.empty(max(size, 2 * array.shape[0]), array.dtype)
    for i in range(array.shape[0]):
        grown[i] = array[i]
    return grown


@njit(cache=True)
def _far_witness(k, store, witnesses, row_scale, row_unit, thin_tol):
    """Whether a witness of the leaf of the first ``k`` rows is ``thin_tol``
    from every row, showing the leaf not thin without an LP."""
    for j in range(witnesses.shape[0]):
        p = witnesses[j]
        far = True
        for r in range(k):
            if row_scale[r] * store[p, row_unit[r]] < thin_tol:
                far = False
                break
        if far:
            return True
    return False


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
def _set_bit(mask, bit):
    mask[bit // WORD_BITS] |= np.int64(1) << (bit % WORD_BITS)


@njit(cache=True)
def _clear_bit(mask, bit):
    mask[bit // WORD_BITS] &= ~(np.int64(1) << (bit % WORD_BITS))


# Masks are cleared and copied by loops: a slice assignment compiles the
# string formatting of its shape-mismatch message.
@njit(cache=True)
def _clear_words(mask):
    for word in range(mask.shape[0]):
        mask[word] = 0


@njit(cache=True)
def _copy_words(target, source):
    for word in range(target.shape[0]):
        target[word] = source[word]


@njit(cache=True)
def _covers(mask, proof):
    """Whether every bit of ``proof`` is set in ``mask`` (rows of words)."""
    for word in range(proof.shape[0]):
        if proof[word] & ~mask[word] != 0:
            return False
    return True


@njit(cache=True)
def search(network, path, node, limits):
    """Search every pattern of the network's layers below the current node.

    Parameters
    ----------
    network, path, node, limits : SearchNetwork, SearchPath, SearchNode, SearchLimits
        The network, the path to the current node, the node and the limits
        (:mod:`pyregions._kernels.bundles` documents their fields).

    Returns
    -------
    patterns : bool array (regions, units)
        The regions found since the last tick: at each tick the loop hands
        those it has found to Python (``owner.layer_tick``) and keeps none.
    across_firsts, across_depths : arrays (q, m) and (q,)
        Points put across the first ``k0`` rows: first-layer
        pre-activations, and the depth of the row they were put across.
    nodes, solves : int
        Nodes visited (this one included), LPs solved.
    thin : int
        Thin regions among ``patterns``.
    status : int
        COMPLETE; INTERRUPTED when Python asked the search to stop; or
        OVER_BUDGET, also when Python asked it to split.
    unvisited, lengths : arrays (r, units) and (r,)
        Over budget, the prefixes (states in search order, the first
        ``lengths`` valid) of the nodes not visited: the one that tripped
        the budget, then the second children left on its path, deepest
        first.
    """
    rows, rhs, coefficients, k0 = path.rows, path.rhs, path.coefficients, path.k0
    head_basis, head_upper, flippable = path.head_basis, path.head_upper, path.flippable
    row_depths, row_bits, row_layers, row_scales = path.row_depths, path.row_bits, path.row_layers, path.row_scales
    factor, first_bias = network.factor, network.first_bias
    weight_starts, weight_columns, weight_values = network.weight_starts, network.weight_columns, network.weight_values
    biases_stack, widths = network.biases_stack, network.widths
    stable, walls, order = network.stable, network.walls, network.order
    C0, d0, G0, scale0 = node.C0, node.d0, node.G0, node.scale0
    start_depth, decided, values = node.start_depth, node.decided, node.values
    lower, upper, tol, thin_tol = limits.lower, limits.upper, limits.tol, limits.thin_tol
    max_flips, across_capacity, across_kept = limits.max_flips, limits.across_capacity, limits.across_kept
    proofs_kept, budget = limits.proofs_kept, limits.budget
    w = order.shape[0]
    n = lower.shape[0]
    m = factor.shape[0]
    n_layers, widest = widths.shape[0], biases_stack.shape[1]
    first_unit, unit_layer, C, d, G, scales, norms, thresholds, forced = layer_workspace(
        widths, w, widest, n, G0.shape[1]
    )
    layer = unit_layer[order[start_depth]] if start_depth < w else n_layers - 1
    width = widths[layer]
    for i in range(width):
        d[layer, i], scales[layer, i] = d0[i], scale0[i]
        for j in range(n):
            C[layer, i, j] = C0[i, j]
        for q in range(G.shape[2]):
            G[layer, i, q] = G0[i, q]
    unit_states(layer, width, first_unit, C, d, scales, stable, norms, thresholds, forced, tol)
    total_rows = k0 + w
    flips = np.zeros(total_rows, np.bool_)
    can_flip = np.zeros(total_rows, np.bool_)
    row_depth = np.empty(total_rows, np.int64)
    row_bit = np.empty(total_rows, np.int64)
    row_layer = np.empty(total_rows, np.int64)
    # A row's distance at a stored point: row_scale * store[point, row_unit].
    row_scale = np.empty(total_rows)
    row_unit = np.empty(total_rows, np.int64)
    for r in range(k0):
        flips[r], row_depth[r], row_bit[r] = flippable[r], row_depths[r], row_bits[r]
        row_layer[r], row_scale[r] = row_layers[r], row_scales[r]
        row_unit[r] = first_unit[row_layers[r]] + row_bits[r] // 2
    check_thin = thin_tol > tol
    across_margin = across_step(tol, thin_tol)
    raised = np.empty(total_rows)
    # The first-layer pre-activations of the LP's point moved inside.
    inward = np.empty(m if check_thin else 0)
    n_thin = 0
    # A row's identity for the kept bases: its layer's region (a number per
    # entry into the layer) and its key; -1 for the rows below the node,
    # which stay on the path throughout.
    row_key = np.full(total_rows, -1, np.int64)
    anchors = np.zeros(n_layers, np.int64)
    next_anchor = 1
    # Bases to warm-start LPs from: the head's in slot 0, the latest
    # feasible ones in a ring, then the latest made at each depth.
    slots = RECENT_BASES + 2 + w  # a depth's slot for each of 0..w
    kept = KeptBases(
        np.empty((slots, total_rows), np.int64), np.zeros((slots, total_rows), np.bool_),
        np.full((slots, total_rows), -1, np.int64), np.full(slots, -1, np.int64),
        np.empty((slots, n), np.bool_), np.zeros(1, np.int64),
    )
    # Not a literal 0: Numba would compile keep_basis once more, for
    # Literal[int](0), at a cold start.
    keep_basis(np.int64(0), head_basis, head_upper, row_key, n, kept)
    lp = NodeLP(np.empty(n), np.empty(total_rows))
    point, multipliers = lp.point, lp.multipliers
    across_out = np.empty((across_capacity, m))
    across_rows = np.empty(across_capacity, np.int64)
    # Points across span rows, as the span units' pre-activations: a list
    # per depth (first, last, next), in slots reused once taken.
    across_values = np.empty((64, w))
    across_next = np.empty(64, np.int64)
    across_first = np.full(w, -1, np.int64)
    across_last = np.full(w, -1, np.int64)
    n_across = np.zeros(w, np.int64)
    free_slot = -1
    used_slots = 0
    out_firsts = np.empty((16, m))
    out_depths = np.empty(16, np.int64)
    n_out = 0
    out_per_row = np.zeros(k0, np.int64)
    # A layer's keys span n_words words, and its kept bases' row keys
    # (region * key_span + key) never collide.
    n_words = (2 * widest + WORD_BITS - 1) // WORD_BITS
    key_span = n_words * WORD_BITS
    proofs = np.zeros((w, 2, proofs_kept, n_words), np.int64)
    n_proofs = np.zeros((w, 2), np.int64)
    new_proof = np.zeros(n_words, np.int64)
    path_masks = np.zeros((n_layers, n_words), np.int64)
    for r in range(k0):
        _set_bit(path_masks[row_layers[r]], row_bits[r])
    # Witnesses: the span units' pre-activations of every stored point, and
    # the index lists of the nodes on the path, one segment each.
    store = np.empty((max(2 * values.shape[0], 64), w))
    n_points = values.shape[0]
    indices = np.empty(max(4 * values.shape[0], 64), np.int64)
    for p in range(n_points):
        for v in range(w):
            store[p, v] = values[p, v]
        indices[p] = p
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
    first = np.empty(m)
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
                # The regions found so far go to Python: the loop keeps none.
                with objmode(answer="int64"):
                    answer = tick_in_python(nodes, solves, found[:n_found])
                n_found = 0
                if answer == STOP:
                    status = INTERRUPTED
                    break
                if answer == SPLIT:
                    budget = nodes
            if t == w:
                if n_found == found.shape[0]:
                    found = _grown_rows(found, n_found + 1)
                for v in range(w):
                    found[n_found, v] = pattern[v]
                n_found += 1
                if check_thin and k > 0 and not _far_witness(
                    k, store, indices[starts[t] : ends[t]], row_scale, row_unit, thin_tol
                ):
                    # Thin unless the LP with every row raised to thin_tol is feasible.
                    for r in range(k):
                        raised[r] = rhs[r] + (thin_tol - tol)
                    solves += 1
                    thin, _ = solve_lp(path, raised, k, t, network, limits, row_key, kept, lp)
                    if thin == LP_FAILED:
                        status = INTERRUPTED
                        break
                    if thin != LP_FEASIBLE:
                        n_thin += 1
                t -= 1
                continue
            u = order[t]
            layer = unit_layer[u]
            if t > start_depth and unit_layer[order[t - 1]] != layer:
                # The head of a layer: its map on this region, and a fresh
                # region for its proofs and keys. No LP: the layer's first
                # LP starts from a kept basis of the layers above.
                enter_layer(
                    layer, pattern, first_unit, widths, weight_starts, weight_columns, weight_values,
                    biases_stack, C, d, G, scales, stable, norms, thresholds, forced, tol,
                )
                anchors[layer] = next_anchor
                next_anchor += 1
                n_proofs[first_unit[layer] : first_unit[layer + 1]] = 0
            pushed[t] = False
            i = u - first_unit[layer]
            if forced[layer, i] != 0:
                pattern[u] = forced[layer, i] > 0
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
            _clear_bit(path_masks[row_layer[k]], row_bit[k])
            n_points = marks[t]
            pushed[t] = False
        if next_child[t] == 2:
            t -= 1
            continue
        index = next_child[t]
        u = order[t]
        # A wall of the domain has only its inside: the outside is no region.
        next_child[t] = 2 if walls[u] else index + 1
        sign = 1.0 if index == 0 else -1.0
        layer = unit_layer[u]
        i = u - first_unit[layer]
        marks[t] = n_points
        if index == 1 and n_across[t] > 0:
            # Points put across this row while its first child was searched.
            count = n_across[t]
            if n_points + count > store.shape[0]:
                store = _grown_rows(store, n_points + count)
            first_new = n_points
            slot = across_first[t]
            while slot >= 0:
                for v in range(w):
                    store[n_points, v] = across_values[slot, v]
                n_points += 1
                following = across_next[slot]
                across_next[slot] = free_slot
                free_slot = slot
                slot = following
            across_first[t] = -1
            across_last[t] = -1
            n_across[t] = 0
        else:
            first_new = n_points
        start = ends[t]
        needed = start + (ends[t] - starts[t]) + (n_points - first_new) + 1
        if needed > indices.shape[0]:
            indices = _grown_items(indices, needed)
        size = 0
        threshold = thresholds[layer, i]
        for j in range(starts[t], ends[t]):
            p = indices[j]
            if sign * store[p, u] >= threshold:
                indices[start + size] = p
                size += 1
        for p in range(first_new, n_points):
            if sign * store[p, u] >= threshold:
                indices[start + size] = p
                size += 1
        pattern[u] = sign > 0
        # Rows of unit norm: the LPs decide in input units whatever the scale.
        norm = norms[layer, i]
        row_scale[k] = sign / norm
        row_unit[k] = u
        for j in range(n):
            rows[k, j] = sign * (C[layer, i, j] / norm)
        for q in range(G.shape[2]):
            coefficients[k, q] = sign * (G[layer, i, q] / norm)
        rhs[k] = tol - sign * (d[layer, i] / norm)
        flips[k] = next_child[t] == 1
        row_depth[k] = t
        bit = 2 * i + (1 if sign > 0 else 0)
        row_bit[k] = bit
        row_layer[k] = layer
        row_key[k] = anchors[layer] * key_span + bit
        _set_bit(path_masks[layer], bit)
        k += 1
        pushed[t] = True
        starts[t + 1] = start
        ends[t + 1] = start + size
        if size == 0:
            # No witness: a kept proof, the box, or an LP decides.
            side = 1 if sign > 0 else 0
            refuted = False
            for j in range(min(n_proofs[u, side], proofs_kept)):
                if _covers(path_masks[layer], proofs[u, side, j]):
                    refuted = True
                    break
            if not refuted:
                one = np.ones(1)
                if refutes(rows[k - 1 : k], rhs[k - 1 : k], one, lower, upper):
                    _clear_words(proofs[u, side, n_proofs[u, side] % proofs_kept])
                    n_proofs[u, side] += 1
                    refuted = True
            if refuted:
                continue
            solves += 1
            answer, basic = solve_lp(path, rhs, k, t, network, limits, row_key, kept, lp)
            if answer == LP_FAILED:
                status = INTERRUPTED
                break
            if answer == LP_EMPTY_UNPROVEN:
                continue
            if answer == LP_EMPTY:
                mult = multipliers[:k]
                largest = mult[0]  # by a loop: ndarray.max is a compile of its own
                for r in range(1, k):
                    largest = max(largest, mult[r])
                if mult[k - 1] > 0.0:
                    _clear_words(new_proof)
                    support = np.empty(k, np.int64)
                    n_support = 0
                    for r in range(k):
                        if mult[r] > 1e-9 * largest:
                            support[n_support] = r
                            n_support += 1
                            if row_layer[r] == layer and r < k - 1:
                                _set_bit(new_proof, row_bit[r])
                    chosen = support[:n_support]
                    if refutes(rows[chosen], rhs[chosen], mult[chosen], lower, upper):
                        _copy_words(proofs[u, side, n_proofs[u, side] % proofs_kept], new_proof)
                        n_proofs[u, side] += 1
                continue
            own = False
            if basic.shape[0] > 0:
                # Rows whose second child has all the points it may keep are
                # not flipped: their points would be dropped.
                for r in range(k):
                    if r < k0:
                        can_flip[r] = flips[r] and out_per_row[r] < across_kept
                    else:
                        can_flip[r] = flips[r] and n_across[row_depth[r]] < across_kept
                count, own = points_across(
                    rows[:k], rhs[:k], point, basic, can_flip[:k], across_margin, lower, upper,
                    factor, max_flips, across_out, across_rows, inward, row_layer[:k],
                )
                for c in range(count):
                    r = across_rows[c]
                    for q in range(m):
                        first[q] = across_out[c, q] + first_bias[q]
                    if r < k0:
                        if out_per_row[r] == across_kept:
                            continue
                        out_per_row[r] += 1
                        if n_out == out_firsts.shape[0]:
                            out_firsts = _grown_rows(out_firsts, n_out + 1)
                            out_depths = _grown_items(out_depths, n_out + 1)
                        for q in range(m):
                            out_firsts[n_out, q] = first[q]
                        out_depths[n_out] = row_depth[r]
                        n_out += 1
                    else:
                        depth = row_depth[r]
                        if n_across[depth] == across_kept:
                            continue
                        if free_slot >= 0:
                            slot = free_slot
                            free_slot = across_next[slot]
                        else:
                            if used_slots == across_values.shape[0]:
                                across_values = _grown_rows(across_values, used_slots + 1)
                                across_next = _grown_items(across_next, used_slots + 1)
                            slot = used_slots
                            used_slots += 1
                        forward(
                            first, weight_starts, weight_columns, weight_values, biases_stack, widths,
                            across_values[slot],
                        )
                        across_next[slot] = -1
                        if across_last[depth] >= 0:
                            across_next[across_last[depth]] = slot
                        else:
                            across_first[depth] = slot
                        across_last[depth] = slot
                        n_across[depth] += 1
            # The LP's point as a witness, if rounding left it in the child:
            # moved inside its region when thin regions are looked for.
            if n_points == store.shape[0]:
                store = _grown_rows(store, n_points + 1)
            if own:
                for q in range(m):
                    first[q] = inward[q] + first_bias[q]
            else:
                nonzero_at = nonzeros(point)
                for q in range(m):
                    first[q] = first_bias[q] + dot_at(factor[q], point, nonzero_at)
            forward(
                first, weight_starts, weight_columns, weight_values, biases_stack, widths,
                store[n_points],
            )
            inside = True
            for s_ in range(t + 1):
                v = order[s_]
                if (store[n_points, v] > 0.0) != pattern[v]:
                    inside = False
            if inside:
                indices[start] = n_points
                ends[t + 1] = start + 1
            n_points += 1
        t += 1
        descend = True
    return (
        found[:n_found], out_firsts[:n_out], out_depths[:n_out], nodes, solves, n_thin, status,
        unvisited, lengths,
    )
