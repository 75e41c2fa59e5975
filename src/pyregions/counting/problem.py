"""What a tree search needs: the network in the box's free coordinates,
the units' stability, the search order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..network import Network
from ..tightening import PreactivationBounds

__all__ = ["WALL", "WALL_MARGIN", "TreeProblem"]

# Code in TreeProblem.stable of a unit that is a wall of the domain (a face
# of a slice of the box): only its active side is searched.
WALL = 2
# Faces of a slice's box closer than this to its bounding box are kept as walls.
WALL_MARGIN = 1e-9


@dataclass(frozen=True, eq=False)
class TreeProblem:
    """What a tree search needs, in the box's free coordinates.

    Inputs fixed by the box (``lower == upper``) are folded into the first
    layer's bias, so the search and its distances live in the box's own
    affine hull, where "nonempty interior" is meant. A maxout layer's
    weights are stored flat, one row per piece: row ``i * k + p`` is piece
    ``p`` of unit ``i``.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    lower: np.ndarray
    upper: np.ndarray
    stable: np.ndarray  # per hidden unit: +1 stably active, -1 stably inactive, 0 split (or maxout)
    tol: float
    order: tuple[int, ...]  # hidden units in search order, layer by layer
    pieces: tuple[int, ...]  # per layer: 1 for ReLU, the rank k for maxout
    # Per layer: None for ReLU; for maxout, bool (n, k), the pieces that can win in the box.
    candidates: tuple[np.ndarray | None, ...]
    # Leaves with no point at this distance from their walls are thin.
    thin_tol: float = 0.0

    @classmethod
    def build(
        cls,
        network: Network,
        lower: np.ndarray,
        upper: np.ndarray,
        pre_bounds: PreactivationBounds,
        tol: float,
        order: Sequence[int] | None = None,
        *,
        thin_tol: float = 0.0,
    ) -> TreeProblem:
        free = lower < upper
        flat = [
            (layer.weights.reshape(-1, layer.n_inputs), layer.bias.ravel())
            for layer in network.layers
        ]
        W0, b0 = flat[0]
        weights = (np.ascontiguousarray(W0[:, free]),) + tuple(W for W, _ in flat[1:])
        biases = (b0 + W0[:, ~free] @ lower[~free],) + tuple(b for _, b in flat[1:])
        stable = np.concatenate(pre_bounds.stable_at(tol))
        pieces = tuple(getattr(layer, "rank", 1) for layer in network.layers)
        candidates = tuple(
            None if k == 1 else ~pre_bounds.never_wins[layer] for layer, k in enumerate(pieces)
        )
        n_hidden = network.n_hidden
        order = tuple(range(n_hidden)) if order is None else tuple(order)
        layer_of = np.repeat(np.arange(len(network.widths)), network.widths)
        if sorted(order) != list(range(n_hidden)) or np.any(np.diff(layer_of[list(order)]) < 0):
            msg = "order must list every hidden unit once, layer by layer"
            raise ValueError(msg)
        return cls(
            weights, biases, lower[free], upper[free], stable, float(tol), order, pieces,
            candidates, float(thin_tol),
        )

    def with_walls(self, rows: np.ndarray, rhs: np.ndarray) -> TreeProblem:
        """The problem on the polytope {x in box : rows @ x >= rhs}.

        Each row becomes a unit at the head of the first layer, marked
        ``WALL``: searched first, only on its inside, and read by no later
        layer.  The search then needs nothing else to honour the polytope.
        """
        if self.pieces[0] != 1:
            msg = "walls need a ReLU first layer"
            raise ValueError(msg)
        n = rows.shape[0]
        weights = (np.concatenate([rows, self.weights[0]]),) + self.weights[1:]
        if len(weights) > 1:
            second = self.weights[1]
            weights = weights[:1] + (
                np.concatenate([np.zeros((second.shape[0], n)), second], axis=1),
            ) + self.weights[2:]
        biases = (np.concatenate([-rhs, self.biases[0]]),) + self.biases[1:]
        stable = np.concatenate([np.full(n, WALL, np.int8), self.stable])
        order = tuple(range(n)) + tuple(unit + n for unit in self.order)
        return replace(self, weights=weights, biases=biases, stable=stable, order=order)

    @property
    def n_hidden(self) -> int:
        return self.stable.shape[0]

    @property
    def checks_thin(self) -> bool:
        """Whether a leaf can be thin: below ``tol`` no counted region is."""
        return self.thin_tol > self.tol

    @property
    def widths(self) -> list[int]:
        """Units per hidden layer."""
        return [b.shape[0] // k for b, k in zip(self.biases, self.pieces)]

    @property
    def layer_of(self) -> np.ndarray:
        """The layer of each hidden unit."""
        return np.repeat(np.arange(len(self.pieces)), self.widths)

    @property
    def maxout(self) -> bool:
        """Whether any layer is maxout; patterns are then int8 states."""
        return max(self.pieces) > 1

    @property
    def pattern_dtype(self) -> type:
        return np.int8 if self.maxout else np.bool_

    @property
    def max_rows(self) -> int:
        """The most rows a search path can hold: one per ReLU unit, k - 1 per
        maxout unit of rank k."""
        return sum(n * max(k - 1, 1) for n, k in zip(self.widths, self.pieces))

    def preactivations(self, points: np.ndarray) -> np.ndarray:
        """All hidden pre-activations at ``points`` (free coordinates).

        Column ``u`` is unit ``u``'s pre-activation for a ReLU unit, its
        winning piece (first on a tie) for a maxout unit. With maxout layers,
        the value of every piece follows, layer by layer, in the flat order.
        """
        return self.propagate(points @ self.weights[0].T + self.biases[0])

    def propagate(self, first_layer: np.ndarray) -> np.ndarray:
        """:meth:`preactivations` from the first layer's (flat, per piece)."""
        columns, pieces = [], []
        a = first_layer
        for layer, k in enumerate(self.pieces):
            if k == 1:
                columns.append(a)
                h = np.maximum(a, 0.0)
            else:
                by_unit = a.reshape(a.shape[0], a.shape[1] // k, k)
                columns.append(np.argmax(by_unit, axis=2).astype(np.float64))
                pieces.append(a)
                h = by_unit.max(axis=2)
            if layer + 1 < len(self.pieces):
                a = h @ self.weights[layer + 1].T + self.biases[layer + 1]
        return np.concatenate(columns + pieces, axis=1)
