"""A layer's affine maps on the region fixed by the layers before it, its
units' states there, and the forward pass of a point, for the compiled
search."""

from __future__ import annotations

import numpy as np
from numba import njit

from .linalg import CANCELLATION, dot


@njit(cache=True)
def layer_workspace(widths, w, widest, n, g_columns):
    """What a search keeps of its layers: each layer's first unit and each
    unit's layer (of ``w``), then room for the layers' maps on the region
    (``C``, ``d``, ``G``) and their units' scales, norms, thresholds and
    forced states, ``n`` input columns and ``g_columns`` for ``G``."""
    n_layers = widths.shape[0]
    first_unit = np.zeros(n_layers + 1, np.int64)
    unit_layer = np.empty(w, np.int64)
    for layer in range(n_layers):
        first_unit[layer + 1] = first_unit[layer] + widths[layer]
        for u in range(first_unit[layer], first_unit[layer + 1]):
            unit_layer[u] = layer
    C = np.zeros((n_layers, widest, n))
    d = np.zeros((n_layers, widest))
    G = np.zeros((n_layers, widest, g_columns))
    scales = np.zeros((n_layers, widest))
    norms = np.zeros((n_layers, widest))
    thresholds = np.zeros((n_layers, widest))
    forced = np.zeros((n_layers, widest), np.int64)
    return first_unit, unit_layer, C, d, G, scales, norms, thresholds, forced


@njit(cache=True)
def forward(first, starts, columns, values, biases, widths, out):
    """The pre-activations of every hidden unit, layer by layer, at a point
    whose first-layer pre-activations are ``first``, into ``out`` (the
    weights by row: ``starts``, ``columns``, ``values``)."""
    current = first.copy()
    position = 0
    for layer in range(widths.shape[0]):
        width = widths[layer]
        if layer > 0:
            previous = current
            current = biases[layer, :width].copy()
            for i in range(width):
                for e in range(starts[layer, i], starts[layer, i + 1]):
                    if previous[columns[e]] > 0.0:
                        current[i] += values[e] * previous[columns[e]]
        for i in range(width):
            out[position + i] = current[i]
        position += width


@njit(cache=True)
def enter_layer(
    layer, pattern, first_unit, widths, starts, columns, values, biases, C, d, G, scales,
    stable, norms, thresholds, forced, tol,
):
    """The affine maps of ``layer`` on the region fixed by the layer before
    it (``C x + d`` in input space, ``G`` the linear part in first-layer
    pre-activations; per layer, filled in place), the
    size of the terms summed into each row of ``C`` (``scales``), and its
    units' norms, thresholds and forced states (:func:`unit_states`). The
    weights come by row (``starts``, ``columns``, ``values``); the rows of
    stable units that no later layer reads are left zero."""
    width = widths[layer]
    C[layer, :width] = 0.0
    G[layer, :width] = 0.0
    for i in range(width):
        d[layer, i] = biases[layer, i]
        scales[layer, i] = 0.0
        code = stable[first_unit[layer] + i]
        if code < 0 or (code > 0 and layer + 1 == widths.shape[0]):
            continue  # a stable unit's row is read only by the next layer, if active
        for e in range(starts[layer, i], starts[layer, i + 1]):
            j = columns[e]
            weight = values[e]
            if pattern[first_unit[layer - 1] + j]:
                for c in range(C.shape[2]):
                    C[layer, i, c] += weight * C[layer - 1, j, c]
                for q in range(G.shape[2]):
                    G[layer, i, q] += weight * G[layer - 1, j, q]
                d[layer, i] += weight * d[layer - 1, j]
                scales[layer, i] += abs(weight) * norms[layer - 1, j]
    unit_states(layer, width, first_unit, C, d, scales, stable, norms, thresholds, forced, tol)


@njit(cache=True)
def unit_states(layer, width, first_unit, C, d, scales, stable, norms, thresholds, forced, tol):
    """Each unit's norm ``||C_i||`` in ``layer``, its threshold
    ``tol * ||C_i||`` (-1 where the row is constant on the region: within
    CANCELLATION of the terms summed into it) and forced state: its sign
    where stable over the box or constant on the region, 0 to split."""
    for i in range(width):
        norm = np.sqrt(dot(C[layer, i], C[layer, i]))
        norms[layer, i] = norm
        constant = norm <= CANCELLATION * scales[layer, i]
        thresholds[layer, i] = -1.0 if constant else tol * norm
        code = stable[first_unit[layer] + i]
        if code != 0:
            forced[layer, i] = code
        elif constant:
            forced[layer, i] = 1 if d[layer, i] > 0.0 else -1
        else:
            forced[layer, i] = 0
