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


def pattern_is_region(net, pattern, lower, upper, tol):
    """Whether ``pattern`` has a point in the box at distance >= tol from its walls.

    Units whose effective gradient is exactly 0 on the pattern are constant:
    their state must be the sign of their constant (0 is inactive).
    """
    rows, rhs = [], []
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
            state, c = pattern[start + i], C[i]
            if not c.any():
                if (d[i] > 0) != state:
                    return False
                continue
            sign = 1.0 if state else -1.0
            rows.append(-sign * c)
            rhs.append(sign * d[i] - tol * np.linalg.norm(c))
        previous = W.shape[0]
        start += W.shape[0]
    if not rows:
        return True
    result = linprog(
        np.zeros(lower.shape[0]), A_ub=np.array(rows), b_ub=np.array(rhs),
        bounds=list(zip(lower, upper)), method="highs",
    )
    return result.status == 0


def exhaustive_regions(net: Network, lower, upper, tol) -> set[tuple[bool, ...]]:
    """Every pattern tried, one LP each: the regions as a set of bool tuples."""
    return {
        bits
        for bits in itertools.product((False, True), repeat=net.n_hidden)
        if pattern_is_region(net, np.array(bits), np.asarray(lower, float), np.asarray(upper, float), tol)
    }
