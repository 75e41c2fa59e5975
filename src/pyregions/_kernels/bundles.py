"""The compiled search's arguments (:func:`pyregions._kernels.layer_search.search`),
in four bundles: the network, the path to the current node, the node, and
the limits, with two more for its kept bases and its LPs' scratch; and the
polygon search's
(:func:`pyregions._kernels.polygon_search.search`), the same network and
its own limits.

The network's ``w`` hidden units are numbered layer by layer; the current
node is in layer ``L``; the input has ``n`` coordinates and the first layer
``m`` units.
"""

from __future__ import annotations

from collections import namedtuple

SearchNetwork = namedtuple(
    "SearchNetwork",
    "factor factored first_bias weight_starts weight_columns weight_values biases_stack widths "
    "stable walls order",
)
SearchNetwork.__doc__ = """The network, from the search's point of view.

factor, first_bias : arrays (m, n) and (m,)
    The first layer's weights and bias.
factored : bool
    Whether the simplex may work through ``factor``.
weight_starts, weight_columns, weight_values, biases_stack, widths :
    the network's hidden layers: layer ``l``'s nonzero weights by row (row
    ``i``'s from ``weight_starts[l, i]`` to ``weight_starts[l, i + 1]`` in
    the other two; a convolution's are few; layer 0's are ``factor``), its
    bias zero-padded in ``biases_stack[l]``.
stable : int8 array (w,)
    +1 or -1 for a unit stable over the box, 0 otherwise.
walls : bool array (w,)
    The units that are walls of the domain: only their active side is
    searched.
order : int64 array (w,)
    The units in search order, layer by layer.
"""

SearchPath = namedtuple(
    "SearchPath",
    "rows rhs coefficients k0 head_basis head_upper flippable row_depths row_bits row_layers row_scales",
)
SearchPath.__doc__ = """The rows of the path to the current node.

rows, rhs, coefficients : arrays of shapes (r, n), (r,), (r, m)
    The path's rows (of unit norm), their right-hand sides and their
    combinations of the first layer's weights, the first ``k0`` filled, with
    room after them for a row per unit still to decide.
head_basis, head_upper : a feasible basis of the path's first
    ``head_basis.shape[0]`` rows (at most ``k0``), its columns at their upper bound.
flippable, row_depths, row_bits, row_layers : arrays (k0,)
    Whether each path row's second child is still to come, its depth, its
    key in its layer (``2 * unit + state``, the unit counted in its layer)
    and its layer.
row_scales : array (k0,)
    ``sign / ||c||`` of each path row: its distance at a point is that
    times the unit's pre-activation.
"""

SearchNode = namedtuple("SearchNode", "C0 d0 G0 scale0 start_depth decided values")
SearchNode.__doc__ = """The current node.

C0, d0, G0 : layer ``L``'s affine map on the current region in input space
    (shapes (w_L, n), (w_L,)), and its linear part in first-layer
    pre-activations ((w_L, m)); ``G0`` has no columns when the simplex does
    not work through ``factor``, the only reader of ``G``.
scale0 : array (w_L,)
    The size of the terms summed into each row of ``C0``: a row within
    CANCELLATION of it is constant on the region.
start_depth : int
    The node's depth in ``order``: the units ``order[:start_depth]`` are
    decided, with states ``decided`` (bool array (w,)).
values : array (p, w)
    The units' pre-activations at the witnesses of the node.
"""

SearchLimits = namedtuple(
    "SearchLimits",
    "lower upper costs tol thin_tol max_flips across_capacity across_kept proofs_kept "
    "max_iterations check_tolerance budget",
)
SearchLimits.__doc__ = """The box (``lower``, ``upper``), the simplex's ``costs``, the margins
``tol`` and ``thin_tol``, and the constants of the Python search (fields of
:class:`pyregions.counting.settings.SearchSettings`: ``max_flips`` is its
``across_flips``, ``max_iterations`` its ``simplex_iteration_limit``,
``check_tolerance`` its ``simplex_check_tolerance``).

A leaf is thin when no point of it is ``thin_tol`` from its rows (only
looked for when ``thin_tol > tol``). At most ``across_kept`` points across
each row are kept, so the loop's memory is bounded by its depth. ``budget``
is the number of nodes the search may visit besides the current one before
it stops.
"""

KeptBases = namedtuple("KeptBases", "columns tight keys sizes uppers made")
KeptBases.__doc__ = """Feasible bases kept by the compiled search to warm-start LPs from
(:mod:`pyregions._kernels.bases`), one per slot: the head's in slot 0, the
latest feasible ones in a ring, then the latest made at each depth. A
slot's basic columns (the first ``sizes[slot]``; -1: none kept there yet),
its tight rows and their keys, and its columns at their upper bound;
``made[0]`` counts the bases kept, so the ring's next slot follows from it.
"""

NodeLP = namedtuple("NodeLP", "point multipliers")
NodeLP.__doc__ = """Where a node's LP (:func:`pyregions._kernels.bases.solve_lp`) leaves its
point, or its multipliers proving emptiness.
"""

PolygonLimits = namedtuple("PolygonLimits", "lower upper tol thin_tol check_tolerance")
PolygonLimits.__doc__ = """The box (``lower``, ``upper``, two coordinates) and the margins
``tol`` and ``thin_tol`` of the polygon search
(:func:`pyregions._kernels.polygon_search.search`), and the tolerance to
which the LP search checks its LPs' points (``check_tolerance``, the
``simplex_check_tolerance`` of :class:`pyregions.counting.settings.SearchSettings`),
by which it relaxes each row.
"""
