"""The Python tree search: depth-first over the units, in layer order.

It decides each child by witnesses, stored proofs of emptiness or an LP
(:mod:`.lp`), and hands a ReLU network's search to the compiled one
(:mod:`.compiled`), by polygons on two free coordinates (:mod:`.polygons`).
Its public methods are what :mod:`pyregions.estimation` walks one random
path at a time with.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence

import numpy as np

from .. import _kernels, _workers
from .._affine import layer_map
from .._kernels import across
from . import settings
from .lp import FeasibilityLP, Refutations
from .polygons import PolygonLayers
from .problem import WALL, TreeProblem
from .results import Found, Interrupted, OverBudget, Progress

__all__ = ["TreeSearch"]


@contextlib.contextmanager
def _recursion_room(frames: int):
    """Room for a search one Python frame per unit deep: a CNN has hundreds
    of units, and an image's plane a wall per face of the box it meets."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(previous + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


class TreeSearch:
    """Depth-first search of the activation tree of one :class:`TreeProblem`.

    Witness points are stored once, with every hidden pre-activation from a
    forward pass: a point inside a node's region has the node's pattern, so
    its pre-activation there *is* the next unit's affine function evaluated
    at it, and classifying it costs one lookup instead of an n0-long product.
    A node holds only the indices of its witnesses.
    """

    def __init__(
        self, problem: TreeProblem, rng: np.random.Generator, *, deadline=None, progress=None,
        node_budget=None, found: Found | None = None, split=None,
    ):
        self.problem = problem
        self.rng = rng
        self.deadline = deadline
        self.node_budget = node_budget
        self.split = split
        self.progress = progress
        self.settings = settings.SETTINGS
        self.lp = FeasibilityLP(
            problem.lower, problem.upper, int(rng.integers(2**31 - 1)), problem.weights[0]
        )
        n, n_hidden = problem.lower.shape[0], problem.n_hidden
        # Witness points are kept only as their pre-activations: nothing else
        # about them is ever read.
        self.pre = np.empty((0, problem.preactivations(problem.lower[None, :]).shape[1]))
        self.n_points = 0
        self.pattern = np.zeros(n_hidden, dtype=problem.pattern_dtype)
        self.rows = np.empty((problem.max_rows, n))
        self.rhs = np.empty(problem.max_rows)
        # Rows whose other side is a sibling still to be searched.
        self.row_flippable = np.zeros(problem.max_rows, dtype=bool)
        # Each row's distance at a witness, from its stored pre-activations:
        # scale * (pre[plus] - pre[minus]), minus -1 for a ReLU's row.
        self.row_plus = np.zeros(problem.max_rows, dtype=np.intp)
        self.row_minus = np.full(problem.max_rows, -1, dtype=np.intp)
        self.row_scale = np.zeros(problem.max_rows)
        self.thin = 0  # thin leaves found
        # (unit, state) of each row on the path: in one layer, and under the
        # same earlier layers, the same key always means the same row.
        self.row_keys: list[tuple[int, int]] = []
        self.row_ids: list[int] = []
        self.next_row_id = 0
        self.found = Found(n_hidden, problem.pattern_dtype) if found is None else found
        self.nodes = 0
        self.started = time.perf_counter()
        self.last_report = self.started
        layer_sizes = problem.widths
        self.layer_of = problem.layer_of
        self.offset = np.concatenate([[0], np.cumsum(layer_sizes)])
        # Per hidden unit: whether it is maxout, and its first piece column in self.pre.
        self.is_maxout = np.array([problem.pieces[layer] > 1 for layer in self.layer_of])
        piece_counts = [size * k if k > 1 else 0 for size, k in zip(layer_sizes, problem.pieces)]
        piece_start = n_hidden + np.concatenate([[0], np.cumsum(piece_counts)])
        self.piece_column = [
            int(piece_start[layer] + (unit - self.offset[layer]) * problem.pieces[layer])
            for unit, layer in enumerate(self.layer_of)
        ]
        # Effective affine map (C, d) of each layer on the current region.
        self.maps: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(layer_sizes)
        # Per layer: each row's norm, 0 where it is constant on the region
        # (_kernels.CANCELLATION); the norm as computed; the size of the
        # terms summed into it.
        self.norms: list[np.ndarray | None] = [None] * len(layer_sizes)
        self.raw_norms: list[np.ndarray | None] = [None] * len(layer_sizes)
        self.scales: list[np.ndarray | None] = [None] * len(layer_sizes)
        self.order = np.array(problem.order, dtype=np.intp)
        ordered_layers = self.layer_of[self.order]
        self.layer_starts = set(np.flatnonzero(ordered_layers[1:] != ordered_layers[:-1]) + 1)
        self.depth_of_unit = np.empty(n_hidden, dtype=np.intp)
        self.depth_of_unit[self.order] = np.arange(n_hidden)
        # Per depth: first-layer pre-activations of points found across that
        # depth's row, for its second child.
        self.across: list[list[np.ndarray]] = [[] for _ in range(n_hidden)]
        self.across_out = np.empty((self.settings.across_capacity, problem.weights[0].shape[0]))
        self.across_rows = np.empty(self.settings.across_capacity, dtype=np.int64)
        # Rows on the path when each layer was entered.
        self.layer_rows = [0] * len(layer_sizes)
        self.refuted = Refutations(self.settings.proofs_kept)
        self.compiled = PolygonLayers.below(self)

    def run(
        self, prefix: Sequence[int] = (), stop_depth: int | None = None, samples: int | None = None
    ) -> tuple[np.ndarray, bool]:
        """Search the subtree below ``prefix``; return its patterns and completeness.

        Parameters
        ----------
        prefix : sequence of bool or int
            States of the first ``len(prefix)`` units in search order (a
            ReLU's bool, a maxout unit's winning piece): the root of a
            subtree. Its region is tested first unless a witness shows it
            non-empty.
        stop_depth : int, optional
            Treat the nodes at this depth as leaves (to cut the tree into
            subtrees). Their patterns are valid on the first ``stop_depth``
            units in search order only.
        samples : int, optional
            Random points of the box drawn as the first witnesses.
        """
        self.stop_depth = len(self.problem.order) if stop_depth is None else stop_depth
        witnesses = self.add_samples(self.settings.samples if samples is None else samples)
        complete = True
        try:
            for depth, state in enumerate(prefix):
                witnesses = self._follow(depth, int(state), witnesses)
            if prefix and witnesses.size == 0:
                # A prefix handed on by a search over its budget was never
                # tested: its region may be empty.
                k = len(self.row_ids)
                point = self.lp.point_in(self.rows[:k], self.rhs[:k], self.row_ids)
                if point is None:
                    return self._kept(), True
                witnesses = self._witnesses_near(
                    self.problem.preactivations(point[None, :]), len(prefix)
                )
            with _recursion_room(self.stop_depth - len(prefix)):
                self._visit(len(prefix), witnesses)
        except (Interrupted, KeyboardInterrupt):
            complete = False
        return self._kept(), complete

    def _kept(self) -> np.ndarray | None:
        return self.found.patterns() if self.found.keep else None

    def prefix(self, depth: int, state=None) -> tuple:
        """The states of the units before ``depth`` in search order, and
        ``state`` after them if given: a node's prefix, or its child's."""
        head = tuple(self.pattern[self.order[:depth]].tolist())
        return head if state is None else (*head, state)

    # -- witnesses ---------------------------------------------------------

    def add_samples(self, count: int) -> np.ndarray:
        """Store ``count`` random points of the box as witnesses; return their indices."""
        lo, hi = self.problem.lower, self.problem.upper
        # Uniform points crowd the box's centre in high dimension; mixing in
        # points biased towards random corners reaches far more regions.
        uniform = self.rng.uniform(lo, hi, size=(count // 2, lo.shape[0]))
        bias = self.rng.uniform(0.0, 1.0, size=(count - count // 2, 1))
        corners = np.where(self.rng.uniform(size=(count - count // 2, lo.shape[0])) < bias, hi, lo)
        return self._add_preactivations(self.problem.preactivations(np.concatenate([uniform, corners])))

    def _add_preactivations(self, pre: np.ndarray) -> np.ndarray:
        """Store points by their pre-activations; return their indices."""
        count = pre.shape[0]
        if self.n_points + count > self.pre.shape[0]:
            # Room for a point per row of the deepest path too: LPs add them
            # one by one below the samples, and a copy of the store is dear.
            capacity = max(2 * self.pre.shape[0], self.n_points + count + self.problem.max_rows + 1)
            grown = np.empty((capacity, self.pre.shape[1]))
            grown[: self.n_points] = self.pre[: self.n_points]
            self.pre = grown
        self.pre[self.n_points : self.n_points + count] = pre
        self.n_points += count
        return np.arange(self.n_points - count, self.n_points)

    # -- search ------------------------------------------------------------

    def _visit(self, depth: int, witnesses: np.ndarray) -> None:
        if self.node_budget is not None and self.nodes >= self.node_budget or self.split_asked(0):
            raise OverBudget(self.prefix(depth))
        self.nodes += 1
        self.tick()
        if depth == self.stop_depth:
            self.found.add(self.pattern[None, :])
            if self.problem.checks_thin and depth == self.problem.n_hidden:
                self.thin += self._is_thin(witnesses)
            return
        if depth in self.layer_starts and not self.lp.has_basis_for(self.row_ids):
            # Solve this node's LP, though its witnesses show it non-empty,
            # for a basis that every LP of the layer below can start from:
            # otherwise they start from the last one on the path, often the
            # root's, as the earlier layer is split by witnesses alone.
            k = len(self.row_ids)
            self.lp.point_in(self.rows[:k], self.rhs[:k], self.row_ids)
        if self.compiled is not None and self.stop_depth == self.problem.n_hidden:
            self.compiled.search_below(depth, witnesses)
            return
        if self.is_maxout[self.problem.order[depth]]:
            self._visit_pieces(depth, witnesses)
            return
        unit, c, offset, threshold = self.unit_at(depth)
        if c is None:
            self.pattern[unit] = offset
            self._visit(depth + 1, witnesses)
            return
        values = self.pre[witnesses, unit]
        # A wall of the domain has only its inside: the outside is no region.
        signs = (1.0,) if self.problem.stable[unit] == WALL else (1.0, -1.0)
        for index, sign in enumerate(signs):
            # Points found below this child lie in its region, disjoint from
            # every node visited after it: drop them on the way back, so the
            # store stays as small as the path, not as large as the count.
            mark = self.n_points
            if self.across[depth]:
                # Only while in the first child are points put across this row.
                witnesses = np.concatenate([witnesses, self._take_across(depth)])
                values = self.pre[witnesses, unit]
            side = witnesses[_kernels.side_mask(values, threshold, sign)]
            self.pattern[unit] = sign > 0
            self.push_side(unit, c, offset, threshold, sign, flippable=index + 1 < len(signs))
            if side.size == 0:
                side = self.witness_for_new_child(depth, sign)
            if side is not None:
                try:
                    self._visit(depth + 1, side)
                except OverBudget as over:
                    over.remaining.extend(self.prefix(depth, s > 0) for s in signs[index + 1 :])
                    raise
            self.pop_row()
            self.n_points = mark

    def _is_thin(self, witnesses: np.ndarray) -> bool:
        """Whether the leaf just found has no point at ``thin_tol`` from its
        walls: false at once if a witness is that far from every row, else
        decided by an LP with every row raised to that margin."""
        k = len(self.row_ids)
        if k == 0:
            return False
        if witnesses.size:
            distances = self.distances(witnesses, k)
            if np.any(distances.min(axis=1) >= self.problem.thin_tol):
                return False
        raised = self.rhs[:k] + (self.problem.thin_tol - self.problem.tol)
        return self.lp.point_in(self.rows[:k], raised, self.row_ids) is None

    def distances(self, witnesses: np.ndarray, k: int) -> np.ndarray:
        """The signed distance of each witness from each of the first ``k``
        rows' hyperplanes, shape (witnesses, k)."""
        plus, minus = self.row_plus[:k], self.row_minus[:k]
        values = self.pre[np.ix_(witnesses, plus)]
        pairs = minus >= 0
        if pairs.any():
            values[:, pairs] -= self.pre[np.ix_(witnesses, minus[pairs])]
        return values * self.row_scale[:k]

    def split_asked(self, nodes: int) -> bool:
        """Whether the search, with ``nodes`` more nodes than recorded, is
        asked to split, and has searched enough of its own to do so."""
        return (
            self.split is not None and self.nodes + nodes >= self.settings.split_after_nodes
            and self.split.is_set()
        )

    def _visit_pieces(self, depth: int, witnesses: np.ndarray) -> None:
        """Branch on the maxout unit at ``depth``: one child per piece that can win.

        Child ``p`` is the region where piece ``p`` beats every other
        candidate ``q`` by the margin, ``a_p - a_q >= tol * ||c_p - c_q||``:
        up to k - 1 rows, all pushed together.
        """
        unit, candidates, C, d, scale = self._pieces_at(depth)
        if candidates.size == 1:
            self.pattern[unit] = candidates[0]
            self._visit(depth + 1, witnesses)
            return
        for index, piece in enumerate(candidates):
            split = self._piece_rows(piece, candidates, C, d, scale)
            if split is None:
                continue
            mark = self.n_points
            side, margins = self._push_piece(unit, piece, split, witnesses)
            if side.size == 0:
                side = self.witness_for_new_child(depth, piece, margins.shape[1])
            if side is not None:
                try:
                    self._visit(depth + 1, side)
                except OverBudget as over:
                    over.remaining.extend(
                        self.prefix(depth, int(later)) for later in candidates[index + 1 :]
                        if self._piece_rows(later, candidates, C, d, scale) is not None
                    )
                    raise
            for _ in range(margins.shape[1]):
                self.pop_row()
            self.n_points = mark

    def _push_piece(self, unit, piece, split, witnesses) -> tuple[np.ndarray, np.ndarray]:
        """Push the rows of child ``piece`` (a :meth:`_piece_rows` ``split``);
        return the witnesses inside it and every witness's margin on each row."""
        rows, rhs, others, thresholds = split
        self.pattern[unit] = piece
        column = self.piece_column[unit]
        for row, bound, other, threshold in zip(rows, rhs, others, thresholds):
            self._push_row(
                unit, row, bound, self.problem.tol / threshold, column + piece, column + other
            )
        values = self.pre[witnesses, column : column + self.problem.pieces[self.layer_of[unit]]]
        margins = values[:, [piece]] - values[:, others] - thresholds
        return witnesses[np.all(margins >= 0.0, axis=1)], margins

    def _piece_rows(self, piece, candidates, C, d, scale):
        """The rows of child ``piece``: ``(rows, rhs, others, thresholds)``,
        rows of unit norm and the thresholds of the raw differences, or None
        when a piece parallel to it beats it on the whole node.

        A piece ``q`` with ``c_q = c_p`` on the region (up to
        :data:`pyregions._kernels.CANCELLATION`) is no hyperplane there: the
        larger constant wins, the lower index on a tie (as ``argmax``).
        """
        others = candidates[candidates != piece]
        G = C[piece] - C[others]
        gap = d[piece] - d[others]
        norms = np.sqrt(np.einsum("ij,ij->i", G, G))
        flat = norms <= _kernels.CANCELLATION * (scale[piece] + scale[others])
        if np.any(flat & ((gap < 0.0) | ((gap == 0.0) & (others < piece)))):
            return None
        keep = ~flat
        G, gap, others, norms = G[keep], gap[keep], others[keep], norms[keep]
        rows = G / norms[:, None]
        return rows, self.problem.tol - gap / norms, others, self.problem.tol * norms

    def _follow(self, depth: int, state: int, witnesses: np.ndarray) -> np.ndarray:
        """Take the child ``state`` of the node at ``depth``, known to be non-empty."""
        if self.is_maxout[self.problem.order[depth]]:
            unit, candidates, C, d, scale = self._pieces_at(depth)
            self.pattern[unit] = state
            if candidates.size == 1:
                return witnesses
            split = self._piece_rows(state, candidates, C, d, scale)
            return self._push_piece(unit, state, split, witnesses)[0]
        positive = bool(state)
        unit, c, offset, threshold = self.unit_at(depth)
        self.pattern[unit] = positive
        if c is None:
            return witnesses
        sign = 1.0 if positive else -1.0
        self.push_side(unit, c, offset, threshold, sign)
        return witnesses[_kernels.side_mask(self.pre[witnesses, unit], threshold, sign)]

    def unit_at(self, depth: int) -> tuple[int, np.ndarray | None, float, float]:
        """The unit split at ``depth``: ``(unit, c / ||c||, d / ||c||, tol * ||c||)``,
        its row scaled to unit norm and the threshold of its raw pre-activation.

        The row is None when the unit's state is forced on the whole node
        (stable over the box, or constant on the region); the offset is then
        that state.
        """
        problem = self.problem
        unit = problem.order[depth]
        layer = self._layer_at(depth)
        state = problem.stable[unit]
        if state == 1 or state == -1:
            return unit, None, state > 0, 0.0
        C, d = self.maps[layer]
        i = unit - self.offset[layer]
        norm = self.norms[layer][i]
        if norm == 0.0:
            # Constant on this region: not a hyperplane here.
            return unit, None, d[i] > 0.0, 0.0
        return unit, C[i] / norm, d[i] / norm, self.problem.tol * norm

    def _layer_at(self, depth: int) -> int:
        """The layer of the unit at ``depth``, entered if it is a new one."""
        layer = self.layer_of[self.problem.order[depth]]
        if depth == 0 or self.layer_of[self.problem.order[depth - 1]] != layer:
            self.enter_layer(layer)
        return layer

    def _pieces_at(self, depth: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The maxout unit at ``depth``: ``(unit, candidates, C, d, scale)``,
        its pieces that can win in the box, the affine map of every piece on
        the region (``C[p] x + d[p]``) and the size of the terms summed into
        each ``C[p]`` (:data:`pyregions._kernels.CANCELLATION`)."""
        unit = self.problem.order[depth]
        layer = self._layer_at(depth)
        i = unit - self.offset[layer]
        k = self.problem.pieces[layer]
        C, d = self.maps[layer]
        rows = slice(i * k, (i + 1) * k)
        candidates = np.flatnonzero(self.problem.candidates[layer][i])
        return unit, candidates, C[rows], d[rows], self.scales[layer][rows]

    def enter_layer(self, layer: int) -> None:
        """Compose ``layer``'s affine map on the current region."""
        self.layer_rows[layer] = len(self.row_ids)
        W, b = self.problem.weights[layer], self.problem.biases[layer]
        if layer == 0:
            C, d, scale = W, b, np.sqrt(np.einsum("ij,ij->i", W, W))
        else:
            states = self.pattern[self.offset[layer - 1] : self.offset[layer]]
            C, d, scale = layer_map(
                W, b, *self.maps[layer - 1], states, self.problem.pieces[layer - 1],
                self.raw_norms[layer - 1],
            )
        self.maps[layer] = (C, d)
        self.scales[layer] = scale
        self.raw_norms[layer] = norms = np.sqrt(np.einsum("ij,ij->i", C, C))
        self.norms[layer] = np.where(norms > _kernels.CANCELLATION * scale, norms, 0.0)

    def witness_for_new_child(self, depth: int, state: float, n_new: int = 1) -> np.ndarray | None:
        """Witnesses for the child just pushed as the last ``n_new`` rows (a
        ReLU side, ``state`` its sign, or a maxout piece), or None if it is
        empty.

        Tries, cheapest first: a proof of emptiness still valid on this path,
        the box alone against each new row, then an LP, which decides (what
        was tried before the LP and dropped: docs/design-notes.md).
        """
        unit = self.problem.order[depth]
        if self.refuted.holds(unit, state, self.row_ids, self.row_keys):
            return None
        k = len(self.row_ids)
        lo, hi = self.problem.lower, self.problem.upper
        for r in range(k - n_new, k):
            if _kernels.refutes(self.rows[r : r + 1], self.rhs[r : r + 1], np.ones(1), lo, hi):
                self._record_refutation(unit, state, [])
                return None
        point = self.lp.point_in(self.rows[:k], self.rhs[:k], self.row_ids)
        if point is None:
            self._keep_farkas_proof(unit, state, n_new)
            return None
        inward = self._put_across(point)
        # The LP decided the child is non-empty, even if rounding leaves its
        # point outside the region and so no witness for the subtree.
        if inward is None:
            return self._witnesses_near(self.problem.preactivations(point[None, :]), depth + 1)
        return self._witnesses_near(self.problem.propagate(inward[None, :]), depth + 1)

    def _witnesses_near(self, pre: np.ndarray, depth: int) -> np.ndarray:
        """Store a point by its pre-activations ``pre`` (shape (1, columns));
        return its index if it has the current pattern. (Seeding its region
        with more witnesses did not pay: docs/design-notes.md.)
        """
        index = self._add_preactivations(pre)
        decided = self.order[:depth]
        values = self.pre[index[0], decided]
        if self.problem.maxout:
            # Maxout columns hold the winning piece, not a pre-activation.
            values = np.where(self.is_maxout[decided], values, values > 0.0)
            inside = np.array_equal(values, self.pattern[decided])
        else:
            inside = np.array_equal(values > 0.0, self.pattern[decided])
        return index if inside else index[:0]

    def _put_across(self, point: np.ndarray) -> np.ndarray | None:
        """Keep points just across the tight rows of an LP's vertex, each for
        the second child still to come at its first flipped row's depth.
        When thin regions are looked for, return the first-layer
        pre-activations of the vertex moved inside its own region (None if
        that fails).

        The vertex touches the regions on the other side of its tight rows,
        and points there come from :func:`pyregions._kernels.across.points_across`
        at the cost of a few small products, sparing LPs as witnesses.
        """
        basis = self.lp.vertex_basis
        k = len(self.row_ids)
        flippable = self.row_flippable[:k]
        problem = self.problem
        inward = np.empty(problem.weights[0].shape[0] if problem.checks_thin else 0)
        if basis is None or not (flippable.any() or inward.size):
            return None
        count, own = across.points_across(
            self.rows[:k], self.rhs[:k], point, basis, flippable,
            across.across_step(problem.tol, problem.thin_tol), problem.lower,
            problem.upper, problem.weights[0], self.settings.across_flips, self.across_out,
            self.across_rows, inward, self.layer_of[[unit for unit, _ in self.row_keys]],
        )
        if count:
            firsts = self.across_out[:count] + problem.biases[0]
            rows = self.across_rows[:count]
            # Rows come in increasing order: one slice per first flipped row.
            ends = [*(np.flatnonzero(rows[1:] != rows[:-1]) + 1).tolist(), count]
            start = 0
            for end in ends:
                self.keep_across(self.depth_of_unit[self.row_keys[rows[start]][0]], firsts[start:end])
                start = end
        return inward + problem.biases[0] if own else None

    def keep_across(self, depth: int, firsts: np.ndarray) -> None:
        """Keep points across ``depth``'s row, up to ``across_kept`` of them."""
        room = self.settings.across_kept - sum(block.shape[0] for block in self.across[depth])
        if room > 0:
            self.across[depth].append(firsts[:room])

    def _take_across(self, depth: int) -> np.ndarray:
        """Store the points kept across ``depth``'s row; return their indices."""
        firsts = np.concatenate(self.across[depth])
        self.across[depth].clear()
        return self._add_preactivations(self.problem.propagate(firsts))

    def _keep_farkas_proof(self, unit: int, sign: float, n_new: int = 1) -> None:
        """Keep the LP's proof that the new child is empty, for every later
        node where it still holds.

        The proof combines some rows of the path with the new ones (the last
        ``n_new``; ``sign`` is the maxout piece when there are several). It
        holds wherever those rows are on the path again, unchanged: under the
        same earlier layers (the unit's own affine function and every row
        they made), and with the same states of the units of its layer that
        it uses, whatever the states of the others (docs/design-notes.md).
        The proof is re-checked here on its support alone, so a loose ray
        from either solver is never trusted.
        """
        multipliers = self.lp.farkas_multipliers()
        k = len(self.row_ids)
        if multipliers is None or multipliers.shape[0] != k or multipliers[k - n_new :].max() <= 0.0:
            return
        support = np.flatnonzero(multipliers > 1e-9 * multipliers.max())
        if not _kernels.refutes(
            self.rows[support], self.rhs[support], multipliers[support],
            self.problem.lower, self.problem.upper,
        ):
            return
        in_layer = support[(support >= self.layer_rows[self.layer_of[unit]]) & (support < k - n_new)]
        self._record_refutation(unit, sign, [self.row_keys[i] for i in in_layer])

    def _record_refutation(self, unit: int, sign: float, keys: list[tuple[int, int]]) -> None:
        """Record that ``unit``'s side ``sign`` is empty wherever the path
        holds the earlier layers' rows as now and the rows of ``keys``."""
        anchor = self.layer_rows[self.layer_of[unit]] - 1
        row_id = self.row_ids[anchor] if anchor >= 0 else -1
        self.refuted.record(unit, sign, anchor, row_id, keys)

    def push_side(
        self, unit: int, c: np.ndarray, offset: float, threshold: float, sign: float,
        flippable: bool = False,
    ) -> None:
        """Push the side ``sign`` of a ReLU unit split by :meth:`unit_at`
        (``c``, ``offset``, ``threshold``)."""
        tol = self.problem.tol
        self._push_row(
            unit, sign * c, tol - sign * offset, sign * tol / threshold, unit, flippable=flippable
        )

    def _push_row(
        self, unit: int, row: np.ndarray, rhs: float, scale: float, plus: int, minus: int = -1,
        flippable: bool = False,
    ) -> None:
        """Push ``row @ x >= rhs``, the row of unit norm; at a witness its
        distance is ``scale * (pre[plus] - pre[minus])`` (no ``minus`` if -1)."""
        k = len(self.row_ids)
        self.rows[k] = row
        self.rhs[k] = rhs
        self.row_flippable[k] = flippable
        self.row_plus[k] = plus
        self.row_minus[k] = minus
        self.row_scale[k] = scale
        self.row_keys.append((unit, int(self.pattern[unit])))
        self.row_ids.append(self.next_row_id)
        self.next_row_id += 1

    def pop_row(self) -> None:
        self.row_keys.pop()
        self.row_ids.pop()

    def clear_path(self) -> None:
        """Drop every row of the path, back to the root."""
        del self.row_keys[:], self.row_ids[:]

    def tick(self, regions: int = 0, nodes: int = 0, solves: int = 0) -> None:
        """Stop at the deadline; report progress, counting ``regions``,
        ``nodes`` and ``solves`` not yet recorded."""
        if self.deadline is not None and time.time() > self.deadline or _workers.stop_requested():
            raise Interrupted
        now = time.perf_counter()
        if self.progress is not None and now - self.last_report >= self.settings.progress_interval:
            self.last_report = now
            self.progress(
                Progress(
                    self.found.count + regions, self.nodes + nodes, self.lp.solves + solves,
                    now - self.started,
                )
            )

