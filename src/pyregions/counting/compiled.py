"""The bridge from the Python tree search to the compiled one
(:func:`pyregions._kernels.layer_search.search`), which takes over the deepest
layers of a ReLU network: it hands over the path, the witnesses and the LP's
basis, and takes back the regions, the points put across and the nodes left
unvisited.
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
    """The deepest layers of a search's problem that the compiled search can
    take (ReLU everywhere, few enough units, no walls of a slice among them:
    walls have one side only), from ``layer``, the unit at ``depth`` on.

    It is also what the compiled search calls back: ``lp.undecided`` for an
    LP its simplex leaves undecided, and :meth:`layer_tick`.
    """

    def __init__(self, search, layer: int):
        self.search = search
        self.lp = search.lp
        self.layer = layer
        problem = search.problem
        self.depth = int(search.offset[layer])
        self.units = slice(self.depth, problem.n_hidden)
        # Every hidden layer's weights, zero-padded to one shape.
        widths = problem.widths
        widest = max(widths)
        self.weights_stack = np.zeros((len(widths), widest, widest))
        self.biases_stack = np.zeros((len(widths), widest))
        for later in range(1, len(widths)):
            W = problem.weights[later]
            self.weights_stack[later, : W.shape[0], : W.shape[1]] = W
            self.biases_stack[later, : W.shape[0]] = problem.biases[later]

    @classmethod
    def below(cls, search) -> CompiledLayers | None:
        """The compiled layers of ``search``'s problem, None if there are none."""
        problem = search.problem
        widths = problem.widths
        first_compiled = None
        for layer in range(len(widths) - 1, -1, -1):
            if (
                problem.maxout or widths[layer] > _layer_search.MAX_WIDTH
                or np.any(problem.stable[search.offset[layer] : search.offset[layer + 1]] == WALL)
            ):
                break
            first_compiled = layer
        return None if first_compiled is None else cls(search, first_compiled)

    def search_below(self, depth: int, witnesses: np.ndarray) -> None:
        """Search every node below the search's node at ``depth``, compiled."""
        search, problem, first_unit = self.search, self.search.problem, self.depth
        layer = int(search.layer_of[search.order[depth]])
        if depth == search.offset[layer]:
            search.enter_layer(layer)
        C, d = search.maps[layer]
        G, g = self._first_layer_map(layer)
        k = len(search.row_ids)
        room = k + problem.n_hidden - first_unit
        coefficients = np.zeros((room, problem.weights[0].shape[0]))
        factored = search.lp.pseudo_inverse is not None
        if factored:
            coefficients[:k] = search.rows[:k] @ search.lp.pseudo_inverse
        basis, at_upper = search.lp.basis_for(search.row_ids)
        row_units = np.array([unit for unit, _ in search.row_keys], dtype=np.int64)
        row_states = np.array([state for _, state in search.row_keys], dtype=np.int64)
        row_layers = search.layer_of[row_units].astype(np.int64)
        row_bits = np.where(
            row_layers >= self.layer, 2 * (row_units - search.offset[row_layers]) + row_states, -1
        ).astype(np.int64)
        budget = np.iinfo(np.int64).max if search.node_budget is None else search.node_budget - search.nodes
        tuning = search.settings
        units = self.units
        network = SearchNetwork(
            problem.weights[0], factored, problem.biases[0], self.weights_stack,
            self.biases_stack, np.array(problem.widths, dtype=np.int64), self.layer,
            problem.stable[units].astype(np.int8), search.order[first_unit:] - first_unit,
        )
        path = SearchPath(
            search.rows[:room], search.rhs[:room], coefficients, k, basis, at_upper,
            search.row_flippable[:k], search.depth_of_unit[row_units], row_bits, row_layers,
            search.row_scale[:k],
        )
        node = SearchNode(
            C, d, G, g, search.scales[layer], depth - first_unit, search.pattern[units].astype(bool),
            np.ascontiguousarray(search.pre[witnesses, units]), self._distance_above(witnesses),
        )
        limits = SearchLimits(
            problem.lower, problem.upper, search.lp.costs, problem.tol, problem.thin_tol,
            tuning.across_flips, tuning.across_capacity, tuning.across_kept, tuning.proofs_kept,
            tuning.simplex_iteration_limit, tuning.simplex_check_tolerance, budget,
        )
        results, error = _layer_search.run(self, network, path, node, limits)
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
            above = search.prefix(first_unit)
            over = OverBudget(above + tuple(unvisited[0, : lengths[0]].tolist()))
            over.remaining.extend(
                above + tuple(states[:length].tolist()) for states, length in zip(unvisited[1:], lengths[1:])
            )
            raise over

    def layer_found(self, patterns: np.ndarray) -> None:
        """Record regions found by the compiled search: their states of the
        units it searched, the others as on the path."""
        found = self.search.found
        if not found.records:
            found.count += patterns.shape[0]
            return
        block = np.repeat(self.search.pattern[None, :], patterns.shape[0], axis=0)
        block[:, self.units] = patterns
        found.add(block)

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

    def _first_layer_map(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """The affine map of ``layer``'s pre-activations on the current
        region, in the first layer's pre-activations: ``G a + g``."""
        search, problem = self.search, self.search.problem
        G = np.eye(problem.weights[0].shape[0])
        g = np.zeros(G.shape[0])
        for earlier in range(1, layer + 1):
            states = search.pattern[search.offset[earlier - 1] : search.offset[earlier]]
            G, g, _ = layer_map(problem.weights[earlier], problem.biases[earlier], G, g, states)
        return G, g

    def _distance_above(self, witnesses: np.ndarray) -> np.ndarray:
        """Each witness's least distance from the path's rows of the layers
        before the compiled ones (inf if there are none)."""
        search = self.search
        k = len(search.row_ids)
        units = np.array([unit for unit, _ in search.row_keys], dtype=np.intp)
        above = search.layer_of[units] < self.layer if k else np.zeros(0, bool)
        if not above.any():
            return np.full(witnesses.shape[0], np.inf)
        return search.distances(witnesses, k)[:, above].min(axis=1)
