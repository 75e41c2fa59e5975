"""Read a torch ``nn.Sequential`` (or a saved one) as a :class:`~pyregions.network.Network`."""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path

import numpy as np

from ..exceptions import ModelFormatError, ShapeError, UnsupportedLayerError
from ..lowering import Lowering
from ..network import Network
from ._steps import assemble, require

__all__ = ["network_from_torch", "network_from_torch_file"]


def _torch_leaves(module, prefix: str = ""):
    """Yield ``(name, layer)`` for the layers of nested Sequentials, in order."""
    from torch import nn

    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            yield from _torch_leaves(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def _torch_array(tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()


def _torch_linear(layer):
    """The float64 ``(weights, bias)`` of an ``nn.Linear``; no bias is zero."""
    W = _torch_array(layer.weight)
    if layer.bias is None:
        return W, np.zeros(W.shape[0])
    return W, _torch_array(layer.bias)


def _torch_steps(module):
    from torch import nn

    from ..torch import Maxout

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


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _torch_lowered_kinds():
    """Layers that only :class:`pyregions.lowering.Lowering` reads."""
    from torch import nn

    return (
        nn.Conv2d, nn.modules.batchnorm._BatchNorm, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
        nn.MaxPool2d, nn.LeakyReLU, nn.PReLU, nn.Hardtanh,
    )


def _torch_input_shape(leaves, input_shape) -> tuple[int, ...]:
    """``input_shape`` checked, or the input size of a first dense layer."""
    from torch import nn

    from ..torch import Maxout

    if input_shape is not None:
        return tuple(int(n) for n in input_shape)
    for name, layer in leaves:
        if isinstance(layer, (nn.Linear, Maxout)):
            return (layer.in_features,)
        if not isinstance(layer, (nn.Identity, nn.Dropout, nn.Flatten)):
            msg = (
                f"layer {name}: {layer!r} reads an input of unknown shape: "
                "pass input_shape, e.g. (1, 28, 28) for MNIST images"
            )
            raise ShapeError(msg)
    msg = "the model has no hidden layer: pass input_shape to read it"
    raise UnsupportedLayerError(msg)


def _torch_lowered(leaves, input_shape: tuple[int, ...]) -> Network:
    """Lower a Sequential's layers through :class:`pyregions.lowering.Lowering`."""
    from torch import nn

    from ..torch import Maxout

    names = [f"t{i}" for i in range(len(leaves) + 1)]
    lowering = Lowering(names[0], input_shape, dict.fromkeys(names, 1))
    for (name, layer), source, out in zip(leaves, names, names[1:]):
        label = f"layer {name}: {layer!r}"
        if isinstance(layer, Maxout):
            label = f"layer {name}: Maxout({layer.extra_repr()})"
            lowering.dense(out + "z", source, *_torch_linear(layer.linear), label)
            shape = lowering.shape(out + "z")
            lowering.reshape(out + "r", out + "z", (*shape[:-1], layer.out_features, layer.rank), label)
            lowering.reduce_max(out, out + "r", [-1], False, label)
        elif isinstance(layer, nn.Linear):
            lowering.dense(out, source, *_torch_linear(layer), label)
        elif isinstance(layer, nn.Conv2d):
            if layer.padding_mode != "zeros":
                msg = f"unsupported {label}: padding_mode {layer.padding_mode!r} (only 'zeros')"
                raise UnsupportedLayerError(msg)
            dilations = _pair(layer.dilation)
            if layer.padding == "same":
                total = [(k - 1) * d for k, d in zip(layer.kernel_size, dilations)]
                pads = (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
            else:
                padding = (0, 0) if layer.padding == "valid" else _pair(layer.padding)
                pads = (*padding, *padding)
            lowering.conv(
                out, source, _torch_array(layer.weight),
                None if layer.bias is None else _torch_array(layer.bias),
                strides=_pair(layer.stride), pads=pads, dilations=dilations, groups=layer.groups,
                label=label,
            )
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            if layer.running_mean is None:
                msg = f"unsupported {label}: no running statistics (track_running_stats=False)"
                raise UnsupportedLayerError(msg)
            scale = 1.0 / np.sqrt(_torch_array(layer.running_var) + layer.eps)
            if layer.affine:
                scale = scale * _torch_array(layer.weight)
            shift = -_torch_array(layer.running_mean) * scale
            if layer.affine:
                shift = shift + _torch_array(layer.bias)
            # Per channel: the first axis of a sample.
            extra = (1,) * (len(lowering.shape(source)) - 1)
            lowering.scale_shift(out, source, scale.reshape(-1, *extra), shift.reshape(-1, *extra), label)
        elif isinstance(layer, nn.AvgPool2d):
            if layer.divisor_override is not None:
                msg = f"unsupported {label}: divisor_override"
                raise UnsupportedLayerError(msg)
            padding = _pair(layer.padding)
            lowering.average_pool(
                out, source, _pair(layer.kernel_size), strides=_pair(layer.stride or layer.kernel_size),
                pads=(*padding, *padding), ceil_mode=layer.ceil_mode,
                count_include_pad=layer.count_include_pad, label=label,
            )
        elif isinstance(layer, nn.AdaptiveAvgPool2d) and _pair(layer.output_size) == (1, 1):
            size = tuple(lowering.shape(source)[1:])
            lowering.average_pool(out, source, size, strides=size, pads=(0, 0, 0, 0), label=label)
        elif isinstance(layer, nn.MaxPool2d):
            if layer.return_indices:
                msg = f"unsupported {label}: return_indices"
                raise UnsupportedLayerError(msg)
            padding = _pair(layer.padding)
            lowering.max_pool(
                out, source, _pair(layer.kernel_size), strides=_pair(layer.stride or layer.kernel_size),
                pads=(*padding, *padding), dilations=_pair(layer.dilation), ceil_mode=layer.ceil_mode,
                label=label,
            )
        elif isinstance(layer, nn.ReLU):
            lowering.relu(out, source, label)
        elif isinstance(layer, nn.LeakyReLU):
            lowering.leaky_relu(out, source, layer.negative_slope, label)
        elif isinstance(layer, nn.PReLU):
            slope = _torch_array(layer.weight)
            extra = (1,) * (len(lowering.shape(source)) - 1)
            lowering.leaky_relu(out, source, slope.reshape(-1, *extra), label)
        elif isinstance(layer, nn.Hardtanh):
            lowering.clip(out, source, layer.min_val, layer.max_val, label)
        elif isinstance(layer, nn.Flatten) and layer.start_dim == 1 and layer.end_dim == -1:
            lowering.reshape(out, source, (math.prod(lowering.shape(source)),), label)
        elif isinstance(layer, (nn.Identity, nn.Dropout)):
            lowering.reshape(out, source, lowering.shape(source), label)
        else:
            msg = f"unsupported {label}"
            raise UnsupportedLayerError(msg)
    return lowering.network(names[-1])


def network_from_torch(module, *, input_shape=None) -> Network:
    """Convert a PyTorch ``nn.Sequential`` of dense, convolutional, pooling,
    normalising and piecewise-linear layers.

    Parameters
    ----------
    module : torch.nn.Sequential, str or path-like
        A Sequential of ``Linear``, ``ReLU``, :class:`pyregions.torch.Maxout`,
        ``Flatten`` (from dimension 1), ``Identity``, ``Dropout`` and nested
        Sequentials, with the Linears and ReLUs alternating as
        ``Linear, ReLU, ..., Linear[, ReLU]``; a ``Maxout`` may stand for any
        ``Linear, ReLU`` pair, as in ``Linear, ReLU, Maxout, Maxout, Linear``.
        With ``input_shape``, or with any of ``Conv2d`` (zero padding, any
        stride, dilation and groups), ``BatchNorm1d/2d`` (its running
        statistics, as in evaluation mode), ``AvgPool2d``,
        ``AdaptiveAvgPool2d(1)``, ``MaxPool2d``, ``LeakyReLU``, ``PReLU``,
        ``Hardtanh`` and ``ReLU6``, the layers may come in any order and are
        lowered by :class:`pyregions.lowering.Lowering`.
        A path is read by :func:`network_from_torch_file`.
    input_shape : tuple of int, optional
        The shape of one sample, such as ``(1, 28, 28)``; needed when the
        first layer is not dense.

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
        When a weight is not finite, the layers' sizes do not chain, a
        Maxout's Linear does not have ``out_features * rank`` outputs, or the
        input shape is needed and not given.
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
        return network_from_torch_file(module, input_shape=input_shape)
    torch = require("torch", "PyTorch")
    if not isinstance(module, torch.nn.Module):
        msg = f"module must be a torch.nn.Sequential or a path, got {type(module).__name__}"
        raise TypeError(msg)
    if not isinstance(module, torch.nn.Sequential):
        # Any other module's forward is arbitrary Python, so the order in
        # which its children run is unknown.
        msg = f"unsupported model {type(module).__name__}: only torch.nn.Sequential can be read"
        raise UnsupportedLayerError(msg)
    leaves = list(_torch_leaves(module))
    if input_shape is None and not any(isinstance(layer, _torch_lowered_kinds()) for _, layer in leaves):
        return assemble(_torch_steps(module))
    return _torch_lowered(leaves, _torch_input_shape(leaves, input_shape))


def network_from_torch_file(path: str | PathLike, *, input_shape=None) -> Network:
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
    torch = require("torch", "PyTorch")
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
    return network_from_torch(module, input_shape=input_shape)
