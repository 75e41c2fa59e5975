"""Design: ranking the architectures of a fixed number of hidden units by a bound.

Both bounds are a walk over a "dimension budget" d: Theorem 1 carries a
count for every d (the compiled core's dynamic program), Montufar (2017) a
single d = min(n0, n1, ..., n_l).  A layer of width n maps budget d to
e = min(d, n - j) with weight C(n, j), j <= min(d, n) (Theorem 1), or to
e = min(d, n) with weight sum_{j <= e} C(n, j) (Montufar).  The search
below runs on that walk in floating point, every count divided by 2^units
so that it stays in [0, 1], and only the ranked leaves are computed exactly.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from .. import _core
from .._validation import check_int
from .theorems import MAX_EXACT_DIGITS, Bound, _prefix_minima

__all__ = ["DESIGN_BOUNDS", "MAX_DESIGN_UNITS", "ArchitectureRanking", "even_widths", "rank_architectures"]


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

