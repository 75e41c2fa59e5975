"""The bridge from the Python tree search to the compiled one
(:func:`pyregions._kernels.layer_search.search`), which takes over the search
of a ReLU network below a node: it hands over the path, the witnesses and
the LP's basis, and takes back the regions, the points put across and the
nodes left unvisited.
"""

from __future__ import annotations

import numpy as np

from .._affine import layer_map
from .._kernels import callbacks as _callbacks
from .._kernels import layer_search as _layer_search
from .._kernels.bundles import SearchLimits, SearchNetwork, SearchNode, SearchPath
from .problem import WALL
from .results import Interrupted, OverBudget

__all__ = ["CompiledLayers"]


class CompiledLayers:
    """The layers of a search's problem, for the compiled search, which
    takes every layer of a ReLU network (a slice's walls among them).

    It is also what the compiled search calls back: ``lp.undecided`` for an
    LP its simplex leaves undecided, and :meth:`layer_tick`.
    """

    def __init__(self, search):
        self.search = search
        self.lp = search.lp
        problem = search.problem
        # Every hidden layer's nonzero weights by row, and biases zero-padded to one shape.
        widths = problem.widths
        widest = max(widths)
        self.weight_starts = np.zeros((len(widths), widest + 1), np.int64)
        self.biases_stack = np.zeros((len(widths), widest))
        columns, values = [np.empty(0, np.int64)], [np.empty(0)]
        for later in range(1, len(widths)):
            W = problem.weights[later]
            rows, row_columns = np.nonzero(W)
            per_row = np.bincount(rows, minlength=widest)
            offset = self.weight_starts[later - 1, -1]
            self.weight_starts[later] = offset + np.concatenate([[0], np.cumsum(per_row)])
            columns.append(row_columns.astype(np.int64))
            values.append(W[rows, row_columns])
            self.biases_stack[later, : W.shape[0]] = problem.biases[later]
        self.weight_columns = np.concatenate(columns)
        self.weight_values = np.concatenate(values)

    @classmethod
    def below(cls, search) -> CompiledLayers | None:
        """The compiled layers of ``search``'s problem, None if it has maxout layers."""
        if search.problem.maxout or not search.settings.compiled_search:
            return None
        return cls(search)

    def search_below(self, depth: int, witnesses: np.ndarray) -> None:
        """Search every node below the search's node at ``depth``, compiled."""
        search, problem = self.search, self.search.problem
        layer = int(search.layer_of[search.order[depth]])
        if depth == search.offset[layer]:
            search.enter_layer(layer)
        C, d = search.maps[layer]
        k = len(search.row_ids)
        room = k + problem.n_hidden
        coefficients = np.zeros((room, problem.weights[0].shape[0]))
        factored = search.lp.pseudo_inverse is not None
        if factored:
            coefficients[:k] = search.rows[:k] @ search.lp.pseudo_inverse
            G = self._first_layer_map(layer)
        else:
            # Only the factored simplex reads the map in first-layer pre-activations.
            G = np.empty((C.shape[0], 0))
        basis, at_upper = search.lp.basis_for(search.row_ids)
        row_units = np.array([unit for unit, _ in search.row_keys], dtype=np.int64)
        row_states = np.array([state for _, state in search.row_keys], dtype=np.int64)
        row_layers = search.layer_of[row_units].astype(np.int64)
        row_bits = (2 * (row_units - search.offset[row_layers]) + row_states).astype(np.int64)
        budget = np.iinfo(np.int64).max if search.node_budget is None else search.node_budget - search.nodes
        tuning = search.settings
        network = self.network(factored)
        path = SearchPath(
            search.rows[:room], search.rhs[:room], coefficients, k, basis, at_upper,
            search.row_flippable[:k], search.depth_of_unit[row_units], row_bits, row_layers,
            search.row_scale[:k],
        )
        node = SearchNode(
            C, d, G, search.scales[layer], depth, search.pattern.astype(bool),
            np.ascontiguousarray(search.pre[witnesses, : problem.n_hidden]),
        )
        limits = SearchLimits(
            problem.lower, problem.upper, search.lp.costs, problem.tol, problem.thin_tol,
            tuning.across_flips, tuning.across_capacity, tuning.across_kept, tuning.proofs_kept,
            tuning.simplex_iteration_limit, tuning.simplex_check_tolerance, budget,
        )
        results, error = _callbacks.run_answered(self, _layer_search.search, network, path, node, limits)
        patterns, firsts, depths, nodes, solves, thin, status, unvisited, lengths = results
        search.lp.solves += solves
        search.thin += thin
        search.nodes += nodes - 1  # this node was counted by the Python search
        for row_depth in np.unique(depths):
            search.keep_across(row_depth, firsts[depths == row_depth])
        self.layer_found(patterns)
        if error is not None:
            raise error
        if status == _layer_search.INTERRUPTED:
            raise Interrupted
        if status == _layer_search.OVER_BUDGET:
            over = OverBudget(tuple(unvisited[0, : lengths[0]].tolist()))
            over.remaining.extend(
                tuple(states[:length].tolist()) for states, length in zip(unvisited[1:], lengths[1:])
            )
            raise over

    def network(self, factored: bool) -> SearchNetwork:
        """The network's bundle for a compiled search (``factored``: whether
        its simplex may work through the first layer's weights)."""
        search, problem = self.search, self.search.problem
        walls = problem.stable == WALL
        return SearchNetwork(
            problem.weights[0], factored, problem.biases[0], self.weight_starts,
            self.weight_columns, self.weight_values, self.biases_stack,
            np.array(problem.widths, dtype=np.int64), np.where(walls, 0, problem.stable).astype(np.int8),
            walls, search.order,
        )

    def layer_found(self, patterns: np.ndarray) -> None:
        """Record regions found by the compiled search."""
        found = self.search.found
        if not found.records:
            found.count += patterns.shape[0]
            return
        found.add(patterns)

    def layer_tick(self, nodes: int, solves: int, patterns: np.ndarray) -> int:
        """Progress and the clock for the compiled search, which has searched
        ``nodes`` and solved ``solves`` LPs in the current call and found
        ``patterns`` since its last tick; what it must do next
        (``_callbacks.GO_ON``, ``STOP`` or ``SPLIT``)."""
        self.layer_found(patterns)
        try:
            self.search.tick(0, nodes - 1, solves)
        except Interrupted:
            return _callbacks.STOP
        return _callbacks.SPLIT if self.search.split_asked(nodes - 1) else _callbacks.GO_ON

    def _first_layer_map(self, layer: int) -> np.ndarray:
        """The linear part ``G`` of the affine map of ``layer``'s
        pre-activations on the current region, in the first layer's
        pre-activations: ``G a + g``."""
        search, problem = self.search, self.search.problem
        G = np.eye(problem.weights[0].shape[0])
        g = np.zeros(G.shape[0])
        for earlier in range(1, layer + 1):
            states = search.pattern[search.offset[earlier - 1] : search.offset[earlier]]
            G, g, _ = layer_map(problem.weights[earlier], problem.biases[earlier], G, g, states)
        return G
