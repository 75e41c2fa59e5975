"""PyTorch layers that :func:`pyregions.io.network_from_torch` can read.

This module imports ``torch`` when imported; the rest of pyregions never
imports it (``pip install pyregions[torch]``).

A :class:`Maxout` layer of rank ``k`` holds one ``Linear`` whose
``out_features * k`` outputs are the pieces, unit-major:

.. math::

    h_i = \\max_{p < k} z_{ik + p}, \\qquad z = W x + b,

so its weight of shape ``(out_features * k, in_features)`` reshaped to
``(out_features, k, in_features)`` is the maxout weight of
:class:`pyregions.Network`, and ``torch.onnx.export`` writes it as
``Gemm -> Reshape (batch, out_features, k) -> ReduceMax`` over the last axis.
"""

from __future__ import annotations

import torch
from torch import nn

from ._validation import check_int

__all__ = ["Maxout"]


class Maxout(nn.Module):
    """A dense maxout layer: each output is the largest of ``rank`` affine pieces.

    Parameters
    ----------
    in_features : int
        Size of each input sample.
    out_features : int
        Number of maxout units.
    rank : int
        Pieces per unit, ``k >= 2``.

    Attributes
    ----------
    linear : torch.nn.Linear
        The pieces, ``in_features -> out_features * rank``; output
        ``i * rank + p`` is piece ``p`` of unit ``i``.

    Raises
    ------
    ValueError
        When a size is not a positive integer or ``rank < 2``.

    Examples
    --------
    >>> import torch
    >>> from pyregions.torch import Maxout
    >>> layer = Maxout(3, 4, rank=2)
    >>> layer(torch.zeros(5, 3)).shape
    torch.Size([5, 4])
    """

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        # One piece is an affine map, not a maxout unit; Network refuses it.
        self.rank = check_int(rank, "rank", minimum=2)
        self.linear = nn.Linear(self.in_features, self.out_features * self.rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = self.linear(x).view(*x.shape[:-1], self.out_features, self.rank)
        return pieces.amax(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"
