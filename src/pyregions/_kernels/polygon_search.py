"""The tree search of a ReLU network on two free coordinates (a plane
through three points, or a network of two inputs), its regions kept as
convex polygons instead of decided by LPs.

A node's region is the box clipped by every row of its path, each row as
the LP search puts it (:mod:`.layer_search`: a unit's pre-activation over
its norm, on the side of the child, at least ``tol``) and relaxed by the
tolerance to which the LP search checks a point of its LPs. A child is
non-empty when its clip keeps a vertex (a segment or a point counts, as
for the LP), so the children, the leaves, the patterns and their order are
the LP search's, but for a side whose room lies within that tolerance
(2e-10) of the margin: there the LP's vertex and this clip's points may
decide differently, and either way such a region is thin. The layers'
maps, the units' norms and forced states come from :mod:`.layer_maps`, as
there; a wall has only its inside, and a leaf is thin when its polygon
clipped by its rows raised to ``thin_tol`` is empty.

Clipping a convex polygon by a half-plane costs a pass over its vertices,
which stay few (at most four and one per row), where an LP of the plane
costs one row per unit split on the path.
"""

from __future__ import annotations

import numpy as np
from numba import njit, objmode

from .callbacks import STOP, tick_in_python
from .layer_maps import enter_layer, layer_workspace, unit_states
from .layer_search import COMPLETE, INTERRUPTED, _grown_rows
from .linalg import dot

# Nodes between calls back to Python for the clock and progress: a node
# costs tens of nanoseconds here, a call back tens of microseconds.
TICK_NODES = 1 << 15


@njit(cache=True)
def clip(polygon, count, a, b, bound, out):
    """The part of the convex polygon ``polygon[:count]`` (vertices in
    order) where ``a x + b y >= bound``, into ``out`` (room for ``2 * count``
    vertices); returns its number of vertices, 0 when it is empty."""
    size = 0
    before = count - 1
    s_before = a * polygon[before, 0] + b * polygon[before, 1] - bound
    for j in range(count):
        s = a * polygon[j, 0] + b * polygon[j, 1] - bound
        # A crossing at a vertex is that vertex, kept below if inside.
        if (s_before > 0.0 > s) or (s_before < 0.0 < s):
            f = s_before / (s_before - s)
            out[size, 0] = polygon[before, 0] + f * (polygon[j, 0] - polygon[before, 0])
            out[size, 1] = polygon[before, 1] + f * (polygon[j, 1] - polygon[before, 1])
            size += 1
        if s >= 0.0:
            out[size, 0] = polygon[j, 0]
            out[size, 1] = polygon[j, 1]
            size += 1
        before, s_before = j, s
    return size


@njit(cache=True)
def _grown_polygons(polygons, count):
    """``polygons`` (stack, vertex, coordinate) with room for ``2 * count``
    vertices each."""
    grown = np.empty((polygons.shape[0], max(2 * count, 2 * polygons.shape[1]), 2))
    for p in range(polygons.shape[0]):
        for v in range(polygons.shape[1]):
            grown[p, v, 0] = polygons[p, v, 0]
            grown[p, v, 1] = polygons[p, v, 1]
    return grown


@njit(cache=True)
def _thin(polygon, count, rows, rhs, k, rise, work):
    """Whether the leaf ``polygon[:count]`` of the first ``k`` rows is
    empty once every row is raised by ``rise``; returns it and ``work``
    (two polygons' room), grown if it had to be."""
    if work.shape[1] < 2 * count:
        work = _grown_polygons(work, count)
    for v in range(count):
        work[0, v, 0] = polygon[v, 0]
        work[0, v, 1] = polygon[v, 1]
    current = 0
    for r in range(k):
        if work.shape[1] < 2 * count:
            work = _grown_polygons(work, count)
        count = clip(work[current], count, rows[r, 0], rows[r, 1], rhs[r] + rise, work[1 - current])
        if count == 0:
            return True, work
        current = 1 - current
    return False, work


