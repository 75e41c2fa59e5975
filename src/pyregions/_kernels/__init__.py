"""Every Numba kernel of pyregions, split by data structure: :mod:`.linalg`
(small dense products and checks), :mod:`.simplex` (the LP solver),
:mod:`.across` (points across an LP's vertex) and :mod:`.layer_search` (the
compiled tree search). :mod:`pyregions.counting` orchestrates them.
"""

from __future__ import annotations

from .linalg import CANCELLATION, dot, refutes, side_mask

__all__ = ["CANCELLATION", "dot", "refutes", "side_mask"]
