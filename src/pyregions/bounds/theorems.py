"""Bounds on the number of linear regions of piecewise-linear networks.

Every bound returns an exact Python ``int``, or with ``log10=True`` its
base-10 logarithm as a ``float``, which stays usable where the exact value
has thousands of digits.  The summations run in the compiled core
(:mod:`pyregions._core`): Theorem 1 by a dynamic program over the dimension
budget, never by enumerating its index set.

References
----------
.. [1] T. Serra, C. Tjandraatmadja and S. Ramalingam, "Bounding and Counting
   Linear Regions of Deep Neural Networks", ICML 2018.
.. [2] G. Montufar, R. Pascanu, K. Cho and Y. Bengio, "On the Number of Linear
   Regions of Deep Neural Networks", NeurIPS 2014.
.. [3] G. Montufar, "Notes on the number of linear regions of deep neural
   networks", SampTA 2017.
.. [4] T. Zaslavsky, "Facing up to arrangements", Memoirs of the AMS, 1975.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import _core
from .._validation import check_array, check_int, check_int_sequence

__all__ = [
    "Bound",
    "all_bounds",
    "maxout",
    "montufar2014_lower",
    "montufar2017",
    "one_input_maximum",
    "serra2018",
    "serra2018_lower",
    "trivial",
    "zaslavsky",
]

#: Bounds whose exact value has more digits than this are reported by
#: :func:`all_bounds` as ``log10`` only.
MAX_EXACT_DIGITS = 10_000


def _architecture(n_inputs, widths) -> tuple[int, tuple[int, ...]]:
    return check_int(n_inputs, "n_inputs", minimum=1), check_int_sequence(
        widths, "widths", minimum=1
    )


def _prefix_minima(n_inputs: int, widths: Sequence[int]) -> list[int]:
    """d_l = min(n0, n1, ..., n_l) for every layer l."""
    minima, current = [], n_inputs
    for width in widths:
        current = min(current, width)
        minima.append(current)
    return minima


def serra2018(n_inputs, widths, *, weights=None, log10=False):
    """Theorem 1 of Serra et al. (2018), the upper bound for rectifier networks.

    The sum over J of prod_l C(n_l, j_l) with
    J = {0 <= j_l <= min(n0, n1 - j1, ..., n_{l-1} - j_{l-1}, n_l)}.
    Tight for one hidden layer, and equal to prod_l (n_l + 1) for one input
    when every n_l >= 3.

    Parameters
    ----------
    n_inputs : int
        Input dimension n0, at least 1.
    widths : sequence of int
        Hidden widths n1, ..., nL, each at least 1.
    weights : sequence of array_like, optional
        The hidden weight matrices, W^l of shape (n_l, n_{l-1}).  When given,
        rank(W^l) replaces n_l in the minimum (the refinement of the paper's
        Theorem 7), which only lowers the bound.
    log10 : bool, default=False
        Return log10 of the bound as a float instead of the exact int.

    Returns
    -------
    int or float

    Examples
    --------
    >>> from pyregions import bounds
    >>> bounds.serra2018(1, [3, 4, 5])
    120
    >>> round(bounds.serra2018(784, [1000] * 100, log10=True))
    30074
    """
    n_inputs, widths = _architecture(n_inputs, widths)
    ranks = [] if weights is None else _ranks(n_inputs, widths, weights)
    return _core.serra2018_upper(n_inputs, list(widths), ranks, bool(log10))


def _ranks(n_inputs: int, widths: tuple[int, ...], weights) -> list[int]:
    if len(weights) != len(widths):
        msg = f"weights has {len(weights)} matrices for {len(widths)} hidden layers"
        raise ValueError(msg)
    ranks, n_in = [], n_inputs
    for i, (width, matrix) in enumerate(zip(widths, weights)):
        matrix = check_array(matrix, f"weights[{i}]", ndim=2, shape=(width, n_in))
        ranks.append(int(np.linalg.matrix_rank(matrix)))
        n_in = width
    return ranks


def one_input_maximum(widths, *, log10=False):
    """The exact maximum prod_l (n_l + 1) for one input (Serra et al. 2018).

    Valid when every width is at least 3; it then equals :func:`serra2018`
    with ``n_inputs=1``, and the paper gives networks that attain it.
    """
    widths = check_int_sequence(widths, "widths", minimum=3)
    value = math.prod(width + 1 for width in widths)
    return math.log10(value) if log10 else value


def zaslavsky(n_hyperplanes, dimension, *, log10=False):
    """Regions of an arrangement in general position: sum_{j<=d} C(m, j).

    This is the exact count for one hidden layer of ``n_hyperplanes`` units on
    ``dimension`` inputs in general position over the whole input space.
    """
    m = check_int(n_hyperplanes, "n_hyperplanes", minimum=0)
    d = check_int(dimension, "dimension", minimum=0)
    return _core.arrangement_product([m], [d], bool(log10))


def montufar2017(n_inputs, widths, *, log10=False):
    """Montufar (2017): prod_l sum_{j<=d_l} C(n_l, j), d_l = min(n0, ..., n_l)."""
    n_inputs, widths = _architecture(n_inputs, widths)
    return _core.arrangement_product(
        list(widths), _prefix_minima(n_inputs, widths), bool(log10)
    )


def trivial(widths, *, log10=False):
    """2^N for N hidden ReLUs: every activation pattern a region."""
    total = sum(check_int_sequence(widths, "widths", minimum=1))
    return total * math.log10(2) if log10 else 1 << total


def _lower(n_inputs, widths, log10, *, ratio_minimum, increment):
    n_inputs, widths = _architecture(n_inputs, widths)
    small = [w for w in widths if w < ratio_minimum * n_inputs]
    if small:
        msg = (
            f"this lower bound needs every width >= {ratio_minimum} * n_inputs "
            f"= {ratio_minimum * n_inputs}; got widths {list(widths)}"
        )
        raise ValueError(msg)
    bases = [w // n_inputs + increment for w in widths[:-1]]
    return _core.lower_bound(bases, n_inputs, widths[-1], bool(log10))


def montufar2014_lower(n_inputs, widths, *, log10=False):
    """Montufar et al. (2014), a lower bound on the maximum number of regions.

    prod_{l<L} floor(n_l / n0)^n0 * sum_{j<=n0} C(n_L, j); needs every n_l >= n0.
    """
    return _lower(n_inputs, widths, log10, ratio_minimum=1, increment=0)


def serra2018_lower(n_inputs, widths, *, log10=False):
    """Serra et al. (2018), a lower bound on the maximum number of regions.

    prod_{l<L} (floor(n_l / n0) + 1)^n0 * sum_{j<=n0} C(n_L, j); needs every
    n_l >= 3 n0.
    """
    return _lower(n_inputs, widths, log10, ratio_minimum=3, increment=1)


def maxout(n_inputs, widths, rank, *, log10=False):
    """Serra et al. (2018), upper bound for maxout networks of rank k.

    prod_l sum_{j<=d_l} C(k(k-1)/2 * n_l, j), d_l = min(n0, ..., n_l): each
    unit brings the k(k-1)/2 hyperplanes on which two of its pieces tie.
    """
    n_inputs, widths = _architecture(n_inputs, widths)
    k = check_int(rank, "rank", minimum=2)
    hyperplanes = [k * (k - 1) // 2 * w for w in widths]
    return _core.arrangement_product(hyperplanes, _prefix_minima(n_inputs, widths), bool(log10))


@dataclass(frozen=True)
class Bound:
    """One bound on the number of regions of an architecture.

    Attributes
    ----------
    value : int or None
        The exact bound, or None where it has more than ``MAX_EXACT_DIGITS``
        digits.
    log10 : float
        Its base-10 logarithm.
    """

    value: int | None
    log10: float


def all_bounds(n_inputs, widths, *, maxout_rank=None) -> dict[str, Bound]:
    """Every bound that applies to an architecture, keyed by name.

    Keys: ``serra2018``, ``montufar2017``, ``trivial``, ``montufar2014_lower``
    (all n_l >= n0), ``serra2018_lower`` (all n_l >= 3 n0), ``zaslavsky`` (one
    hidden layer); with ``maxout_rank`` only ``maxout``.  A bound whose
    conditions do not hold is absent.
    """
    n_inputs, widths = _architecture(n_inputs, widths)
    if maxout_rank is not None:
        rank = check_int(maxout_rank, "maxout_rank", minimum=2)
        candidates = {"maxout": lambda log10: maxout(n_inputs, widths, rank, log10=log10)}
    else:
        candidates = {
            "serra2018": lambda log10: serra2018(n_inputs, widths, log10=log10),
            "montufar2017": lambda log10: montufar2017(n_inputs, widths, log10=log10),
            "trivial": lambda log10: trivial(widths, log10=log10),
        }
        if min(widths) >= n_inputs:
            candidates["montufar2014_lower"] = lambda log10: montufar2014_lower(
                n_inputs, widths, log10=log10
            )
        if min(widths) >= 3 * n_inputs:
            candidates["serra2018_lower"] = lambda log10: serra2018_lower(
                n_inputs, widths, log10=log10
            )
        if len(widths) == 1:
            candidates["zaslavsky"] = lambda log10: zaslavsky(widths[0], n_inputs, log10=log10)
    result = {}
    for name, compute in candidates.items():
        log = compute(True)
        exact = compute(False) if log < MAX_EXACT_DIGITS - 1 else None
        result[name] = Bound(exact, log)
    return result
