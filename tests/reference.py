"""Independent references the counting methods are checked against.

Written for clarity, not speed, and with SciPy's LP interface rather than the
package's own HiGHS models, so that a bug in one is not repeated in the other.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog

from pyregions import Network


def random_network(n_inputs, widths, seed, *, scale=1.0):
    """A network with Gaussian weights and biases, in general position."""
    rng = np.random.default_rng(seed)
    weights, biases, n = [], [], n_inputs
    for width in widths:
        W = rng.normal(size=(width, n)) / np.sqrt(n)
        weights.append(W)
        if n_inputs >= 100:
            # Centre the hyperplanes on [0, 1]^n so that they cut the box.
            biases.append(-0.5 * W.sum(axis=1) + 0.3 * rng.normal(size=width))
        else:
            biases.append(scale * rng.normal(size=width))
        n = width
    return Network(weights, biases)


def rescaled(net, layer, unit, s):
    """``net`` with ``unit`` of ``layer`` scaled by ``s`` in and ``1 / s`` out:
    the same function, the same regions."""
    weights = [layer_.weights.copy() for layer_ in net.layers]
    biases = [layer_.bias.copy() for layer_ in net.layers]
    weights[layer][unit] *= s
    biases[layer][unit] *= s
    if layer + 1 < len(weights):
        weights[layer + 1][:, unit] /= s
    return Network(weights, biases)


def on_box(net, centre, half_width):
    """``net`` composed with ``x = (y - centre) / half_width``: the same
    regions on the box of half-width ``half_width`` around ``centre``."""
    weights = [layer.weights.copy() for layer in net.layers]
    biases = [layer.bias.copy() for layer in net.layers]
    biases[0] = biases[0] - weights[0] @ np.full(net.n_inputs, centre) / half_width
    weights[0] = weights[0] / half_width
    return Network(weights, biases)


def pattern_is_region(net, pattern, lower, upper, tol, domain=None):
    """Whether ``pattern`` has a point in the box at distance >= tol from its walls.

    Units whose effective gradient is exactly 0 on the pattern are constant:
    their state must be the sign of their constant (0 is inactive).
    """
    walls = _walls(net, pattern)
    if walls is None:
        return False
    rows = [-sign * c for sign, c, _ in walls]
    rhs = [sign * d - tol * np.linalg.norm(c) for sign, c, d in walls]
    return _feasible(rows, rhs, lower, upper, tol, domain)


def _preactivations(net, pattern):
    """``(state, c, d)`` for each hidden unit of a ReLU network: its state in
    ``pattern`` and its pre-activation ``c x + d`` on the pattern's region."""
    C, d, start = None, None, 0
    previous = None
    for layer in net.layers:
        W, b = layer.weights, layer.bias
        if C is None:
            C, d = W.copy(), b.copy()
        else:
            active = pattern[start - previous : start]
            C, d = W[:, active] @ C[active], W[:, active] @ d[active] + b
        for i in range(W.shape[0]):
            yield pattern[start + i], C[i], d[i]
        previous = W.shape[0]
        start += W.shape[0]


def _walls(net, pattern):
    """``(sign, c, d)`` for each unit that splits ``pattern``'s region, its
    pre-activation ``c x + d`` there; None when a unit constant on the
    region contradicts the pattern (its state is the sign of its constant,
    0 inactive)."""
    walls = []
    for state, c, d in _preactivations(net, pattern):
        if not c.any():
            if (d > 0) != state:
                return None
            continue
        walls.append((1.0 if state else -1.0, c, d))
    return walls


def has_a_constant_zero_unit(net, pattern) -> bool:
    """Whether a unit's pre-activation is exactly 0 on all of ``pattern``'s
    region, where the paper's MILP has no region (f <= 0)."""
    return any(not c.any() and d == 0 for _, c, d in _preactivations(net, pattern))


def _feasible(rows, rhs, lower, upper, tol, domain=None) -> bool:
    """Whether {x in box : rows @ x <= rhs} and the domain, if any, meet.

    Decided scale-free: each row divided by its norm and the box mapped to
    [-1, 1]^n by one factor, so that SciPy's absolute tolerances mean the
    same for any scale of weights and box.
    """
    if domain is not None:
        for row, bound in zip(*domain):  # row @ x >= bound, at distance >= tol
            rows.append(-row)
            rhs.append(-bound - tol * np.linalg.norm(row))
    if not rows:
        return True
    A, b = np.array(rows), np.array(rhs)
    norms = np.linalg.norm(A, axis=1)
    A, b = A / norms[:, None], b / norms
    centre = (lower + upper) / 2
    radius = float((upper - lower).max()) / 2 or 1.0
    result = linprog(
        np.zeros(lower.shape[0]), A_ub=A, b_ub=(b - A @ centre) / radius,
        bounds=list(zip((lower - centre) / radius, (upper - centre) / radius)), method="highs",
    )
    return result.status == 0


def exhaustive_regions(net: Network, lower, upper, tol, domain=None) -> set[tuple[bool, ...]]:
    """Every pattern tried, one LP each: the regions as a set of bool tuples.

    ``domain`` = (rows, rhs) restricts the box to {rows @ x >= rhs}.
    """
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return {
        bits
        for bits in itertools.product((False, True), repeat=net.n_hidden)
        if pattern_is_region(net, np.array(bits), lower, upper, tol, domain)
    }


