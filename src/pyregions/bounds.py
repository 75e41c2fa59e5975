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

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _core
from ._validation import check_array, check_int, check_int_sequence
from .exceptions import UnsupportedLayerError

__all__ = [
    "ArchitectureRanking",
    "Bound",
    "all_bounds",
    "even_widths",
    "maxout",
    "montufar2014_lower",
    "montufar2017",
    "network_bound",
    "one_input_maximum",
    "rank_architectures",
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


# Design: ranking the architectures of a fixed number of hidden units.
#
# Both bounds are a walk over a "dimension budget" d: Theorem 1 carries a
# count for every d (the compiled core's dynamic program), Montufar (2017) a
# single d = min(n0, n1, ..., n_l).  A layer of width n maps budget d to
# e = min(d, n - j) with weight C(n, j), j <= min(d, n) (Theorem 1), or to
# e = min(d, n) with weight sum_{j <= e} C(n, j) (Montufar).  The search
# below runs on that walk in floating point, every count divided by 2^units
# so that it stays in [0, 1], and only the ranked leaves are computed exactly.

#: Largest ``total_units`` that :func:`rank_architectures` accepts: its
#: search tables hold floats per (units, budget, depth), and past about a
#: thousand units counts divided by 2^units underflow, leaving nothing to
#: prune on.
MAX_DESIGN_UNITS = 1000

#: The bounds :func:`rank_architectures` can rank by.
DESIGN_BOUNDS = ("serra2018", "montufar2017")

# A branch is pruned only when its float bound misses the incumbent by this
# relative margin, far above the rounding of the tables (about units * depth
# ulps, under 1e-10 at MAX_DESIGN_UNITS), so no ranked architecture is lost.
_PRUNE_SLACK = 1e-8
# ... and by this absolute margin on the normalised scale: below it a term
# may have underflowed, which would make the float bound too small.
_PRUNE_FLOOR = 1e-300


@dataclass(frozen=True)
class ArchitectureRanking:
    """Architectures of a fixed number of hidden units, best bound first.

    Iterating, indexing and ``len`` act on :attr:`entries`, so a ranking reads
    as the list of ``(widths, bound)`` pairs.

    Attributes
    ----------
    entries : tuple of (tuple of int, Bound)
        The ranked architectures, best first; equal bounds in lexicographic
        order of the widths.
    exact : bool
        True when the search finished, which proves that ``entries`` are the
        top architectures of all ``n_compositions``; False when it stopped at
        ``node_limit`` and ``entries`` are only the best it had seen.
    n_compositions : int
        How many architectures (compositions of the units into the allowed
        depths) there are.
    nodes : int
        How many width prefixes the search expanded.
    """

    entries: tuple[tuple[tuple[int, ...], Bound], ...]
    exact: bool
    n_compositions: int
    nodes: int

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, index):
        return self.entries[index]


def even_widths(total_units, depth) -> tuple[int, ...]:
    """``total_units`` split into ``depth`` layers as evenly as possible.

    The remainder goes one unit each to the first layers, where the bounds
    value width most.

    Examples
    --------
    >>> from pyregions import bounds
    >>> bounds.even_widths(11, 3)
    (4, 4, 3)
    """
    total_units = check_int(total_units, "total_units", minimum=1)
    depth = check_int(depth, "depth", minimum=1)
    if depth > total_units:
        msg = f"depth={depth} needs at least {depth} units, got total_units={total_units}"
        raise ValueError(msg)
    base, extra = divmod(total_units, depth)
    return tuple(base + 1 if layer < extra else base for layer in range(depth))