@njit(cache=True)
def search(network, limits):
    """Search every pattern of the network's layers from the root, by polygons.

    Parameters
    ----------
    network : SearchNetwork
        The network (:mod:`pyregions._kernels.bundles`); its first layer's
        weights ``factor`` have two columns, and ``factored`` is not read.
    limits : PolygonLimits
        The box and the margins.

    Returns
    -------
    patterns : bool array (regions, units)
        The regions found since the last tick: at each tick the loop hands
        those it has found to Python (``owner.layer_tick``) and keeps none.
    nodes : int
        Nodes visited, the root included.
    thin : int
        Thin regions among ``patterns``.
    status : int
        COMPLETE, or INTERRUPTED when Python asked the search to stop.
    """
    W0, b0, widths = network.factor, network.first_bias, network.widths
    weight_starts, weight_columns, weight_values = network.weight_starts, network.weight_columns, network.weight_values
    biases_stack, stable, walls, order = network.biases_stack, network.stable, network.walls, network.order
    lower, upper, tol, thin_tol, slack = limits.lower, limits.upper, limits.tol, limits.thin_tol, limits.check_tolerance
    w = order.shape[0]
    # No G: only the LP search's factored simplex reads it.
    first_unit, unit_layer, C, d, G, scales, norms, thresholds, forced = layer_workspace(
        widths, w, biases_stack.shape[1], 2, 0
    )
    for i in range(widths[0]):
        C[0, i, 0], C[0, i, 1], d[0, i] = W0[i, 0], W0[i, 1], b0[i]
        scales[0, i] = np.sqrt(dot(W0[i], W0[i]))
    unit_states(0, widths[0], first_unit, C, d, scales, stable, norms, thresholds, forced, tol)
    # The polygon of the node at depth t is polygons[slot[t], :sizes[slot[t]]];
    # a forced unit's child shares its parent's.
    polygons = np.empty((w + 1, 16, 2))
    sizes = np.zeros(w + 1, np.int64)
    slot = np.zeros(w + 1, np.int64)
    polygons[0, 0, 0], polygons[0, 0, 1] = lower[0], lower[1]
    polygons[0, 1, 0], polygons[0, 1, 1] = upper[0], lower[1]
    polygons[0, 2, 0], polygons[0, 2, 1] = upper[0], upper[1]
    polygons[0, 3, 0], polygons[0, 3, 1] = lower[0], upper[1]
    sizes[0] = 4
    # The path's rows (unit norm) and right-hand sides; rows_below[t] of
    # them lie above the node at depth t.
    rows = np.empty((w, 2))
    rhs = np.empty(w)
    rows_below = np.zeros(w + 1, np.int64)
    check_thin = thin_tol > tol
    work = np.empty((2, 16, 2))
    n_thin = 0
    next_child = np.zeros(w, np.int64)
    pattern = np.zeros(w, np.bool_)
    found = np.empty((64, w), np.bool_)
    n_found = 0
    nodes = 0
    status = COMPLETE
    t = 0
    descend = True
    while t >= 0:
        if descend:
            descend = False
            nodes += 1
            if nodes % TICK_NODES == 0:
                # The regions found so far go to Python: the loop keeps none.
                with objmode(answer="int64"):
                    answer = tick_in_python(nodes, 0, found[:n_found])
                n_found = 0
                if answer == STOP:
                    status = INTERRUPTED
                    break
            k = rows_below[t]
            if t == w:
                if n_found == found.shape[0]:
                    found = _grown_rows(found, n_found + 1)
                for v in range(w):
                    found[n_found, v] = pattern[v]
                n_found += 1
                if check_thin and k > 0:
                    # Raised as the LP search raises them, relaxed as it checks them.
                    thin, work = _thin(
                        polygons[slot[t]], sizes[slot[t]], rows, rhs, k, thin_tol - tol - slack, work
                    )
                    if thin:
                        n_thin += 1
                t -= 1
                continue
            u = order[t]
            layer = unit_layer[u]
            if t > 0 and unit_layer[order[t - 1]] != layer:
                enter_layer(
                    layer, pattern, first_unit, widths, weight_starts, weight_columns, weight_values,
                    biases_stack, C, d, G, scales, stable, norms, thresholds, forced, tol,
                )
            i = u - first_unit[layer]
            if forced[layer, i] != 0:
                pattern[u] = forced[layer, i] > 0
                next_child[t] = 2
                slot[t + 1] = slot[t]
                rows_below[t + 1] = k
                t += 1
                descend = True
                continue
            next_child[t] = 0
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
        # The LP search's row, to the last rounding: the same children.
        norm = norms[layer, i]
        k = rows_below[t]
        rows[k, 0] = sign * (C[layer, i, 0] / norm)
        rows[k, 1] = sign * (C[layer, i, 1] / norm)
        rhs[k] = tol - sign * (d[layer, i] / norm)
        parent = slot[t]
        if polygons.shape[1] < 2 * sizes[parent]:
            polygons = _grown_polygons(polygons, sizes[parent])
        size = clip(polygons[parent], sizes[parent], rows[k, 0], rows[k, 1], rhs[k] - slack, polygons[t + 1])
        if size == 0:
            continue
        sizes[t + 1] = size
        slot[t + 1] = t + 1
        rows_below[t + 1] = k + 1
        pattern[u] = sign > 0
        t += 1
        descend = True
    return found[:n_found], nodes, n_thin, status
