"""Theorem 1 of Serra et al. (2018) tightened by a network's weights over a box."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..exceptions import UnsupportedLayerError

__all__ = ["network_bound"]


def network_bound(network, box, *, log10=False):
    """Theorem 1 of Serra et al. (2018) tightened by the weights, over a box.

    An upper bound on the number of linear regions of ``network`` in ``box``
    (so on :func:`~pyregions.count_regions` at any ``tol``) that is never
    above :func:`~pyregions.bounds.serra2018` for the same architecture,
    with or without its ranks.

    Stable units (by the pre-activation bounds of
    :func:`~pyregions.preactivation_bounds`, ``method="lp"``) split nothing,
    and each layer's unstable and active units are taken with the ranks of
    their weights on the coordinates that earlier layers leave alive; with
    ``u_l`` unstable units, ``d_0`` free inputs and ranks ``r_U, r_A, r_l``,

    .. math::

        G_l(d) = \\sum_{j=0}^{\\min(d, r_U)} \\binom{u_l}{j}\\,
            G_{l+1}\\bigl(\\min(d, r_l, r_A + u_l - j)\\bigr), \\qquad
        \\text{regions} \\le G_1(d_0),

    term by term at most Theorem 1's recurrence with ranks. The proof is in
    ``docs/design-notes.md`` ("The bound of a network over a box").

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
    from ..tightening import check_network_and_box, preactivation_bounds

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