class _Layers:
    """The budget walk of one bound, for every width up to ``n_units``.

    Budgets are 0..n_budgets-1 (n_budgets = min(n0, units) + 1: a budget above
    the remaining units acts as that many).  ``B[n, e]`` is C(n, e) / 2^n,
    ``S`` its prefix sums over e and ``T[n, e] = sum_{j > e} B[n, j]``, the
    share of a layer's patterns that a budget e cuts off; T is summed from the
    tail rather than taken as 1 - S so that a tiny share keeps its digits.
    """

    def __init__(self, bound: str, n_budgets: int, n_units: int):
        self.theorem1 = bound == "serra2018"
        self.n_budgets = n_budgets
        full = np.zeros((n_units + 1, n_units + 1))
        full[0, 0] = 1.0
        for n in range(1, n_units + 1):
            # Pascal's rule halved: exact up to one rounding per row, and
            # underflows to 0 instead of overflowing for long rows.
            full[n, 1:] = 0.5 * (full[n - 1, :-1] + full[n - 1, 1:])
            full[n, 0] = 0.5 * full[n - 1, 0]
        tails = np.cumsum(full[:, ::-1], axis=1)[:, ::-1]
        self.B = full[:, :n_budgets]
        self.S = np.cumsum(self.B, axis=1)
        self.T = np.hstack([tails, np.zeros((n_units + 1, 1))])[:, 1 : n_budgets + 1]

    def forward(self, v: np.ndarray, widths: np.ndarray):
        """Budget counts after one more layer of each width, and the share lost.

        ``v`` holds the counts per budget; returns an array of shape
        (len(widths), n_budgets) and one of shape (len(widths),).
        """
        e = np.arange(self.n_budgets)[None, :]
        n = widths[:, None]
        # suffix[k] = sum_{d >= k} v[d], zero past the last budget.
        suffix = np.concatenate([np.cumsum(v[::-1])[::-1], np.zeros(self.n_budgets + 1)])
        if self.theorem1:
            # e = d while j <= n - d; e = n - j < d otherwise (see the core).
            stay = np.where(e <= n, self.S[n, np.minimum(e, np.maximum(n - e, 0))], 0.0)
            moved = suffix[np.minimum(np.maximum(e + 1, n - e), self.n_budgets)]
            after = self.B[n, e] * moved + v * stay
        else:
            after = np.where(e < n, v * self.S[n, e], 0.0)
            at_width = widths < self.n_budgets
            after[at_width, widths[at_width]] = suffix[widths[at_width]]
        lost = self.T[widths[:, None], np.minimum(e, n)] @ v
        return after, lost

    def backward(self, widths: np.ndarray, ahead, n_rows: int) -> np.ndarray:
        """For budgets d < n_rows: sum over e of (weight of d -> e) * ahead(e).

        ``ahead(budgets)`` maps an int array of shape (len(widths), m), one row
        per width, to the value of the rest of the network at those budgets,
        of shape (len(widths), m, k) for k quantities at once; the result has
        shape (len(widths), n_rows, k).
        """
        d = np.arange(n_rows)[None, :]
        n = widths[:, None]
        if not self.theorem1:
            cap = np.minimum(d, n)
            return self.S[n, cap][..., None] * ahead(cap)
        at = ahead(np.broadcast_to(d, (len(widths), n_rows)))
        terms = self.B[n, d][..., None] * at
        full = terms.sum(axis=1, keepdims=True)
        # Budgets e in [n - d, d - 1] keep e: as d grows by one the window
        # gains e = d - 1 and e = n - d, so it is a running sum of positive
        # terms (no cancellation), and B[n, n - d] = B[n, d].
        grow = np.zeros_like(terms)
        grow[:, 1:] = np.where((d - 1 >= n - d)[:, 1:, None], terms[:, :-1], 0.0)
        mirror = (n - d).clip(0, n_rows - 1)
        grow += np.where((d - 1 > n - d)[..., None], self.B[n, d][..., None] * ahead(mirror), 0.0)
        stay = self.S[n, np.minimum(d, (n - d).clip(min=0))][..., None]
        return np.where((d >= n)[..., None], full, at * stay + np.cumsum(grow, axis=1))

    def cut(self, widths: np.ndarray, n_rows: int) -> np.ndarray:
        """T[n, min(d, n)] for budgets d < n_rows: the share each d loses."""
        return self.T[widths[:, None], np.minimum(np.arange(n_rows)[None, :], widths[:, None])]


