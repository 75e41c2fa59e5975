"""What the torch and ONNX readers share: optional imports and the chain of steps."""

from __future__ import annotations

import importlib

from ..exceptions import UnsupportedLayerError
from ..network import Network

__all__ = ["assemble", "require"]


def require(module: str, what: str):
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        msg = f"reading {what} models needs {module}: install pyregions[{module}]"
        raise ImportError(msg) from err


def assemble(steps) -> Network:
    """Build a network from ``(label, weights, bias)`` steps.

    ``weights`` and ``bias`` are ``None`` for a ReLU step, of shape
    ``(n_out, n_in)`` and ``(n_out,)`` for a dense step, and of shape
    ``(n_out, k, n_in)`` and ``(n_out, k)`` for a maxout layer; ``label``
    names the step in error messages.
    """
    weights, biases = [], []
    pending = None  # the last dense step, until a ReLU closes it
    for label, W, b in steps:
        if W is not None:
            if pending is not None:
                msg = (
                    f"unsupported {label} directly after {pending[0]}: "
                    "dense layers and ReLUs must alternate"
                )
                raise UnsupportedLayerError(msg)
            if W.ndim == 3:
                # A maxout layer is a whole hidden layer: no ReLU closes it.
                weights.append(W)
                biases.append(b)
            else:
                pending = (label, W, b)
        elif pending is None:
            msg = f"unsupported {label}: a ReLU must follow a dense layer"
            raise UnsupportedLayerError(msg)
        else:
            weights.append(pending[1])
            biases.append(pending[2])
            pending = None
    if not weights:
        msg = "the model has no hidden layer (a dense layer followed by a ReLU, or a maxout)"
        raise UnsupportedLayerError(msg)
    output_weights, output_bias = (None, None) if pending is None else pending[1:]
    return Network(weights, biases, output_weights=output_weights, output_bias=output_bias)
