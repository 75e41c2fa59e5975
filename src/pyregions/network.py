"""Network definitions: sizes, weights, biases and activations.

A :class:`Network` is a stack of hidden piecewise-linear layers followed by an
optional linear output layer. It knows nothing of solvers: formulations read
a network, a network never builds one.

.. math::

    a^l = W^l h^{l-1} + b^l, \\qquad h^l = \\max(0, a^l), \\qquad h^0 = x

for a ReLU layer with ``W^l`` of shape ``(n_l, n_{l-1})``. The hidden units
are the ones whose activation patterns define linear regions; the output layer
is affine and does not split regions.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ._validation import check_array
from .exceptions import ShapeError

__all__ = ["LinearLayer", "Network", "ReluLayer", "example_network"]


@dataclass(frozen=True, eq=False)
class ReluLayer:
    """A dense layer followed by the rectifier ``max(0, .)``.

    Parameters
    ----------
    weights : array of shape (n_out, n_in)
    bias : array of shape (n_out,)
    """

    weights: np.ndarray
    bias: np.ndarray
    activation = "relu"

    @property
    def n_inputs(self) -> int:
        return self.weights.shape[1]

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]


@dataclass(frozen=True, eq=False)
class LinearLayer:
    """An affine output layer ``W h + b``; it is not counted."""

    weights: np.ndarray
    bias: np.ndarray
    activation = "linear"

    @property
    def n_inputs(self) -> int:
        return self.weights.shape[1]

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]


def _dense(weights, bias, name: str, n_in: int | None):
    W = check_array(weights, f"weights{name}", ndim=2, shape=(None, n_in))
    b = check_array(bias, f"biases{name}", ndim=1, shape=(W.shape[0],))
    return W, b


class Network:
    """A feed-forward piecewise-linear network.

    Parameters
    ----------
    weights : sequence of arrays
        One matrix of shape ``(n_l, n_{l-1})`` per hidden ReLU layer.
    biases : sequence of arrays
        One vector of shape ``(n_l,)`` per hidden layer.
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
            W, b = _dense(W, b, f"[{i}]", n_in)
            layers.append(ReluLayer(W, b))
            n_in = W.shape[0]
        self.layers: tuple[ReluLayer, ...] = tuple(layers)
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
            h = np.maximum(h @ layer.weights.T + layer.bias, 0.0)
        if self.output is not None:
            h = h @ self.output.weights.T + self.output.bias
        return h

    def activation_patterns(self, x) -> np.ndarray:
        """Activation pattern of every hidden unit at each input.

        A unit is active when its pre-activation is strictly positive.

        Parameters
        ----------
        x : array of shape (n_samples, n_inputs)

        Returns
        -------
        bool array of shape (n_samples, n_hidden)
        """
        h = check_array(x, "x", ndim=2, shape=(None, self.n_inputs))
        states = []
        for layer in self.layers:
            a = h @ layer.weights.T + layer.bias
            states.append(a > 0.0)
            h = np.maximum(a, 0.0)
        return np.concatenate(states, axis=1)

    def save(self, path: str | PathLike) -> None:
        """Write the network to ``path`` as ``.npz``.

        Hidden layers are stored as ``W0, b0, W1, b1, ...``; the output layer,
        if any, as ``Wout, bout``. The file is written atomically.
        """
        arrays = {}
        for i, layer in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = layer.weights, layer.bias
        if self.output is not None:
            arrays["Wout"], arrays["bout"] = self.output.weights, self.output.bias
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
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
            msg = f"{path}: not a readable .npz network ({err})"
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
    def from_torch(cls, module) -> Network:
        """Convert a PyTorch ``nn.Sequential`` of Linear and ReLU layers.

        Parameters
        ----------
        module : torch.nn.Sequential, str or path-like
            The model, or a file written by ``torch.save(module, path)``.

        Returns
        -------
        Network

        Raises
        ------
        UnsupportedLayerError
            When a layer is neither Linear, ReLU, Flatten, Identity nor Dropout,
            or the Linears and ReLUs do not alternate.
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

        return network_from_torch(module)

    @classmethod
    def from_onnx(cls, path) -> Network:
        """Read an ONNX model of dense layers and ReLUs.

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
            When an operator is not Gemm, MatMul, Add, Relu, Flatten, Reshape
            or Identity, or the graph is not a single chain.
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


#: The bundled example: a 784-8-8-10 ReLU network trained on MNIST for 20
#: epochs (seed 0) with :func:`pyregions.training.train_relu_network`.
EXAMPLE_FILE = "mnist_784_8_8.npz"


def example_network() -> Network:
    """The bundled MNIST example network, counted over [0, 1]^784 by
    ``pyregions count`` when no model is given."""
    from importlib.resources import as_file, files

    with as_file(files("pyregions") / "data" / EXAMPLE_FILE) as path:
        return Network.load(path)
