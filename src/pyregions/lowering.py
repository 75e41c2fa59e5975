"""Lower convolutional and residual models exactly to a :class:`~pyregions.network.Network`.

A model is a graph of tensor operations on one input sample. Every tensor
is kept as an affine function of the *variables*, the outputs of the last
hidden layer built (the input, before the first):

.. math::

    T = A^\\top v + c, \\qquad A \\in \\mathbb{R}^{n_v \\times \\text{shape}},

so a linear operation (convolution, batch normalisation in inference mode,
average pooling, reshapes, arithmetic with constants, dense layers) maps
``A`` and ``c`` and builds nothing, and each piecewise-linear operation
builds one hidden layer whose pre-activations are the rows of ``A`` and
``c``. The regions are unchanged because each operation becomes units whose
joint states are in one-to-one correspondence with its own pieces, with the
same walls:

* ``Relu``: a ReLU unit per element.
* ``LeakyRelu`` / ``PRelu`` of slope ``s``: ``relu(a) - s relu(-a)``, two
  ReLU units on the same wall ``a = 0``, of which one is active on each side
  (a slope of 0 is one unit, a slope of 1 the identity).
* ``Clip`` to ``[lo, hi]``: ``lo + relu(a - lo) - relu(a - hi)``: the
  states (off, off), (on, off), (on, on) are the clip's three pieces and
  (off, on) is empty; with one bound, one unit.
* ``MaxPool`` and ``ReduceMax``: a maxout unit whose pieces are its
  window's elements; a window cut by padding repeats one of them, a piece
  identical to another, which the count never splits (ties go to the
  lower piece).

A tensor still needed after a piecewise-linear operation (the shortcut of a
residual block) is *carried* through its layer: each variable it reads
becomes a unit ``relu(v) = v`` of the new layer (a piece ``v`` repeated in a
maxout layer). In a ReLU layer this is exact only for a variable that is 0
or positive on every region, with its own unit's wall: the output of a
ReLU unit, of a carry of one, or of a max of non-negative combinations of
them; a shortcut that reads anything else is refused. Carried units split
no region: they only pass values on, and a pattern records their states
beside the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .exceptions import ShapeError, UnsupportedLayerError
from .network import Network

__all__ = ["Lowering", "conv2d", "pool_windows"]


@dataclass
class _Value:
    """A tensor of one sample as ``A`` (n_vars, *shape) and ``c`` (*shape)."""

    A: np.ndarray
    c: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.c.shape


def conv2d(x, weights, bias, *, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """A 2-D convolution of a batch ``x`` (n, C, H, W), as ONNX ``Conv``.

    ``pads`` is ``(top, left, bottom, right)``; ``bias`` may be None.
    """
    n, channels, height, width = x.shape
    out_channels, per_group, kh, kw = weights.shape
    if channels != per_group * groups or out_channels % groups:
        msg = (
            f"a convolution of {groups} group(s) with weights of shape {weights.shape} "
            f"does not fit {channels} input channels"
        )
        raise ShapeError(msg)
    padded = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    span_h, span_w = (kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1
    oh = (padded.shape[2] - span_h) // strides[0] + 1
    ow = (padded.shape[3] - span_w) // strides[1] + 1
    if oh < 1 or ow < 1:
        msg = f"a {kh}x{kw} kernel does not fit a {height}x{width} input"
        raise ShapeError(msg)
    out = np.zeros((n, out_channels, oh, ow))
    per_out = out_channels // groups
    for i in range(kh):
        for j in range(kw):
            top, left = i * dilations[0], j * dilations[1]
            patch = padded[
                :, :, top : top + strides[0] * (oh - 1) + 1 : strides[0],
                left : left + strides[1] * (ow - 1) + 1 : strides[1],
            ]
            for g in range(groups):
                out[:, g * per_out : (g + 1) * per_out] += np.einsum(
                    "ncij,oc->noij",
                    patch[:, g * per_group : (g + 1) * per_group],
                    weights[g * per_out : (g + 1) * per_out, :, i, j],
                )
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def pool_windows(size, kernel, *, strides, pads=(0, 0, 0, 0), dilations=(1, 1), ceil_mode=False):
    """The windows of a 2-D pooling over an input of ``size`` (H, W).

    Returns ``(out_size, index)``: ``index`` of shape (OH * OW, kh * kw)
    holds each window's flat input positions, -1 where the window lies in
    the padding.
    """
    axes = []
    for axis in range(2):
        span = (kernel[axis] - 1) * dilations[axis] + 1
        room = size[axis] + pads[axis] + pads[axis + 2] - span
        rounding = math.ceil if ceil_mode else math.floor
        count = rounding(room / strides[axis]) + 1
        # As torch: a last window that starts in the right padding is dropped.
        if ceil_mode and (count - 1) * strides[axis] >= size[axis] + pads[axis]:
            count -= 1
        if count < 1:
            msg = f"a pooling window of {kernel} does not fit an input of {tuple(size)}"
            raise ShapeError(msg)
        starts = np.arange(count) * strides[axis] - pads[axis]
        positions = starts[:, None] + np.arange(kernel[axis]) * dilations[axis]
        axes.append(np.where((positions >= 0) & (positions < size[axis]), positions, -1))
    rows, cols = axes
    valid = (rows[:, None, :, None] >= 0) & (cols[None, :, None, :] >= 0)
    flat = rows[:, None, :, None] * size[1] + cols[None, :, None, :]
    index = np.where(valid, flat, -1)
    return (rows.shape[0], cols.shape[0]), index.reshape(rows.shape[0] * cols.shape[0], -1)


class Lowering:
    """Build a network from the operations of a model, one at a time.

    Tensors are named; each operation reads named tensors and writes one.
    Each tensor is dropped after its last use (``uses`` counts them): the
    tensors still held when a piecewise-linear operation runs are carried
    through its layer.

    Parameters
    ----------
    input_name : str
    input_shape : tuple of int
        The shape of one sample, without the batch axis.
    uses : dict of str to int
        How many times each tensor is read, the model's output once more.
    """

    def __init__(self, input_name: str, input_shape: tuple[int, ...], uses: dict[str, int]):
        n = math.prod(input_shape)
        self.n_inputs = n
        self.values = {input_name: _Value(np.eye(n).reshape(n, *input_shape), np.zeros(input_shape))}
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        # Per variable: 0 or positive on every region, on its own unit's wall.
        self.nonnegative = np.zeros(n, dtype=bool)
        self.uses = dict(uses)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.values[name].shape

    def _take(self, name: str) -> _Value:
        """Read tensor ``name``, dropping it after its last use."""
        self.uses[name] = self.uses.get(name, 1) - 1
        return self.values[name] if self.uses[name] > 0 else self.values.pop(name)

    # -- linear operations ----------------------------------------------------

    def affine(self, out: str, source: str, operation) -> None:
        """``out = operation(source)`` for an affine ``operation(x, with_constant)``
        of a batch ``x`` (n, *shape), which adds its constant term only when
        told: the variables' part of ``source`` takes the linear part alone."""
        value = self._take(source)
        self.values[out] = _Value(
            operation(value.A, False), operation(value.c[None], True)[0]
        )

    def combine(self, out: str, first: str, second: str, sign: float = 1.0) -> None:
        """``out = first + sign * second`` of two tensors (broadcast)."""
        a, b = self._take(first), self._take(second)
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError as err:
            msg = f"cannot add tensors of shapes {a.shape} and {b.shape}"
            raise ShapeError(msg) from err
        n = a.A.shape[0]
        self.values[out] = _Value(
            np.broadcast_to(a.A, (n, *shape)) + sign * np.broadcast_to(b.A, (n, *shape)),
            np.broadcast_to(a.c, shape) + sign * np.broadcast_to(b.c, shape),
        )

    def dense(self, out: str, source: str, weights: np.ndarray, bias: np.ndarray | None, label: str) -> None:
        """``weights @ x + bias`` along the last axis, ``weights`` of shape (n_out, n_in)."""
        shape = self.shape(source)
        if shape[-1] != weights.shape[1]:
            msg = f"unsupported {label}: {weights.shape[1]} inputs do not fit a tensor of shape {shape}"
            raise UnsupportedLayerError(msg)
        b = np.zeros(weights.shape[0]) if bias is None else bias
        self.affine(out, source, lambda x, constant: x @ weights.T + (b if constant else 0.0))

    def scale_shift(self, out: str, source: str, factor, shift, label: str) -> None:
        """``factor * x + shift``, constants broadcast against the batched tensor."""
        shape = self.shape(source)
        factor, shift = (self._broadcast(v, shape, label) for v in (factor, shift))
        self.affine(out, source, lambda x, constant: x * factor + (shift if constant else 0.0))

    def reshape(self, out: str, source: str, shape: tuple[int, ...], label: str) -> None:
        """A C-order reshape of one sample."""
        if math.prod(shape) != math.prod(self.shape(source)):
            msg = f"unsupported {label}: cannot reshape {self.shape(source)} to {shape} per sample"
            raise UnsupportedLayerError(msg)
        self.affine(out, source, lambda x, constant: x.reshape(x.shape[0], *shape))

    def conv(self, out, source, weights, bias, *, strides, pads, dilations, groups, label) -> None:
        shape = self._image(source, label)
        try:
            conv2d(np.zeros((1, *shape)), weights, None, strides=strides, pads=pads,
                   dilations=dilations, groups=groups)
        except ShapeError as err:
            msg = f"unsupported {label}: {err}"
            raise UnsupportedLayerError(msg) from err
        self.affine(out, source, lambda x, constant: conv2d(
            x, weights, bias if constant else None, strides=strides, pads=pads,
            dilations=dilations, groups=groups,
        ))

    def average_pool(self, out, source, kernel, *, strides, pads, dilations=(1, 1), ceil_mode=False,
                     count_include_pad=False, label) -> None:
        channels, *size = self._image(source, label)
        out_size, index = self._windows(size, kernel, strides, pads, dilations, ceil_mode, label)
        if count_include_pad:
            # As torch and ONNX: the padding counts, the part past it (ceil mode) does not.
            starts = [np.arange(n) * s - p for n, s, p in zip(out_size, strides, pads)]
            ends = [np.minimum(st + k, sz + p) for st, k, sz, p in zip(starts, kernel, size, pads[2:])]
            divisor = np.outer(ends[0] - starts[0], ends[1] - starts[1]).ravel()
        else:
            divisor = (index >= 0).sum(axis=1)
        pick = np.where(index >= 0, index, 0)
        weight = (index >= 0) / divisor[:, None]

        def pool(x, constant):
            flat = x.reshape(x.shape[0], channels, -1)
            return (flat[:, :, pick] * weight).sum(axis=3).reshape(x.shape[0], channels, *out_size)

        self.affine(out, source, pool)

    def max_pool(self, out, source, kernel, *, strides, pads, dilations, ceil_mode, label) -> None:
        channels, *size = self._image(source, label)
        out_size, index = self._windows(size, kernel, strides, pads, dilations, ceil_mode, label)
        positions = math.prod(size)
        per_channel = np.arange(channels)[:, None, None] * positions + index[None]
        self.max_units(
            out, source, np.where(index[None] >= 0, per_channel, -1).reshape(-1, index.shape[1]),
            (channels, *out_size), label,
        )

    def reduce_max(self, out: str, source: str, axes, keepdims: bool, label: str) -> None:
        """The largest element along the sample axes ``axes``."""
        shape = self.shape(source)
        axes = sorted({a % len(shape) for a in axes})
        rest = [a for a in range(len(shape)) if a not in axes]
        order = np.arange(math.prod(shape)).reshape(shape).transpose(rest + axes)
        kept = [shape[a] for a in rest]
        out_shape = [1 if a in axes else n for a, n in enumerate(shape)] if keepdims else kept
        self.max_units(out, source, order.reshape(math.prod(kept), -1), tuple(out_shape), label)

    def _image(self, source: str, label: str) -> tuple[int, ...]:
        shape = self.shape(source)
        if len(shape) != 3:
            msg = f"unsupported {label}: needs (channels, height, width) samples, got shape {shape}"
            raise UnsupportedLayerError(msg)
        return shape

    @staticmethod
    def _windows(size, kernel, strides, pads, dilations, ceil_mode, label):
        try:
            return pool_windows(size, kernel, strides=strides, pads=pads, dilations=dilations,
                                ceil_mode=ceil_mode)
        except ShapeError as err:
            msg = f"unsupported {label}: {err}"
            raise UnsupportedLayerError(msg) from err

    @staticmethod
    def _broadcast(value, shape: tuple[int, ...], label: str) -> np.ndarray:
        """A constant of the batched tensor's broadcast, without its batch axis."""
        value = np.asarray(value, dtype=np.float64)
        if value.ndim > len(shape):
            if value.ndim > len(shape) + 1 or value.shape[0] != 1:
                msg = f"unsupported {label}: a constant of shape {value.shape} mixes the samples"
                raise UnsupportedLayerError(msg)
            value = value[0]
        try:
            return np.broadcast_to(value, np.broadcast_shapes(value.shape, shape))
        except ValueError as err:
            msg = f"unsupported {label}: a constant of shape {value.shape} does not fit {shape}"
            raise UnsupportedLayerError(msg) from err

    # -- piecewise-linear operations ------------------------------------------

    def relu(self, out: str, source: str, label: str) -> None:
        value = self._take(source)
        rows, constant = self._rows(value)
        self._relu_layer(out, value.shape, [rows], [constant], [1.0], 0.0, label)

    def leaky_relu(self, out: str, source: str, slope, label: str) -> None:
        """``max(a, slope * a)``, ``slope`` a scalar or an array broadcast to the tensor."""
        value = self._take(source)
        slope = np.broadcast_to(np.asarray(slope, dtype=np.float64), value.shape).ravel()
        if np.all(slope == 1.0):
            self.values[out] = value
            return
        if np.any(slope == 1.0):
            # relu(a) - relu(-a) = a would add a wall at a = 0 that the model does not have.
            msg = f"unsupported {label}: a slope of 1 on some elements only makes them linear"
            raise UnsupportedLayerError(msg)
        rows, constant = self._rows(value)
        if np.all(slope == 0.0):
            self._relu_layer(out, value.shape, [rows], [constant], [1.0], 0.0, label)
            return
        self._relu_layer(out, value.shape, [rows, -rows], [constant, -constant], [1.0, -slope], 0.0, label)

    def clip(self, out: str, source: str, lower: float | None, upper: float | None, label: str) -> None:
        """``min(max(a, lower), upper)``; a missing bound is no bound."""
        value = self._take(source)
        if lower is None and upper is None:
            self.values[out] = value
            return
        if lower is not None and upper is not None and lower >= upper:
            # ONNX: every output is the upper bound.
            self.values[out] = _Value(np.zeros_like(value.A), np.full(value.shape, float(upper)))
            return
        rows, constant = self._rows(value)
        if upper is None:
            self._relu_layer(out, value.shape, [rows], [constant - lower], [1.0], lower, label)
        elif lower is None:
            self._relu_layer(out, value.shape, [-rows], [upper - constant], [-1.0], upper, label)
        else:
            self._relu_layer(
                out, value.shape, [rows, rows], [constant - lower, constant - upper], [1.0, -1.0],
                lower, label,
            )

    def max_units(self, out: str, source: str, index: np.ndarray, out_shape, label: str) -> None:
        """Maxout units: unit ``u`` is the largest of the flat elements
        ``index[u]`` of ``source`` (-1 for none)."""
        value = self._take(source)
        rows, constant = self._rows(value)
        if np.any(np.all(index < 0, axis=1)):
            msg = f"unsupported {label}: a window lies wholly in the padding"
            raise UnsupportedLayerError(msg)
        if index.shape[1] == 1:
            self.values[out] = _Value(
                rows[:, index[:, 0]].reshape(-1, *out_shape), constant[index[:, 0]].reshape(out_shape)
            )
            return
        # A window cut by padding repeats an element of its own: the two
        # pieces are one function, and the tie always goes to the same one.
        first_inside = index[np.arange(index.shape[0]), np.argmax(index >= 0, axis=1)]
        filled = np.where(index >= 0, index, first_inside[:, None])
        W = rows[:, filled].transpose(1, 2, 0)
        b = constant[filled]
        carried = self._carried(label, maxout=True)
        n_units = W.shape[0]
        weights = np.concatenate([W, np.repeat(self._carry_rows(carried)[:, None, :], W.shape[1], 1)])
        biases = np.concatenate([b, np.zeros((carried.size, W.shape[1]))])
        pieces_nonnegative = np.all((W >= 0) & (self.nonnegative | (W == 0)), axis=(1, 2)) & np.all(
            b == 0.0, axis=1
        )
        self._push(weights, biases, carried, np.concatenate([pieces_nonnegative, self.nonnegative[carried]]))
        A = np.zeros((weights.shape[0], n_units))
        A[np.arange(n_units), np.arange(n_units)] = 1.0
        self.values[out] = _Value(A.reshape(-1, *out_shape), np.zeros(out_shape))

    # -- building ------------------------------------------------------------

    def network(self, output: str) -> Network:
        """The network whose output is tensor ``output``."""
        if not self.layers:
            msg = "the model has no hidden layer (no ReLU-like, clip or max operation)"
            raise UnsupportedLayerError(msg)
        value = self.values[output]
        rows, constant = self._rows(value)
        weights, biases = zip(*self.layers)
        if rows.shape == (rows.shape[0], rows.shape[0]) and np.array_equal(
            rows, np.eye(rows.shape[0])
        ) and not constant.any():
            return Network(weights, biases)
        return Network(weights, biases, output_weights=rows.T, output_bias=constant)

    @staticmethod
    def _rows(value: _Value) -> tuple[np.ndarray, np.ndarray]:
        """``A`` as (n_vars, n_elements) and ``c`` flat."""
        return value.A.reshape(value.A.shape[0], -1), value.c.ravel()

    def _carried(self, label: str, *, maxout: bool) -> np.ndarray:
        """The variables that the tensors still held read: carried through
        the next layer."""
        if not self.values:
            return np.zeros(0, dtype=np.intp)
        used = np.zeros(self.nonnegative.shape[0], dtype=bool)
        for value in self.values.values():
            used |= np.any(value.A.reshape(value.A.shape[0], -1) != 0.0, axis=1)
        if not maxout and np.any(used & ~self.nonnegative):
            msg = (
                f"unsupported {label}: a tensor used after it (a residual shortcut) reads "
                "values that are not ReLU outputs, which a ReLU layer cannot pass on exactly"
            )
            raise UnsupportedLayerError(msg)
        return np.flatnonzero(used)

    def _carry_rows(self, carried: np.ndarray) -> np.ndarray:
        rows = np.zeros((carried.size, self.nonnegative.shape[0]))
        rows[np.arange(carried.size), carried] = 1.0
        return rows

    def _relu_layer(self, out, shape, row_blocks, constant_blocks, output_factors, offset, label):
        """A ReLU layer of the units ``relu(rows.T v + constant)`` of each block,
        and ``out = offset + sum_k factor_k * (units of block k)``."""
        carried = self._carried(label, maxout=False)
        weights = np.concatenate([rows.T for rows in row_blocks] + [self._carry_rows(carried)])
        biases = np.concatenate(constant_blocks + [np.zeros(carried.size)])
        n_elements = row_blocks[0].shape[1]
        A = np.zeros((weights.shape[0], n_elements))
        element = np.arange(n_elements)
        for k, factor in enumerate(output_factors):
            A[k * n_elements + element, element] = factor
        self._push(weights, biases, carried, np.ones(weights.shape[0], dtype=bool))
        self.values[out] = _Value(A.reshape(-1, *shape), np.full(shape, float(offset)))

    def _push(self, weights, biases, carried, nonnegative) -> None:
        """Add the layer; the tensors still held read its carried units."""
        start = weights.shape[0] - carried.size
        for name, value in self.values.items():
            A = np.zeros((weights.shape[0], *value.shape))
            A[start:] = value.A[carried]
            self.values[name] = _Value(A, value.c)
        self.layers.append((weights, biases))
        self.nonnegative = nonnegative
