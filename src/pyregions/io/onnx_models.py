"""Read an ONNX model (opset 13 and later) as a :class:`~pyregions.network.Network`."""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

import numpy as np

from ..exceptions import ModelFormatError, ShapeError, UnsupportedLayerError
from ..lowering import Lowering
from ..network import Network
from ._steps import assemble, require

__all__ = ["network_from_onnx"]


def _load_onnx(model):
    onnx = require("onnx", "ONNX")
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


def _onnx_attribute(attribute):
    from onnx import helper

    return helper.get_attribute_value(attribute)


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
        return {a.name: _onnx_attribute(a) for a in node.attribute}

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


# Operators only the graph lowering reads: a model with any of them (or
# with a residual Add) is read by it rather than by _OnnxWalk.
_ONNX_LOWERED = {
    "Conv", "BatchNormalization", "AveragePool", "GlobalAveragePool", "MaxPool", "LeakyRelu",
    "PRelu", "Clip", "Sub", "Mul", "Div", "Dropout",
}


def _needs_lowering(graph, constants) -> bool:
    return any(
        node.op_type in _ONNX_LOWERED
        or node.op_type == "Add" and all(name not in constants for name in node.input)
        for node in graph.node
    )


class _OnnxGraph:
    """Lower an ONNX graph, node by node in its (topological) order."""

    def __init__(self, graph, source: str):
        self.source = source
        self.constants = _onnx_constants(graph)
        inputs = [i for i in graph.input if i.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            msg = (
                f"{source}: expected one graph input and one output, got "
                f"{[i.name for i in inputs]} and {[o.name for o in graph.output]}"
            )
            raise UnsupportedLayerError(msg)
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) < 2 or not all(d.HasField("dim_value") for d in dims[1:]):
            msg = f"{source}: the input '{inputs[0].name}' needs a static shape besides its batch axis"
            raise UnsupportedLayerError(msg)
        self.nodes = [node for node in graph.node if node.op_type != "Constant"]
        self.output = graph.output[0].name
        uses = {self.output: 1}
        for node in self.nodes:
            for name in node.input:
                uses[name] = uses.get(name, 0) + 1
        self.lowering = Lowering(inputs[0].name, tuple(d.dim_value for d in dims[1:]), uses)

    def run(self) -> Network:
        for node in self.nodes:
            label = _OnnxWalk._label(node)
            data = [name for name in node.input if name in self.lowering.values]
            if not data:
                raise UnsupportedLayerError(f"unsupported {label}: it reads no data")
            if len([o for o in node.output if o]) != 1:
                raise UnsupportedLayerError(f"unsupported {label}: expected one output")
            handler = getattr(self, f"_{node.op_type.lower()}", None)
            if handler is None:
                raise UnsupportedLayerError(f"unsupported {label}")
            attrs = {a.name: _onnx_attribute(a) for a in node.attribute}
            handler(node, label, attrs)
        if self.output not in self.lowering.values:
            msg = f"{self.source}: the output '{self.output}' is not computed from the input"
            raise UnsupportedLayerError(msg)
        return self.lowering.network(self.output)

    def _constant(self, node, index: int, label: str, default=None):
        if index >= len(node.input) or not node.input[index]:
            return default
        name = node.input[index]
        if name not in self.constants:
            raise UnsupportedLayerError(f"unsupported {label}: input '{name}' is not a constant")
        return np.asarray(self.constants[name], dtype=np.float64)

    def _spatial(self, node, attrs, label, kernel):
        """Strides, pads (top, left, bottom, right) and dilations of a 2-D
        convolution or pooling, ``auto_pad`` resolved."""
        if len(kernel) != 2:
            raise UnsupportedLayerError(f"unsupported {label}: only 2-D kernels, got {tuple(kernel)}")
        strides = tuple(attrs.get("strides", (1, 1)))
        dilations = tuple(attrs.get("dilations", (1, 1)))
        pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad == "VALID":
            pads = (0, 0, 0, 0)
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            size = self.lowering.shape(node.input[0])[1:]
            total = [
                max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
                for n, s, k, d in zip(size, strides, kernel, dilations)
            ]
            # SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start.
            small = [t // 2 for t in total]
            large = [t - t // 2 for t in total]
            pads = (*small, *large) if auto_pad == "SAME_UPPER" else (*large, *small)
        elif auto_pad != "NOTSET":
            raise UnsupportedLayerError(f"unsupported {label}: auto_pad {auto_pad!r}")
        return dict(strides=strides, pads=pads, dilations=dilations)

    def _conv(self, node, label, attrs):
        weights = self._constant(node, 1, label)
        self.lowering.conv(
            node.output[0], node.input[0], weights, self._constant(node, 2, label),
            groups=attrs.get("group", 1), label=label,
            **self._spatial(node, attrs, label, weights.shape[2:]),
        )

    def _batchnormalization(self, node, label, attrs):
        if attrs.get("training_mode", 0):
            raise UnsupportedLayerError(f"unsupported {label}: training_mode=1")
        scale, bias, mean, var = (self._constant(node, i, label) for i in range(1, 5))
        factor = scale / np.sqrt(var + attrs.get("epsilon", 1e-5))
        extra = (1,) * (len(self.lowering.shape(node.input[0])) - 1)
        self.lowering.scale_shift(
            node.output[0], node.input[0], factor.reshape(-1, *extra),
            (bias - mean * factor).reshape(-1, *extra), label,
        )

    def _averagepool(self, node, label, attrs):
        self.lowering.average_pool(
            node.output[0], node.input[0], tuple(attrs["kernel_shape"]),
            ceil_mode=bool(attrs.get("ceil_mode", 0)),
            count_include_pad=bool(attrs.get("count_include_pad", 0)), label=label,
            **self._spatial(node, attrs, label, attrs["kernel_shape"]),
        )

    def _globalaveragepool(self, node, label, attrs):
        size = self.lowering.shape(node.input[0])[1:]
        self.lowering.average_pool(
            node.output[0], node.input[0], size, strides=size, pads=(0, 0, 0, 0), label=label
        )

    def _maxpool(self, node, label, attrs):
        if attrs.get("storage_order", 0):
            raise UnsupportedLayerError(f"unsupported {label}: storage_order=1")
        self.lowering.max_pool(
            node.output[0], node.input[0], tuple(attrs["kernel_shape"]),
            ceil_mode=bool(attrs.get("ceil_mode", 0)), label=label,
            **self._spatial(node, attrs, label, attrs["kernel_shape"]),
        )

    def _relu(self, node, label, attrs):
        self.lowering.relu(node.output[0], node.input[0], label)

    def _leakyrelu(self, node, label, attrs):
        self.lowering.leaky_relu(node.output[0], node.input[0], attrs.get("alpha", 0.01), label)

    def _prelu(self, node, label, attrs):
        slope = self._constant(node, 1, label)
        shape = self.lowering.shape(node.input[0])
        self.lowering.leaky_relu(
            node.output[0], node.input[0], Lowering._broadcast(slope, shape, label), label
        )

    def _clip(self, node, label, attrs):
        # Opset 11 moved the bounds from attributes to optional inputs.
        lower = self._constant(node, 1, label, attrs.get("min"))
        upper = self._constant(node, 2, label, attrs.get("max"))
        self.lowering.clip(
            node.output[0], node.input[0], None if lower is None else float(lower),
            None if upper is None else float(upper), label,
        )

    def _maxout_like(self, node, label, attrs):
        if len(node.input) > 1 and node.input[1]:
            axes = self._constant(node, 1, label).astype(int).ravel().tolist()
        else:
            axes = list(attrs.get("axes", []))
        if not axes or 0 in axes or -len(self.lowering.shape(node.input[0])) - 1 in axes:
            raise UnsupportedLayerError(f"unsupported {label}: axes {axes} must leave the batch axis")
        axes = [a - 1 if a > 0 else a for a in axes]
        self.lowering.reduce_max(node.output[0], node.input[0], axes, bool(attrs.get("keepdims", 1)), label)

    _reducemax = _maxout_like

    def _arithmetic(self, node, label, attrs):
        op, (first, second) = node.op_type, node.input
        out, lowering = node.output[0], self.lowering
        data = [name in lowering.values for name in (first, second)]
        if all(data) and op in ("Add", "Sub"):
            lowering.combine(out, first, second, 1.0 if op == "Add" else -1.0)
        elif all(data) or (op == "Div" and data[1]):
            raise UnsupportedLayerError(f"unsupported {label}: not piecewise-linear in the input")
        else:
            name, constant = (first, self.constants[second]) if data[0] else (second, self.constants[first])
            constant = np.asarray(constant, dtype=np.float64)
            factor, shift = {
                "Add": (1.0, constant), "Mul": (constant, 0.0), "Div": (1.0 / constant, 0.0),
                "Sub": (1.0, -constant) if data[0] else (-1.0, constant),
            }[op]
            lowering.scale_shift(out, name, factor, shift, label)

    _add = _sub = _mul = _div = _arithmetic

    def _gemm(self, node, label, attrs):
        if attrs.get("transA", 0):
            raise UnsupportedLayerError(f"unsupported {label}: transA=1")
        B = self._constant(node, 1, label)
        W = attrs.get("alpha", 1.0) * (B if attrs.get("transB", 0) else B.T)
        C = self._constant(node, 2, label)
        bias = None if C is None else np.broadcast_to(attrs.get("beta", 1.0) * C, (W.shape[0],))
        self.lowering.dense(node.output[0], node.input[0], W, bias, label)

    def _matmul(self, node, label, attrs):
        self.lowering.dense(node.output[0], node.input[0], self._constant(node, 1, label).T, None, label)

    def _flatten(self, node, label, attrs):
        if attrs.get("axis", 1) != 1:
            raise UnsupportedLayerError(f"unsupported {label}: only Flatten with axis=1 keeps the batch axis")
        shape = self.lowering.shape(node.input[0])
        self.lowering.reshape(node.output[0], node.input[0], (math.prod(shape),), label)

    def _reshape(self, node, label, attrs):
        target = self._constant(node, 1, label).astype(int).tolist()
        shape = self.lowering.shape(node.input[0])
        # The batch axis is kept (0, -1, or the exported batch size, 1).
        rest = [shape[i] if n == 0 and i < len(shape) else n for i, n in enumerate(target[1:])]
        if target[0] == -1 and -1 in rest or target[0] not in (-1, 0, 1):
            raise UnsupportedLayerError(f"unsupported {label}: shape {target} does not keep the batch axis")
        if -1 in rest:
            rest[rest.index(-1)] = math.prod(shape) // max(-math.prod(rest), 1)
        self.lowering.reshape(node.output[0], node.input[0], tuple(rest), label)

    def _identity(self, node, label, attrs):
        shape = self.lowering.shape(node.input[0])
        self.lowering.reshape(node.output[0], node.input[0], shape, label)

    _dropout = _identity


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

        A graph with any of ``Conv`` (2-D, ``auto_pad`` NOTSET or VALID),
        ``BatchNormalization`` (inference), ``AveragePool``,
        ``GlobalAveragePool``, ``MaxPool``, ``LeakyRelu``, ``PRelu``,
        ``Clip``, ``Sub``, ``Mul``, ``Div`` (by constants), ``Dropout``, or
        an ``Add`` of two computed tensors (a residual block), is lowered
        instead by :class:`pyregions.lowering.Lowering`, node by node in the
        graph's order: it may then branch and join, hold ``ReduceMax`` over
        any sample axes, ``Reshape`` to any shape that keeps the batch axis,
        and needs a static input shape besides the batch axis.

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
    if _needs_lowering(loaded.graph, _onnx_constants(loaded.graph)):
        return _OnnxGraph(loaded.graph, source).run()
    return assemble(_OnnxWalk(loaded.graph, source).run())
