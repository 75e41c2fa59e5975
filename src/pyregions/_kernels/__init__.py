"""Every Numba kernel of pyregions, split by data structure: :mod:`.linalg`
(small dense products and checks), :mod:`.simplex` (the LP solver),
:mod:`.across` (points across an LP's vertex), and the compiled tree search
(:mod:`.layer_search`) with its kept bases and node LPs (:mod:`.bases`), a
layer's maps on a region (:mod:`.layer_maps`), its arguments
(:mod:`.bundles`) and what it asks of Python (:mod:`.callbacks`), and its
form on two free coordinates, by polygons (:mod:`.polygon_search`).
:mod:`pyregions.counting` orchestrates them.
"""

from __future__ import annotations

from .linalg import CANCELLATION, dot, refutes, side_mask

__all__ = ["CANCELLATION", "dot", "in_cache", "refutes", "side_mask"]


def in_cache(kernels) -> bool:
    """Whether the ``kernels`` are in Numba's cache, fresh for these sources
    and this Python: Numba's own index files, wherever ``NUMBA_CACHE_DIR``
    or its default puts them. If not, their first call compiles them
    (once). True when Numba's cache cannot be inspected."""
    for kernel in kernels:
        index = getattr(getattr(getattr(kernel, "_cache", None), "_cache_file", None), "_load_index", None)
        if index is not None and not index():
            return False
    return True
