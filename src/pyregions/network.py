"""Network definitions: sizes, weights, biases and activations.

A :class:`Network` is a stack of hidden piecewise-linear layers followed by an
optional linear output layer. It knows nothing of solvers: formulations read
a network, a network never builds one.

.. math::

    a^l = W^l h^{l-1} + b^l, \\qquad h^l = \\max(0, a^l), \\qquad h^0 = x

for a ReLU layer with ``W^l`` of shape ``(n_l, n_{l-1})``, and

.. math::

    a^l_{ip} = W^l_{ip} h^{l-1} + b^l_{ip}, \\qquad h^l_i = \\max_{p < k} a^l_{ip}

for a maxout layer of rank ``k`` with ``W^l`` of shape ``(n_l, k, n_{l-1})``:
unit ``i`` outputs the largest of its ``k`` affine *pieces*. Layers of both
kinds may be mixed. The hidden units are the ones whose activation patterns
(the state of each ReLU, the winning piece of each maxout unit) define linear
regions; the output layer is affine and does not split regions.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ._validation import check_array, unreadable_reason
from .exceptions import ShapeError

__all__ = ["LinearLayer", "MaxoutLayer", "Network", "ReluLayer", "example_cnn", "example_network"]

#: The most pieces a maxout unit may have: patterns store the winning piece as int8.
MAX_RANK = 127


@dataclass(frozen=True, eq=False)
class _DenseLayer:
    """Weights with units on the first axis and inputs on the last."""

    weights: np.ndarray
    bias: np.ndarray

    @property
    def n_inputs(self) -> int:
        return self.weights.shape[-1]

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]


@dataclass(frozen=True, eq=False)
class ReluLayer(_DenseLayer):
    """A dense layer followed by the rectifier ``max(0, .)``.

    Parameters
    ----------
    weights : array of shape (n_out, n_in)
    bias : array of shape (n_out,)
    """

    activation = "relu"


@dataclass(frozen=True, eq=False)
class MaxoutLayer(_DenseLayer):
    """A dense maxout layer: each unit outputs the largest of its ``k`` pieces.

    Parameters
    ----------
    weights : array of shape (n_out, k, n_in)
        ``weights[i, p]`` is the weight vector of piece ``p`` of unit ``i``.
    bias : array of shape (n_out, k)
    """

    activation = "maxout"

    @property
    def rank(self) -> int:
        """Pieces per unit, ``k``."""
        return self.weights.shape[1]


@dataclass(frozen=True, eq=False)
class LinearLayer(_DenseLayer):
    """An affine output layer ``W h + b``; it is not counted."""

    activation = "linear"


def _dense(weights, bias, name: str, n_in: int | None):
    W = check_array(weights, f"weights{name}", ndim=2, shape=(None, n_in))
    b = check_array(bias, f"biases{name}", ndim=1, shape=(W.shape[0],))
    return W, b


def _hidden(weights, bias, name: str, n_in: int | None) -> ReluLayer | MaxoutLayer:
    """A ReLU layer from a 2-D ``weights``, a maxout layer from a 3-D one."""
    W = check_array(weights, f"weights{name}", ndim=(2, 3), shape=None)
    if W.ndim == 2:
        return ReluLayer(*_dense(W, bias, name, n_in))
    W = check_array(W, f"weights{name}", ndim=3, shape=(None, None, n_in))
    if not 2 <= W.shape[1] <= MAX_RANK:
        msg = f"weights{name}: a maxout layer needs 2 to {MAX_RANK} pieces per unit, got shape {W.shape}"
        raise ShapeError(msg)
    b = check_array(bias, f"biases{name}", ndim=2, shape=W.shape[:2])
    return MaxoutLayer(W, b)


class Network:
    """A feed-forward piecewise-linear network.

    Parameters
    ----------
    weights : sequence of arrays
        Per hidden layer, a matrix of shape ``(n_l, n_{l-1})`` for a ReLU
        layer or an array of shape ``(n_l, k, n_{l-1})`` for a maxout layer
        of rank ``k >= 2``.
    biases : sequence of arrays
        Per hidden layer, a vector of shape ``(n_l,)`` (ReLU) or an array of
        shape ``(n_l, k)`` (maxout).
    output_weights, output_bias : array, optional
        An affine output layer, shape ``(n_out, n_L)`` and ``(n_out,)``. It
        does not change the linear regions and is kept only so that a model
        round-trips.

    Raises
    ------
    ShapeError
        When there is no hidden layer, shapes do not chain, or a value is not
        finite.

    Examples
    --------
    >>> import numpy as np
    >>> from pyregions import Network
    >>> net = Network([np.eye(2), np.ones((3, 2))], [np.zeros(2), np.zeros(3)])
    >>> net.n_inputs, net.widths
    (2, (2, 3))
    >>> maxout = Network([np.ones((4, 3, 2))], [np.zeros((4, 3))])
    >>> maxout.widths, maxout.maxout_rank
    ((4,), 3)
    """

    def __init__(self, weights, biases, *, output_weights=None, output_bias=None):
        weights, biases = list(weights), list(biases)
        if not weights:
            msg = "a network needs at least one hidden layer, got weights=[]"
            raise ShapeError(msg)
        if len(weights) != len(biases):
            msg = f"got {len(weights)} weight matrices but {len(biases)} bias vectors"
            raise ShapeError(msg)
        layers = []
        n_in = None
        for i, (W, b) in enumerate(zip(weights, biases)):
            layers.append(_hidden(W, b, f"[{i}]", n_in))
            n_in = layers[-1].n_neurons
        self.layers: tuple[ReluLayer | MaxoutLayer, ...] = tuple(layers)
        if (output_weights is None) != (output_bias is None):
            msg = "output_weights and output_bias must be given together"
            raise ShapeError(msg)
        self.output: LinearLayer | None = None
        if output_weights is not None:
            self.output = LinearLayer(*_dense(output_weights, output_bias, "_out", n_in))

    @property
    def n_inputs(self) -> int:
        """Input dimension ``n_0``."""
        return self.layers[0].n_inputs

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden widths ``(n_1, ..., n_L)``."""
        return tuple(layer.n_neurons for layer in self.layers)

    @property
    def n_hidden(self) -> int:
        """Total number of hidden units."""
        return sum(self.widths)

    @property
    def ranks(self) -> tuple[int, ...]:
        """Pieces per unit of each hidden layer; a ReLU layer has rank 2
        (its unit is the maximum of ``a`` and ``0``)."""
        return tuple(getattr(layer, "rank", 2) for layer in self.layers)

    @property
    def maxout_rank(self) -> int | None:
        """None for a pure ReLU network, else the largest rank of its layers.

        The maxout bound of that rank holds for the whole network, since a
        unit of lower rank (a ReLU counts as rank 2) cuts fewer hyperplanes.
        """
        if all(layer.activation == "relu" for layer in self.layers):
            return None
        return max(self.ranks)

    def __repr__(self) -> str:
        sizes = "-".join(str(n) for n in (self.n_inputs, *self.widths))
        out = f", output={self.output.n_neurons}" if self.output is not None else ""
        return f"Network({sizes}{out})"

    def forward(self, x) -> np.ndarray:
        """Evaluate the network (with its output layer, if any) on inputs ``x``.

        Parameters
        ----------
        x : array of shape (n_samples, n_inputs)

        Returns
        -------
        array of shape (n_samples, n_out)
        """
        h = check_array(x, "x", ndim=2, shape=(None, self.n_inputs))
        for layer in self.layers:
            h = _activate(layer, _preactivation(layer, h))
        if self.output is not None:
            h = h @ self.output.weights.T + self.output.bias
        return h

    def activation_patterns(self, x) -> np.ndarray:
        """Activation pattern of every hidden unit at each input.

        A ReLU unit is active when its pre-activation is strictly positive.
        A maxout unit's state is the index of its winning piece, the first
        one on a tie.

        Parameters
        ----------
        x : array of shape (n_samples, n_inputs)

        Returns
        -------
        array of shape (n_samples, n_hidden)
            Bool for a pure ReLU network. With any maxout layer, int8: 0 or 1
            for a ReLU unit, the winning piece for a maxout unit.
        """
        h = check_array(x, "x", ndim=2, shape=(None, self.n_inputs))
        maxout = self.maxout_rank is not None
        states = []
        for layer in self.layers:
            a = _preactivation(layer, h)
            if layer.activation == "maxout":
                states.append(np.argmax(a, axis=2).astype(np.int8))
            else:
                states.append((a > 0.0).astype(np.int8) if maxout else a > 0.0)
            h = _activate(layer, a)
        return np.concatenate(states, axis=1)

    def save(self, path: str | PathLike) -> None:
        """Write the network to ``path`` as ``.npz``.

        Hidden layers are stored as ``W0, b0, W1, b1, ...`` (a 3-D ``W{i}``
        with a 2-D ``b{i}`` is a maxout layer); the output layer, if any, as
        ``Wout, bout``. The file is compressed and written atomically.
        """
        arrays = {}
        for i, layer in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = layer.weights, layer.bias
        if self.output is not None:
            arrays["Wout"], arrays["bout"] = self.output.weights, self.output.bias
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        partial.replace(path)

    @classmethod
    def load(cls, path: str | PathLike) -> Network:
        """Read a network written by :meth:`save` (or by hand in that format).

        Raises
        ------
        ShapeError
            When the file is not a valid ``.npz`` network.
        FileNotFoundError
            When ``path`` does not exist.
        """
        path = Path(path)
        try:
            # Our own handle: np.load leaks its file when the zip is damaged.
            with open(path, "rb") as handle:
                data = np.load(handle, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError("a single .npy array, not an .npz archive")
                with data:
                    arrays = {key: data[key] for key in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            msg = f"{path}: not a readable .npz network ({unreadable_reason(err)})"
            raise ShapeError(msg) from err
        n_layers = 0
        while f"W{n_layers}" in arrays:
            n_layers += 1
        expected = {f"{p}{i}" for i in range(n_layers) for p in "Wb"} | {"Wout", "bout"}
        unknown = sorted(set(arrays) - expected)
        if unknown or n_layers == 0:
            msg = f"{path}: expected arrays W0, b0, W1, b1, ... (and Wout, bout), found {sorted(arrays)}"
            raise ShapeError(msg)
        missing = [f"b{i}" for i in range(n_layers) if f"b{i}" not in arrays]
        if missing:
            msg = f"{path}: missing bias arrays {missing}"
            raise ShapeError(msg)
        return cls(
            [arrays[f"W{i}"] for i in range(n_layers)],
            [arrays[f"b{i}"] for i in range(n_layers)],
            output_weights=arrays.get("Wout"),
            output_bias=arrays.get("bout"),
        )

    @classmethod
    def from_torch(cls, module, *, input_shape=None) -> Network:
        """Convert a PyTorch ``nn.Sequential`` of dense, convolutional, pooling,
        normalising and piecewise-linear layers.

        Parameters
        ----------
        module : torch.nn.Sequential, str or path-like
            The model, or a file written by ``torch.save(module, path)``.
        input_shape : tuple of int, optional
            The shape of one input sample, such as ``(1, 28, 28)``; needed
            when the first layer is not dense.

        Returns
        -------
        Network

        Raises
        ------
        UnsupportedLayerError
            When a layer is not one :func:`pyregions.io.network_from_torch`
            reads, or the layers do not chain.
        ModelFormatError
            When a file is missing or does not hold a saved module.
        ImportError
            When torch is not installed (``pip install pyregions[torch]``).

        See Also
        --------
        pyregions.io.network_from_torch : the conversion rules.
        """
        # Imported on call: io imports this module, and torch when used.
        from .io import network_from_torch

        return network_from_torch(module, input_shape=input_shape)

    @classmethod
    def from_onnx(cls, path) -> Network:
        """Read an ONNX model of dense, convolutional, pooling, normalising and
        piecewise-linear layers, residual blocks included.

        Parameters
        ----------
        path : str, path-like or onnx.ModelProto
            An ``.onnx`` file, as written by ``torch.onnx.export`` or by
            tf2onnx from Keras, or a model already loaded.

        Returns
        -------
        Network

        Raises
        ------
        UnsupportedLayerError
            When an operator is not one :func:`pyregions.io.network_from_onnx`
            reads, naming it and its node.
        ModelFormatError
            When the file is missing or not an ONNX model.
        ImportError
            When onnx is not installed (``pip install pyregions[onnx]``).

        See Also
        --------
        pyregions.io.network_from_onnx : the conversion rules.
        """
        # Imported on call: io imports this module, and onnx when used.
        from .io import network_from_onnx

        return network_from_onnx(path)


def _preactivation(layer, h: np.ndarray) -> np.ndarray:
    """``W h + b`` for each row of ``h``; shape (n, n_out, k) for maxout."""
    if layer.activation == "maxout":
        return np.einsum("upj,nj->nup", layer.weights, h) + layer.bias
    return h @ layer.weights.T + layer.bias


def _activate(layer, a: np.ndarray) -> np.ndarray:
    return a.max(axis=2) if layer.activation == "maxout" else np.maximum(a, 0.0)


#: The bundled example: a 784-8-8-10 ReLU network trained on MNIST for 20
#: epochs (seed 0) with :func:`pyregions.training.train_relu_network`.
EXAMPLE_FILE = "mnist_784_8_8.npz"


#: The bundled CNN: conv 1->4 5x5 stride 2, ReLU, conv 4->8 3x3 stride 2,
#: ReLU, dense 32, ReLU, dense 10, trained on MNIST by
#: ``docs/examples/train_mnist_cnn.py`` and exported to ONNX.
EXAMPLE_CNN_FILE = "mnist_cnn.onnx"


def example_network() -> Network:
    """The bundled MNIST example network, counted over [0, 1]^784 by
    ``pyregions count`` when no model is given."""
    from importlib.resources import as_file, files

    with as_file(files("pyregions") / "data" / EXAMPLE_FILE) as path:
        return Network.load(path)


def example_cnn() -> Network:
    """The bundled MNIST CNN (808 ReLU units), read from its ONNX file;
    needs onnx (``pip install pyregions[onnx]``)."""
    from importlib.resources import as_file, files

    with as_file(files("pyregions") / "data" / EXAMPLE_CNN_FILE) as path:
        return Network.from_onnx(path)