def _relaxation(layers: _Layers, n_units: int, n_levels: int, limited: bool) -> np.ndarray:
    """Upper bounds on the best completion from each budget, and deficits.

    ``tables[r, d, 0, l]`` bounds, over every way to finish the network with
    r units in at most l layers (any number when not ``limited``, then l = 0),
    the bound reached from budget d, divided by 2^r.  It lets every budget
    choose its own best next width (the maximum moves inside the sum), so it
    is admissible, and exact for Montufar (2017), whose walk has one budget.
    ``tables[r, d, 1, l]`` is the same relaxation of 1 - value summed as
    positive terms, precise where the value is within rounding of 1.

    Only budgets d <= min(r, n_units - r) are filled: a budget above r acts as
    r, and one above n_units - r cannot occur, since the budget never exceeds
    the units already placed.  Row r = n_units, the root, is not needed.
    """
    tables = np.zeros((n_units + 1, layers.n_budgets, 2, n_levels))
    tables[:, :, 1, :] = 1.0
    tables[0, :, :, :] = [[1.0], [0.0]]
    source = slice(0, n_levels - 1) if limited else slice(0, 1)
    target = slice(1, n_levels) if limited else slice(0, 1)
    for units in range(1, n_units):
        widths = np.arange(1, units + 1)
        left = (units - widths)[:, None]

        def ahead(budgets):
            gathered = tables[left, np.minimum(budgets, left)][..., source]
            return gathered.reshape(*budgets.shape, -1)

        n_rows = min(layers.n_budgets, units + 1, n_units - units + 1)
        best = layers.backward(widths, ahead, n_rows).reshape(units, n_rows, 2, -1)
        best[:, :, 1] += layers.cut(widths, n_rows)[..., None]
        tables[units, :n_rows, 0, target] = best[:, :, 0].max(axis=0)
        tables[units, :n_rows, 1, target] = best[:, :, 1].min(axis=0)
    return tables


def _exact_bound(bound: str, n_inputs: int, widths: tuple[int, ...], log10=False):
    if bound == "serra2018":
        return _core.serra2018_upper(n_inputs, list(widths), [], log10)
    return _core.arrangement_product(list(widths), _prefix_minima(n_inputs, widths), log10)


class _BranchAndBound:
    """Depth-first search over width prefixes, keeping the ``top`` best.

    A prefix is expanded only if the relaxation says some completion could
    still enter the ranking; leaves are ranked by their exact bound.
    """

    def __init__(self, bound, n_inputs, n_units, depths, top):
        self.bound, self.n_inputs, self.n_units = bound, n_inputs, n_units
        self.shallowest, self.deepest = depths.start, depths.stop - 1
        self.top = top
        self.limited = self.deepest < n_units
        self.layers = _Layers(bound, min(n_inputs, n_units) + 1, n_units)
        n_levels = self.deepest + 1 if self.limited else 1
        self.tables = _relaxation(self.layers, n_units, n_levels, self.limited)
        self.ranked: list[tuple[int, tuple[int, ...]]] = []
        self.ceiling = 1 << n_units  # 2^units, every bound's maximum

    def run(self, node_limit: int) -> tuple[list[tuple[int, tuple[int, ...]]], bool, int]:
        # Equal widths are good guesses: a full ranking from the start prunes
        # more, and it breaks up the ties at 2^units of Montufar's bound.
        for depth in range(self.shallowest, self.deepest + 1):
            guess = even_widths(self.n_units, depth)
            self._offer(_exact_bound(self.bound, self.n_inputs, guess), guess)
        root = np.zeros(self.layers.n_budgets)
        root[-1] = 1.0
        stack = [((), root, 0.0, self.n_units, 1.0, 0.0)]
        nodes = 0
        while stack:
            prefix, counts, lost, units, upper, shortfall = stack.pop()
            # The ranking may have improved since this prefix was pushed.
            if prefix and self._pruned(
                prefix[:-1], np.array(prefix[-1:]), np.array([upper]), np.array([shortfall])
            )[0]:
                continue
            if nodes == node_limit:
                return self.ranked, False, nodes
            nodes += 1
            stack.extend(reversed(self._children(prefix, counts, lost, units)))
        return self.ranked, True, nodes

    def _children(self, prefix, counts, lost, units):
        """Offer the leaf child to the ranking; return the inner ones to expand, best first."""
        depth = len(prefix) + 1
        still_needed = max(self.shallowest - depth, 1)
        inner = np.arange(1, units - still_needed + 1) if depth < self.deepest else np.arange(0)
        leaf = self.shallowest <= depth <= self.deepest
        widths = np.append(inner, units) if leaf else inner
        after, cut = self.layers.forward(counts, widths)
        lost = lost + cut
        left = units - widths
        level = self.deepest - depth if self.limited else 0
        budgets = np.minimum(np.arange(self.layers.n_budgets)[None, :], left[:, None])
        completion = self.tables[left[:, None], budgets, :, level]
        upper = (after * completion[..., 0]).sum(axis=1)
        shortfall = lost + (after * completion[..., 1]).sum(axis=1)
        if leaf and not self._pruned(prefix, widths[-1:], upper[-1:], shortfall[-1:])[0]:
            complete = (*prefix, units)
            self._offer(_exact_bound(self.bound, self.n_inputs, complete), complete)
        n_inner = len(inner)
        upper, shortfall = upper[:n_inner], shortfall[:n_inner]
        keep = ~self._pruned(prefix, inner, upper, shortfall)
        # Most promising first, so that the ranking fills early and prunes more;
        # the deficit separates children whose value rounds to the same float.
        order = np.lexsort((inner, shortfall, -upper))
        return [
            ((*prefix, int(inner[i])), after[i], float(lost[i]), int(left[i]),
             float(upper[i]), float(shortfall[i]))
            for i in order
            if keep[i]
        ]

    def _pruned(self, prefix, widths, upper, shortfall) -> np.ndarray:
        """Which children ``prefix + (width,)`` cannot enter the ranking."""
        if len(self.ranked) < self.top:
            return np.zeros(len(widths), dtype=bool)
        worst_value, worst_widths = self.ranked[-1]
        below = worst_value / self.ceiling
        above = (self.ceiling - worst_value) / self.ceiling
        pruned = (below * (1 - _PRUNE_SLACK) - upper * (1 + _PRUNE_SLACK) > _PRUNE_FLOOR) | (
            shortfall * (1 - _PRUNE_SLACK) - above * (1 + _PRUNE_SLACK) > _PRUNE_FLOOR
        )
        if worst_value == self.ceiling:
            # Ties at the maximum 2^units can only enter the ranking by
            # preceding its last entry in lexicographic order.
            m = len(prefix)
            head = worst_widths[:m]
            if head < prefix or head == worst_widths == prefix:
                pruned[:] = True
            elif head == prefix:
                pruned |= widths > worst_widths[m]
        return pruned

    def _offer(self, value: int, widths: tuple[int, ...]) -> None:
        key = (-value, widths)
        ranked = self.ranked
        if len(ranked) == self.top and key >= (-ranked[-1][0], ranked[-1][1]):
            return
        if (value, widths) in ranked:  # a guess that the search meets again
            return
        position = bisect.bisect(ranked, key, key=lambda item: (-item[0], item[1]))
        ranked.insert(position, (value, widths))
        del ranked[self.top :]


