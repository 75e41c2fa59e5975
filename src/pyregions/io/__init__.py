"""Import trained PyTorch and ONNX models as :class:`~pyregions.network.Network`.

A model is read as a chain of steps, each a dense (affine) map, a ReLU or a
maxout layer, and must have the form

.. math::

    x \\mapsto W^{L+1} \\max(0, W^L \\cdots \\max(0, W^1 x + b^1) \\cdots + b^L) + b^{L+1}

that is: dense, ReLU, dense, ReLU, ..., dense, where any dense-ReLU pair may
instead be a maxout layer

.. math::

    h_i = \\max_{p < k} (W_{ip} h + b_{ip}),

read from :class:`pyregions.torch.Maxout` or from the ONNX operators it
exports to (dense, then ``Reshape`` to ``(batch, n, k)``, then ``ReduceMax``
over the last axis). Each dense layer followed by a ReLU, and each maxout
layer, becomes a hidden layer; a final dense layer with no ReLU becomes the
uncounted output layer, and a model ending in a hidden layer has none. Layers that
act as the identity on a batch of flat vectors (flatten, identity, dropout in
evaluation mode) are skipped. Weights are converted to float64.

Models with convolutional, pooling, normalising, clipping or residual
layers are lowered instead by :mod:`pyregions.lowering`, which keeps each
tensor as an affine function of the last hidden layer's outputs.

``torch`` and ``onnx`` are optional: each is imported only by the function
that needs it (``pip install pyregions[torch]`` or ``pyregions[onnx]``).

:func:`load_array` reads the other arrays a count takes from files (a box's
corners, the points of a slice), never unpickling anything.
"""

from __future__ import annotations

from os import PathLike

import numpy as np

from .._validation import unreadable_reason
from ..exceptions import ModelFormatError
from .onnx_models import network_from_onnx
from .torch_models import network_from_torch, network_from_torch_file

__all__ = ["load_array", "network_from_torch", "network_from_torch_file", "network_from_onnx"]


def load_array(path: str | PathLike) -> np.ndarray:
    """Read the single array of an ``.npy`` file, refusing pickled objects.

    Raises
    ------
    ModelFormatError
        When the file is no ``.npy`` array (an ``.npz`` archive, another
        format, or Python objects).
    FileNotFoundError
        When ``path`` does not exist.
    """
    try:
        with open(path, "rb") as handle:
            array = np.load(handle, allow_pickle=False)
    except (ValueError, EOFError) as err:
        msg = f"{path}: not a readable .npy array ({unreadable_reason(err)})"
        raise ModelFormatError(msg) from err
    if not isinstance(array, np.ndarray):
        msg = f"{path}: an .npz archive, expected a single .npy array"
        raise ModelFormatError(msg)
    return array
