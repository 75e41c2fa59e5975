"""The bridge from the Python tree search to the polygon search
(:func:`pyregions._kernels.polygon_search.search`), which takes over a
serial count of a ReLU network on two free coordinates (a plane through
three points, or a network of two inputs) at its root: its LPs have two
columns and a row per unit split on the path, its polygons a few vertices.
"""

from __future__ import annotations

from .._kernels import polygon_search as _polygon_search
from .._kernels.bundles import PolygonLimits
from .._kernels.callbacks import run_answered
from .compiled import CompiledLayers
from .results import Interrupted

__all__ = ["PolygonLayers"]


class PolygonLayers(CompiledLayers):
    """The compiled layers of a problem on two free coordinates, searched
    from the root by polygons and below any other node (a subtree's root)
    by LPs, as :class:`CompiledLayers`."""

    @staticmethod
    def apply_to(problem, tuning) -> bool:
        """Whether a serial count of ``problem`` goes by polygons."""
        return (
            problem.lower.shape[0] == 2 and not problem.maxout
            and tuning.polygon_search and tuning.compiled_search
        )

    @classmethod
    def below(cls, search) -> CompiledLayers | None:
        """The compiled layers of ``search``'s problem: by polygons for a
        serial search (no node budget, never split) when :meth:`apply_to`
        says so, else :meth:`CompiledLayers.below`."""
        if cls.apply_to(search.problem, search.settings) and search.node_budget is None and search.split is None:
            return super().below(search)
        return CompiledLayers.below(search)

    def search_below(self, depth: int, witnesses) -> None:
        """Search every node below the search's node at ``depth``: from the
        root by polygons, needing no witnesses."""
        if depth > 0:
            super().search_below(depth, witnesses)
            return
        search, problem = self.search, self.search.problem
        limits = PolygonLimits(
            problem.lower, problem.upper, problem.tol, problem.thin_tol,
            search.settings.simplex_check_tolerance,
        )
        results, error = run_answered(self, _polygon_search.search, self.network(False), limits)
        patterns, nodes, thin, status = results
        search.thin += thin
        search.nodes += nodes - 1  # the root was counted by the Python search
        self.layer_found(patterns)
        if error is not None:
            raise error
        if status == _polygon_search.INTERRUPTED:
            raise Interrupted
