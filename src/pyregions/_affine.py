"""The affine map of a layer on a region: the one place that composes it.

On a region where the states of the units of the layers before ``l`` are
fixed, layer ``l``'s pre-activations are affine in the input,
``C_l x + d_l``, with ``C_l = W_l[:, passed] C_{l-1}[passed]`` and
``d_l = W_l[:, passed] d_{l-1}[passed] + b_l`` over the units (or, for
maxout, the winning pieces) ``passed`` on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["layer_map"]


def layer_map(
    weights: np.ndarray, bias: np.ndarray, C: np.ndarray, d: np.ndarray, states: np.ndarray,
    pieces: int = 1, row_norms: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The affine map ``(C', d')`` of a layer on a region, from the map
    ``(C, d)`` of the layer before and that layer's ``states``.

    ``states`` are a ReLU layer's 0/1 states or a maxout layer's winning
    pieces (``pieces`` per unit, ``C`` then one row per piece). With
    ``row_norms``, the norms of ``C``'s rows, also returns the size of the
    terms summed into each row of ``C'``
    (:data:`pyregions._kernels.CANCELLATION`), else None.
    """
    if pieces > 1:
        # A maxout unit passes on its winning piece.
        passed = np.arange(states.shape[0]) * pieces + states
        W = weights
    else:
        passed = states.astype(bool, copy=False)
        W = weights[:, passed]
    scale = None if row_norms is None else np.abs(W) @ row_norms[passed]
    return W @ C[passed], W @ d[passed] + bias, scale