def random_maxout_network(n_inputs, widths, rank, seed, *, relu_layers=()):
    """Gaussian maxout layers of ``rank`` (ReLU layers at ``relu_layers``)."""
    rng = np.random.default_rng(seed)
    weights, biases, n = [], [], n_inputs
    for index, width in enumerate(widths):
        pieces = (width,) if index in relu_layers else (width, rank)
        weights.append(rng.normal(size=(*pieces, n)) / np.sqrt(n))
        biases.append(rng.normal(size=pieces))
        n = width
    return Network(weights, biases)


def states_are_region(net, states, lower, upper, tol):
    """Whether the per-unit ``states`` (ReLU 0/1, maxout winning piece) have a
    point in the box at distance >= tol from every wall of their region.

    Written independently of :func:`pattern_is_region`: each unit becomes a
    list of pieces, a ReLU being the pieces (0, a) with state 1 for ``a``.
    Pieces with an equal gradient on the region are no wall: the larger
    constant wins, the lower index on a tie (so a ReLU is inactive at 0).
    """
    rows, rhs = [], []
    C, d = np.eye(lower.shape[0]), np.zeros(lower.shape[0])
    start = 0
    for layer in net.layers:
        n = layer.n_neurons
        if layer.activation == "relu":
            zero = np.zeros_like(layer.weights)
            W = np.stack([zero, layer.weights], axis=1)
            b = np.stack([np.zeros(n), layer.bias], axis=1)
        else:
            W, b = layer.weights, layer.bias
        PC = np.einsum("upj,jk->upk", W, C)
        Pd = np.einsum("upj,j->up", W, d) + b
        for i in range(n):
            p = int(states[start + i])
            for q in range(W.shape[1]):
                if q == p:
                    continue
                g, gap = PC[i, p] - PC[i, q], Pd[i, p] - Pd[i, q]
                if not g.any():
                    if gap < 0 or (gap == 0 and q < p):
                        return False
                    continue
                rows.append(-g)
                rhs.append(gap - tol * np.linalg.norm(g))
        winners = np.asarray(states[start : start + n], dtype=int)
        C, d = PC[np.arange(n), winners], Pd[np.arange(n), winners]
        start += n
    return _feasible(rows, rhs, lower, upper, tol)


def exhaustive_states(net: Network, lower, upper, tol) -> set[tuple[int, ...]]:
    """Every choice of state per unit tried, one LP each: the regions of a
    network with maxout layers as a set of int tuples."""
    choices = [
        range(getattr(layer, "rank", 2)) for layer in net.layers for _ in range(layer.n_neurons)
    ]
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return {
        states for states in itertools.product(*choices)
        if states_are_region(net, states, lower, upper, tol)
    }


def largest_margin(net, pattern, lower, upper):
    """The largest distance from the walls of ``pattern``'s region that a
    point of the box attains (-inf when the pattern is impossible).

    Independent of the scale of the weights: every wall's row is divided by
    its norm before the LP, which maximises the margin ``t`` itself, so a
    region counts at ``tol`` exactly when this is at least ``tol``.
    """
    walls = _walls(net, pattern)
    if walls is None:
        return -np.inf
    # sign (c x + d) / ||c|| >= t, as -sign c x / ||c|| + t <= sign d / ||c||
    rows = [np.append(-sign * c / np.linalg.norm(c), 1.0) for sign, c, _ in walls]
    rhs = [sign * d / np.linalg.norm(c) for sign, c, d in walls]
    width = float(np.max(upper - lower))
    cost = np.zeros(lower.shape[0] + 1)
    cost[-1] = -1.0
    result = linprog(
        cost, A_ub=np.array(rows) if rows else None, b_ub=np.array(rhs) if rows else None,
        bounds=[*zip(lower, upper), (None, width)], method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    return -result.fun if result.status == 0 else -np.inf


def exhaustive_regions_by_margin(net: Network, lower, upper, tol) -> set[tuple[bool, ...]]:
    """:func:`exhaustive_regions` decided by :func:`largest_margin`."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return {
        bits
        for bits in itertools.product((False, True), repeat=net.n_hidden)
        if largest_margin(net, np.array(bits), lower, upper) >= tol
    }


def network_on_slice(net: Network, points, lower, upper):
    """The ReLU network restricted to the line (2 points) or plane (3) through
    ``points``, in orthonormal coordinates ``t`` of our own (NumPy's QR):
    ``x = points[0] + Q t``.

    Returns ``(network, t_lower, t_upper, domain)``: the bounding box of the
    slice of the box in ``t``, and ``domain = (rows, rhs)``, the box's faces as
    ``rows @ t >= rhs``, for :func:`exhaustive_regions`.
    """
    points = np.asarray(points, float)
    origin = points[0]
    Q, _ = np.linalg.qr((points[1:] - origin).T)
    first = net.layers[0]
    sliced = Network(
        [first.weights @ Q, *(layer.weights for layer in net.layers[1:])],
        [first.bias + first.weights @ origin, *(layer.bias for layer in net.layers[1:])],
    )
    moving = np.abs(Q).max(axis=1) > 1e-12  # the other coordinates stay at the origin's
    rows = np.vstack([Q[moving], -Q[moving]])
    rhs = np.concatenate([(lower - origin)[moving], (origin - upper)[moving]])
    k = Q.shape[1]
    ends = []
    for sign in (1.0, -1.0):
        for i in range(k):
            cost = np.zeros(k)
            cost[i] = sign
            result = linprog(cost, A_ub=-rows, b_ub=-rhs, bounds=[(None, None)] * k, method="highs")
            assert result.status == 0, "the slice misses the box"
            ends.append(result.x[i])
    return sliced, np.array(ends[:k]), np.array(ends[k:]), (rows, rhs)
