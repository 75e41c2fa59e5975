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

``torch`` and ``onnx`` are optional: each is imported only by the function
that needs it (``pip install pyregions[torch]`` or ``pyregions[onnx]``).

:func:`load_array` reads the other arrays a count takes from files (a box's
corners, the points of a slice), never unpickling anything.
"""

from __future__ import annotations

import importlib
import math
from os import PathLike
from pathlib import Path

import numpy as np

from ._validation import unreadable_reason
from .exceptions import ModelFormatError, ShapeError, UnsupportedLayerError
from .network import Network


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

__all__ = ["load_array", "network_from_torch", "network_from_torch_file", "network_from_onnx"]


def _require(module: str, what: str):
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        msg = f"reading {what} models needs {module}: install pyregions[{module}]"
        raise ImportError(msg) from err


def _assemble(steps) -> Network:
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


# --------------------------------------------------------------------- PyTorch


def _torch_leaves(module, prefix: str = ""):
    """Yield ``(name, layer)`` for the layers of nested Sequentials, in order."""
    from torch import nn

    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            yield from _torch_leaves(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def _torch_linear(layer):
    """The float64 ``(weights, bias)`` of an ``nn.Linear``; no bias is zero."""
    W = layer.weight.detach().cpu().double().numpy()
    if layer.bias is None:
        return W, np.zeros(W.shape[0])
    return W, layer.bias.detach().cpu().double().numpy()


def _torch_steps(module):
    from torch import nn

    from .torch import Maxout

    for name, layer in _torch_leaves(module):
        label = f"layer {name}: {layer!r}"
        if isinstance(layer, nn.Linear):
            yield (label, *_torch_linear(layer))
        elif isinstance(layer, Maxout):
            # Its repr spans lines to list its Linear; the sizes say it all.
            label = f"layer {name}: Maxout({layer.extra_repr()})"
            W, b = _torch_linear(layer.linear)
            shape = (layer.out_features, layer.rank)
            if W.shape[0] != shape[0] * shape[1]:
                msg = f"{label}: its Linear has {W.shape[0]} outputs, not out_features * rank"
                raise ShapeError(msg)
            # Output ``i * rank + p`` of the Linear is piece p of unit i
            # (Maxout.forward's view), so a C-order reshape puts it at [i, p].
            yield label, W.reshape(*shape, W.shape[1]), b.reshape(shape)
        elif isinstance(layer, nn.ReLU):
            yield label, None, None
        # Flatten keeping the batch axis is the identity on (batch, n) data
        # and turns image batches into the flat vectors the first Linear reads.
        elif isinstance(layer, nn.Flatten) and layer.start_dim == 1 and layer.end_dim == -1:
            continue
        # Identity always, Dropout in evaluation mode, which is what a
        # region count is about.
        elif isinstance(layer, (nn.Identity, nn.Dropout)):
            continue
        else:
            msg = f"unsupported {label}"
            raise UnsupportedLayerError(msg)


def network_from_torch(module) -> Network:
    """Convert a PyTorch ``nn.Sequential`` of Linear, ReLU and Maxout layers.

    Parameters
    ----------
    module : torch.nn.Sequential, str or path-like
        A Sequential of ``Linear``, ``ReLU``, :class:`pyregions.torch.Maxout`,
        ``Flatten`` (from dimension 1), ``Identity``, ``Dropout`` and nested
        Sequentials, with the Linears and ReLUs alternating as
        ``Linear, ReLU, ..., Linear[, ReLU]``; a ``Maxout`` may stand for any
        ``Linear, ReLU`` pair, as in ``Linear, ReLU, Maxout, Maxout, Linear``.
        A path is read by :func:`network_from_torch_file`.

    Returns
    -------
    Network
        Hidden layers from each Linear followed by a ReLU and from each
        Maxout (weights of shape ``(out_features, rank, in_features)``); the
        last Linear, if not followed by a ReLU, is the output layer. Dropout
        is skipped as in evaluation mode, whatever the module's mode.

    Raises
    ------
    TypeError
        When ``module`` is neither a ``torch.nn.Module`` nor a path.
    UnsupportedLayerError
        When ``module`` is not a Sequential, holds another kind of layer, or
        its Linears and ReLUs do not alternate (a ReLU after a Maxout is
        refused too); the message names the layer by its index (``"1.0"``
        inside a nested Sequential).
    ShapeError
        When a weight is not finite, the layers' sizes do not chain, or a
        Maxout's Linear does not have ``out_features * rank`` outputs.
    ImportError
        When torch is not installed.

    Examples
    --------
    >>> from torch import nn
    >>> from pyregions.io import network_from_torch
    >>> network_from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    Network(2-3, output=1)
    >>> from pyregions.torch import Maxout
    >>> network_from_torch(nn.Sequential(Maxout(2, 4, rank=3), nn.Linear(4, 1)))
    Network(2-4, output=1)
    """
    if isinstance(module, (str, PathLike)):
        return network_from_torch_file(module)
    torch = _require("torch", "PyTorch")
    if not isinstance(module, torch.nn.Module):
        msg = f"module must be a torch.nn.Sequential or a path, got {type(module).__name__}"
        raise TypeError(msg)
    if not isinstance(module, torch.nn.Sequential):
        # Any other module's forward is arbitrary Python, so the order in
        # which its children run is unknown.
        msg = f"unsupported model {type(module).__name__}: only torch.nn.Sequential can be read"
        raise UnsupportedLayerError(msg)
    return _assemble(_torch_steps(module))


def network_from_torch_file(path: str | PathLike) -> Network:
    """Read a ``nn.Sequential`` saved whole with ``torch.save(module, path)``.

    The file is unpickled (``torch.load(weights_only=False)``), which can run
    arbitrary code: read only files you trust.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network
        As :func:`network_from_torch` returns.

    Raises
    ------
    ModelFormatError
        When the file is missing, unreadable, or holds something other than a
        module (such as a ``state_dict``).
    UnsupportedLayerError
        As :func:`network_from_torch` raises.
    ImportError
        When torch is not installed.
    """
    torch = _require("torch", "PyTorch")
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such PyTorch model file"
        raise ModelFormatError(msg)
    try:
        module = torch.load(path, map_location="cpu", weights_only=False)
    # Unpickling can raise nearly any exception type (a missing class gives
    # AttributeError, a truncated file EOFError or RuntimeError, ...).
    except Exception as err:
        msg = f"{path}: not a readable PyTorch file ({type(err).__name__}: {err})"
        raise ModelFormatError(msg) from err
    if not isinstance(module, torch.nn.Module):
        msg = (
            f"{path}: holds a {type(module).__name__}, not a torch.nn.Module; "
            "save the whole model with torch.save(module, path)"
        )
        raise ModelFormatError(msg)
    return network_from_torch(module)


# ------------------------------------------------------------------------ ONNX


def _load_onnx(model):
    onnx = _require("onnx", "ONNX")
    if isinstance(model, onnx.ModelProto):
        return model, "ONNX model"
    if not isinstance(model, (str, PathLike)):
        msg = f"model must be a path or an onnx.ModelProto, got {type(model).__name__}"
        raise TypeError(msg)
    from google.protobuf.message import DecodeError

    path = Path(model)
    if not path.is_file():
        msg = f"{path}: no such ONNX file"
        raise ModelFormatError(msg)
    try:
        loaded = onnx.load(path)
    # ValidationError: external data named by the model is missing.
    except (OSError, DecodeError, ValueError, onnx.checker.ValidationError) as err:
        msg = f"{path}: not a readable ONNX file ({type(err).__name__}: {err})"
        raise ModelFormatError(msg) from err
    # Protobuf parses many non-ONNX byte strings without complaint, as an
    # empty or near-empty message.
    if not loaded.graph.node:
        msg = f"{path}: not an ONNX model (its graph has no nodes)"
        raise ModelFormatError(msg)
    return loaded, str(path)


def _onnx_constants(graph):
    """Map each initializer and Constant output to its value as an array."""
    from onnx import TensorProto, helper, numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            # One attribute: a tensor ``value`` or a ``value_float(s)`` or
            # ``value_int(s)`` given as Python numbers.
            value = helper.get_attribute_value(node.attribute[0])
            if isinstance(value, TensorProto):
                value = numpy_helper.to_array(value)
            constants[node.output[0]] = np.asarray(value)
    return constants


def _onnx_features(value_info) -> int | None:
    """Number of features per sample of a graph input, when its shape is static."""
    dims = value_info.type.tensor_type.shape.dim
    if len(dims) < 2 or not all(d.HasField("dim_value") for d in dims[1:]):
        return None
    return math.prod(d.dim_value for d in dims[1:])


class _OnnxWalk:
    """Follow the single data path of an ONNX graph from its input."""

    def __init__(self, graph, source: str):
        self.source = source
        self.constants = _onnx_constants(graph)
        inputs = [i for i in graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            msg = f"{source}: expected one graph input, got {[i.name for i in inputs]}"
            raise UnsupportedLayerError(msg)
        if len(graph.output) != 1:
            msg = f"{source}: expected one graph output, got {[o.name for o in graph.output]}"
            raise UnsupportedLayerError(msg)
        self.input, self.output = inputs[0], graph.output[0].name
        self.nodes = [node for node in graph.node if node.op_type != "Constant"]
        self.steps = []
        self.n_features = _onnx_features(self.input)
        # (Reshape node, units, pieces) while a Reshape awaits its ReduceMax.
        self.maxout = None

    def run(self):
        current = self.input.name
        while True:
            consumers = [n for n in self.nodes if current in n.input]
            if not consumers:
                break
            if len(consumers) > 1:
                names = ", ".join(self._label(n) for n in consumers)
                msg = (
                    f"{self.source}: tensor '{current}' feeds several nodes ({names}); need a chain"
                )
                raise UnsupportedLayerError(msg)
            # Each node is visited once, so a (malformed) cyclic graph ends
            # the walk instead of looping.
            self.nodes.remove(consumers[0])
            current = self._step(consumers[0], current)
        if self.maxout is not None:
            raise self._unsupported(
                self.maxout[0], "a Reshape to (batch, units, pieces) must be followed by ReduceMax"
            )
        if current != self.output:
            msg = (
                f"{self.source}: the data path ends at '{current}', "
                f"not at the output '{self.output}'"
            )
            raise UnsupportedLayerError(msg)
        return self.steps

    @staticmethod
    def _label(node) -> str:
        return f"ONNX operator {node.op_type} (node '{node.name}')"

    def _unsupported(self, node, why: str = ""):
        msg = f"unsupported {self._label(node)}" + (f": {why}" if why else "")
        return UnsupportedLayerError(msg)

    def _constant(self, node, name: str) -> np.ndarray:
        if name not in self.constants:
            raise self._unsupported(node, f"input '{name}' is not an initializer or Constant")
        return self.constants[name]

    def _attributes(self, node) -> dict:
        from onnx import helper

        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _step(self, node, data: str) -> str:
        """Record the step of ``node``, which reads ``data``; return its output."""
        handler = {
            "Gemm": self._gemm,
            "MatMul": self._matmul,
            "Add": self._add,
            "Relu": self._relu,
            "Flatten": self._flatten,
            "Reshape": self._reshape,
            "ReduceMax": self._reduce_max,
            "Identity": lambda node, data: None,
        }.get(node.op_type)
        if handler is None:
            raise self._unsupported(node)
        if len(node.output) != 1:
            raise self._unsupported(node, f"expected one output, got {len(node.output)}")
        if self.maxout is not None and node.op_type != "ReduceMax":
            # A (batch, units, pieces) tensor means nothing to any other step.
            raise self._unsupported(
                node,
                f"expected ReduceMax after {self._label(self.maxout[0])}, "
                "which reshapes to (batch, units, pieces)",
            )
        handler(node, data)
        return node.output[0]

    def _dense(self, node, W, b):
        W = np.asarray(W, dtype=np.float64)
        if b is None:
            b = np.zeros(W.shape[0])
        else:
            b = self._bias(node, b, W.shape[0])
        self.steps.append([self._label(node), W, b])
        self.n_features = W.shape[0]

    def _bias(self, node, value, n_out: int) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        try:
            return np.broadcast_to(value, (1, n_out))[0].copy()
        except ValueError as err:
            msg = f"{self._label(node)}: bias of shape {value.shape} does not fit {n_out} outputs"
            raise ShapeError(msg) from err

    def _gemm(self, node, data):
        attrs = self._attributes(node)
        if node.input[0] != data or attrs.get("transA", 0) != 0:
            raise self._unsupported(node, "the data must be the untransposed first input")
        B = np.asarray(self._constant(node, node.input[1]), dtype=np.float64)
        if B.ndim != 2:
            raise self._unsupported(node, f"weights of shape {B.shape} are not a matrix")
        # Y = alpha * A @ B' + beta * C with B' = B.T when transB, so the
        # (n_out, n_in) matrix pyregions stores is B.T, or B when transposed.
        W = attrs.get("alpha", 1.0) * (B if attrs.get("transB", 0) else B.T)
        b = None
        if len(node.input) > 2 and node.input[2]:
            b = attrs.get("beta", 1.0) * np.asarray(
                self._constant(node, node.input[2]), dtype=np.float64
            )
        self._dense(node, W, b)

    def _matmul(self, node, data):
        if node.input[0] != data:
            raise self._unsupported(node, "the data must be the first input")
        B = np.asarray(self._constant(node, node.input[1]), dtype=np.float64)
        if B.ndim != 2:
            raise self._unsupported(node, f"weights of shape {B.shape} are not a matrix")
        self._dense(node, B.T, None)

    def _add(self, node, data):
        # The bias of a MatMul + Add pair, as tf2onnx writes a Keras Dense.
        other = [name for name in node.input if name != data]
        last = self.steps[-1] if self.steps else None
        if len(other) != 1 or last is None or last[1] is None or last[1].ndim != 2:
            raise self._unsupported(node, "an Add must add a constant bias to a MatMul or Gemm")
        last[2] = last[2] + self._bias(node, self._constant(node, other[0]), last[1].shape[0])

    def _relu(self, node, data):
        self.steps.append([self._label(node), None, None])

    def _flatten(self, node, data):
        if self._attributes(node).get("axis", 1) != 1:
            raise self._unsupported(node, "only Flatten with axis=1 keeps the batch axis")

    def _reshape(self, node, data):
        shape = self._constant(node, node.input[1]).tolist()
        last = self.steps[-1] if self.steps else None
        if len(shape) == 3 and last is not None and last[1] is not None and last[1].ndim == 2:
            self._maxout_reshape(node, shape, last)
            return
        # Only a flatten to (batch, features) keeps the samples apart; a
        # shape of (batch, k) with k smaller than the features would split
        # each sample into several rows.
        flat = len(shape) == 2 and (
            shape[1] == -1 or (shape[1] > 0 and self.n_features in (None, shape[1]))
        )
        if not flat:
            why = f"shape {shape} is not a flatten to (batch, features)"
            if len(shape) == 3:
                why += (
                    ", and a split into (batch, units, pieces) must directly follow "
                    "a dense layer (Gemm or MatMul)"
                )
            raise self._unsupported(node, why)

    def _maxout_reshape(self, node, shape, last):
        """Start a maxout layer: split the dense step ``last`` into pieces."""
        n_units, n_pieces = shape[1:]
        # The batch axis (shape[0]) may be -1, 0 (copy) or the exported
        # batch size; the others must split the dense outputs exactly.
        if not (n_units > 0 and n_pieces > 0 and n_units * n_pieces == last[1].shape[0]):
            raise self._unsupported(
                node,
                f"shape {shape} does not split the {last[1].shape[0]} outputs of "
                f"{last[0]} into (batch, units, pieces)",
            )
        self.maxout = (node, n_units, n_pieces)

    def _reduce_max(self, node, data):
        if self.maxout is None:
            raise self._unsupported(
                node, "a ReduceMax must follow a Reshape of a dense layer to (batch, units, pieces)"
            )
        attrs = self._attributes(node)
        # Opset 18 moved ``axes`` from an attribute to an optional input.
        if len(node.input) > 1 and node.input[1]:
            axes = np.asarray(self._constant(node, node.input[1])).reshape(-1).tolist()
        else:
            axes = list(attrs.get("axes", []))
        if axes not in ([-1], [2]):
            raise self._unsupported(
                node, f"axes {axes}: a maxout reduces the last axis of (batch, units, pieces)"
            )
        if attrs.get("keepdims", 1) != 0:
            raise self._unsupported(node, "a maxout needs keepdims=0")
        _, n_units, n_pieces = self.maxout
        self.maxout = None
        last = self.steps[-1]
        # The Reshape is C-order, so dense output ``i * pieces + p`` is
        # piece p of unit i, as in pyregions.torch.Maxout.
        W = last[1].reshape(n_units, n_pieces, last[1].shape[1])
        self.steps[-1] = [self._label(node), W, last[2].reshape(n_units, n_pieces)]
        self.n_features = n_units


def network_from_onnx(model) -> Network:
    """Read an ONNX model of dense layers, ReLUs and maxout layers.

    The graph is walked from its single input along the data path; weights
    come from initializers and ``Constant`` nodes. No ONNX runtime is needed.

    Parameters
    ----------
    model : str, path-like or onnx.ModelProto
        An ``.onnx`` file (its external data, if any, beside it) or a loaded
        model. The data path may hold ``Gemm`` (``transA=0``, any ``transB``,
        ``alpha`` and ``beta``), ``MatMul`` with constant right-hand weights,
        ``Add`` of a constant bias after either, ``Relu``, ``Flatten``
        (``axis=1``), ``Reshape`` to ``(batch, features)`` and ``Identity``:
        what ``torch.onnx.export`` writes for a Sequential, and what tf2onnx
        writes for a Keras model of Dense layers. A maxout layer, as exported
        from :class:`pyregions.torch.Maxout`, is a dense step, a ``Reshape``
        to ``(batch, units, pieces)`` by a constant shape, then ``ReduceMax``
        over the last axis (``axes`` ``[-1]`` or ``[2]``, as an attribute or,
        from opset 18, a constant input) with ``keepdims=0``.

    Returns
    -------
    Network
        Hidden layers from each dense step followed by ``Relu`` and from each
        maxout pattern; a final dense step is the output layer.

    Raises
    ------
    ModelFormatError
        When the file is missing, unreadable or not an ONNX model.
    UnsupportedLayerError
        When an operator is not listed above or a ``Reshape`` or ``ReduceMax``
        does not fit the patterns above (the message names its type and
        node), the graph is not a single chain from one input to one output,
        or dense steps and ``Relu`` do not alternate.
    ShapeError
        When a bias does not fit its layer or the shapes do not chain.
    TypeError
        When ``model`` is neither a path nor an ``onnx.ModelProto``.
    ImportError
        When onnx is not installed.
    """
    loaded, source = _load_onnx(model)
    return _assemble(_OnnxWalk(loaded.graph, source).run())