def rank_architectures(
    n_inputs,
    total_units,
    *,
    depth=None,
    max_depth=None,
    bound="serra2018",
    top=10,
    node_limit=1_000_000,
) -> ArchitectureRanking:
    """Rank every split of ``total_units`` hidden units into layers by a bound.

    The architectures are the compositions n1 + ... + nL = ``total_units``
    with each n_l >= 1, of exactly ``depth`` layers, of 1 to ``max_depth``
    layers, or of any depth when neither is given.  Their number grows like
    2^(total_units - 1), so they are not enumerated: a depth-first branch and
    bound over width prefixes keeps the ``top`` best, pruning a prefix when an
    upper bound on every completion of it falls below the current last entry.

    That upper bound is a relaxation computed once by dynamic programming over
    (layers left, dimension budget, units left) in which each budget picks its
    own best continuation; it is exact for ``montufar2017`` and admissible for
    ``serra2018``.  It is held in floats, but a prefix is pruned only when it
    falls short by a margin far above their rounding, and the ranked bounds
    are exact integers from the compiled core.  So when the search finishes
    the ranking is proven (``exact=True``); only when it stops after
    ``node_limit`` expanded prefixes is it the best seen so far
    (``exact=False``).

    Parameters
    ----------
    n_inputs : int
        Input dimension n0, at least 1.
    total_units : int
        Hidden units to distribute, 1 to ``MAX_DESIGN_UNITS``.
    depth : int, optional
        Rank only networks of exactly this many hidden layers.
    max_depth : int, optional
        Rank networks of 1 to ``max_depth`` hidden layers.  At most one of
        ``depth`` and ``max_depth`` may be given.
    bound : {"serra2018", "montufar2017"}, default="serra2018"
        Theorem 1 of Serra et al. (2018), or Montufar (2017).
    top : int, default=10
        How many architectures to return (fewer if fewer exist).
    node_limit : int, default=1_000_000
        Stop after expanding this many prefixes.

    Returns
    -------
    ArchitectureRanking
        A sequence of ``(widths, Bound)``, best first: larger bound first,
        equal bounds in lexicographic order of the widths; with the fields
        ``exact``, ``n_compositions`` and ``nodes``.

    Raises
    ------
    ValueError
        If an argument is not an integer in range, both ``depth`` and
        ``max_depth`` are given, ``depth`` exceeds ``total_units`` or
        ``bound`` is unknown.

    Notes
    -----
    For n0 = 1, Theorem 1 equals prod_l (n_l + 1) whenever every n_l >= 2,
    and for n_l >= 3 this is the exact maximum number of regions, attained
    by the networks of Serra et al. (2018); so those entries rank the true
    maxima (:func:`one_input_maximum`).  A layer of width 1 caps every later
    budget at 0 or 1, and Theorem 1 accounts for it.

    Examples
    --------
    >>> from pyregions import bounds
    >>> ranking = bounds.rank_architectures(1, 12, depth=4, top=2)
    >>> [(widths, b.value) for widths, b in ranking]
    [((3, 3, 3, 3), 256), ((2, 3, 3, 4), 240)]
    >>> ranking.exact
    True
    """
    n_inputs = check_int(n_inputs, "n_inputs", minimum=1)
    total_units = check_int(total_units, "total_units", minimum=1)
    if total_units > MAX_DESIGN_UNITS:
        msg = f"total_units must be <= {MAX_DESIGN_UNITS}, got {total_units}"
        raise ValueError(msg)
    if bound not in DESIGN_BOUNDS:
        msg = f"bound must be one of {', '.join(DESIGN_BOUNDS)}; got {bound!r}"
        raise ValueError(msg)
    top = check_int(top, "top", minimum=1)
    node_limit = check_int(node_limit, "node_limit", minimum=1)
    if depth is not None and max_depth is not None:
        msg = f"give depth or max_depth, not both; got depth={depth!r}, max_depth={max_depth!r}"
        raise ValueError(msg)
    if depth is not None:
        depth = check_int(depth, "depth", minimum=1)
        if depth > total_units:
            msg = f"depth={depth} needs at least {depth} units, got total_units={total_units}"
            raise ValueError(msg)
        depths = range(depth, depth + 1)
    elif max_depth is not None:
        depths = range(1, min(check_int(max_depth, "max_depth", minimum=1), total_units) + 1)
    else:
        depths = range(1, total_units + 1)
    search = _BranchAndBound(bound, n_inputs, total_units, depths, top)
    ranked, exact, nodes = search.run(node_limit)
    entries = []
    for value, widths in ranked:
        # log10 from the core, as all_bounds reports it.
        log = _exact_bound(bound, n_inputs, widths, log10=True)
        entries.append((widths, Bound(value if log < MAX_EXACT_DIGITS - 1 else None, log)))
    n_compositions = sum(math.comb(total_units - 1, layers - 1) for layers in depths)
    return ArchitectureRanking(tuple(entries), exact, n_compositions, nodes)


def network_bound(network, box, *, log10=False):
    """Theorem 1 of Serra et al. (2018) tightened by the weights, over a box.

    An upper bound on the number of linear regions of ``network`` in ``box``
    (so on :func:`~pyregions.count_regions` at any ``tol``) that is never
    above :func:`serra2018` for the same architecture, with or without its
    ranks.  It reads three things off the network.

    *Stable units.*  Over the box, the pre-activation bounds of
    :func:`~pyregions.preactivation_bounds` (``method="lp"``) split layer l
    into A_l stably active units (a_l of them), I_l stably inactive ones and
    U_l unstable ones (u_l).  A stable unit is no hyperplane of any region:
    an inactive one outputs 0 everywhere, an active one is affine everywhere
    and only passes dimension on.  Only the u_l unstable units split.

    *Ranks.*  The image of the box under layers 1..l-1 lies in the
    coordinates P_{l-1} of the units that are not stably inactive (for l = 1,
    the inputs the box does not fix), so only the columns P_{l-1} of W^l
    matter.  Let r_U, r_A and r_l be the ranks of W^l[U_l, P_{l-1}],
    W^l[A_l, P_{l-1}] and W^l[A_l + U_l, P_{l-1}] (numerical ranks, as
    :func:`serra2018` computes them).

    *The recurrence.*  Take a region R of layers 1..l-1 whose image in
    h^{l-1} has dimension at most d.  Within R the unstable units are
    affine functions of that image whose gradients span at most
    k = min(d, r_U) dimensions, so they cut R into at most
    sum_{j <= k} C(u_l, j) pieces (an arrangement of u_l hyperplanes that is
    a cylinder over k dimensions [4]_); distinct pieces have distinct
    patterns, so at most C(u_l, j) of them have exactly j inactive unstable
    units.  On such a piece the active units are A_l and u_l - j unstable
    ones, and rank(W[A + S]) <= rank(W[A]) + |S|, so its image in h^l has
    dimension at most

    .. math::

        f_l(d, j) = \\min(d,\\; r_l,\\; r_A + u_l - j),

    non-increasing in j.  The number of regions below a piece grows with
    its dimension, so with at most C(u_l, j) pieces for each j and at most
    sum_{j <= k} C(u_l, j) in all, the worst case fills the smallest j
    first: C(u_l, j) pieces for each j <= k (the argument of Theorem 1).
    With G_{L+1} = 1 and d_0 the number of inputs the box leaves free,

    .. math::

        G_l(d) = \\sum_{j=0}^{\\min(d, r_U)} \\binom{u_l}{j}\\,
            G_{l+1}\\bigl(f_l(d, j)\\bigr), \\qquad
        \\text{regions} \\le G_1(d_0).

    Term by term this is at most Theorem 1's recurrence with ranks
    (u_l <= n_l, k <= min(d, rank W^l), f_l(d, j) <= min(d, rank W^l,
    n_l - j), d_0 <= n_0), hence never above it.  A layer whose units are
    all stable multiplies nothing and passes min(d, r_A) on; a network
    stable everywhere gets 1, its one region.

    Parameters
    ----------
    network : Network
    box : Box
        A bounded input domain matching ``network.n_inputs``.
    log10 : bool, default=False
        Return log10 of the bound as a float instead of the exact int.

    Returns
    -------
    int or float

    Raises
    ------
    TypeError
        When ``network`` or ``box`` is of the wrong type.
    ShapeError
        When the box does not match the network.
    UnsupportedLayerError
        When a hidden layer is not ReLU (use :func:`maxout`).

    Examples
    --------
    >>> import numpy as np
    >>> from pyregions import Box, Network, bounds
    >>> net = Network([np.array([[1.0], [-1.0], [1.0]])], [np.array([0.0, 0.5, 5.0])])
    >>> bounds.network_bound(net, Box(-1, 1))  # the third unit is always active
    3
    >>> bounds.serra2018(1, [3])
    4
    """
    # Imported here, not at the top: tightening solves LPs with HiGHS and
    # sits a layer above this module, whose other bounds need no solver.
    from .tightening import check_network_and_box, preactivation_bounds

    check_network_and_box(network, box)
    for index, layer in enumerate(network.layers):
        if layer.activation != "relu":
            # A maxout unit is k(k-1)/2 hyperplanes, not one: see maxout().
            msg = f"layer {index} ({type(layer).__name__}): network_bound supports ReLU layers only"
            raise UnsupportedLayerError(msg)
    lower, upper = box.bounds(network.n_inputs)
    pre = preactivation_bounds(network, box, method="lp")
    columns = lower < upper
    layers = []
    for layer, active, inactive in zip(network.layers, pre.stably_active, pre.stably_inactive):
        W = layer.weights[:, columns]
        unstable = ~active & ~inactive
        layers.append(
            (int(unstable.sum()), _rank(W[unstable]), _rank(W[active]), _rank(W[~inactive]))
        )
        columns = ~inactive
    value = _stable_recurrence(int(np.count_nonzero(lower < upper)), layers)
    return math.log10(value) if log10 else value


def _rank(matrix: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(matrix)) if matrix.size else 0


def _stable_recurrence(n_free: int, layers: Sequence[tuple[int, int, int, int]]) -> int:
    """G_1(n_free) of :func:`network_bound`, in exact integers.

    ``layers`` holds ``(u_l, r_U, r_A, r_l)`` per layer.  The compiled core
    has no such variant; the dynamic program over the budget d costs
    O(sum_l n_l^2) big-integer operations, fine for a few hundred units.
    """
    counts = {n_free: 1}  # budget d -> weighted number of pieces
    for unstable, rank_unstable, rank_active, rank_all in layers:
        binomials = [math.comb(unstable, j) for j in range(unstable + 1)]
        after: dict[int, int] = {}
        for budget, count in counts.items():
            for j in range(min(budget, rank_unstable) + 1):
                e = min(budget, rank_all, rank_active + unstable - j)
                after[e] = after.get(e, 0) + count * binomials[j]
        counts = after
    return sum(counts.values())
