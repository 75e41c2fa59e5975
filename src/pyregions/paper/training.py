"""Train small ReLU classifiers with NumPy alone.

The networks are the paper's: ``n_0``-``n_1``-...-``n_L``-10, ReLU hidden
layers and an affine output layer read through a softmax,

.. math::

    h^0 = x, \\qquad h^l = \\max(0, W^l h^{l-1} + b^l), \\qquad
    z = W^{\\mathrm{out}} h^L + b^{\\mathrm{out}}, \\qquad
    \\ell(x, y) = -z_y + \\log \\sum_k e^{z_k},

trained by minibatch Adam on the mean cross-entropy :math:`\\ell`. Every
random draw (initial weights, the order of the samples in each epoch) comes
from one ``np.random.Generator``, so a seed fixes the result bit for bit on a
given machine and NumPy build.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_array, check_int, check_int_sequence, check_seed
from ..exceptions import ShapeError
from ..network import Network

__all__ = ["train_relu_network", "error_rate", "N_CLASSES"]

N_CLASSES = 10
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 3e-3
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8


def train_relu_network(
    x_train,
    y_train,
    widths,
    *,
    epochs: int = 20,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    seed: int | np.random.Generator | None = 0,
) -> Network:
    """Train a ReLU network with a 10-way softmax output on labelled data.

    Hidden weights start from He initialisation (normal, variance
    ``2 / n_in``), the output weights from variance ``1 / n_in``, biases from
    zero. Each epoch visits every sample once, in an order shuffled by the
    generator; the learning rate decays linearly to a tenth of
    ``learning_rate`` over the run.

    Parameters
    ----------
    x_train : array of shape (n_samples, n_inputs)
        Inputs, finite. MNIST images scaled to [0, 1] train well as they are.
    y_train : array of int of shape (n_samples,)
        Class labels in 0..9.
    widths : sequence of int
        Hidden widths ``(n_1, ..., n_L)``, each >= 1.
    epochs : int, default=20
        Passes over the data, >= 1.
    batch_size : int, default=64
        Samples per Adam step, >= 1; the last batch of an epoch may be smaller.
    learning_rate : float, default=3e-3
        Initial Adam step size, finite and > 0.
    seed : None, int or numpy.random.Generator, default=0
        Source of the initial weights and the shuffles. None draws fresh
        entropy; an int or a generator in the same state repeats the run
        exactly.

    Returns
    -------
    Network
        The hidden layers and the trained output layer (``output_weights`` of
        shape ``(10, n_L)``); :meth:`Network.forward` gives the logits.

    Raises
    ------
    ShapeError
        When ``x_train`` is not a finite 2-D array, or ``y_train`` is not a
        1-D integer array of the same length with values in 0..9.
    ValueError
        When ``widths``, ``epochs``, ``batch_size``, ``learning_rate`` or
        ``seed`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from pyregions.training import train_relu_network, error_rate
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2))
    >>> y = (x[:, 0] > 0).astype(int)
    >>> net = train_relu_network(x, y, [8], epochs=30, batch_size=16, learning_rate=1e-2)
    >>> net.widths, net.output.n_neurons
    ((8,), 10)
    >>> error_rate(net, x, y) < 0.05
    True
    """
    x = check_array(x_train, "x_train", ndim=2)
    y = _check_labels(y_train, "y_train", n_samples=x.shape[0], n_classes=N_CLASSES)
    widths = check_int_sequence(widths, "widths", minimum=1)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = _check_positive(learning_rate, "learning_rate")
    rng = check_seed(seed)

    sizes = (x.shape[1], *widths, N_CLASSES)
    # Parameters, gradients and Adam's moments each live in one flat array,
    # the layers' arrays being views of it: an Adam step is then a handful
    # of NumPy calls, not a handful per array (the same arithmetic, element
    # by element).
    flat_params, params = _flat(_initial_parameters(sizes, rng))
    flat_grads, grads = _flat([np.empty_like(p) for p in params])
    first_moment, second_moment = np.zeros_like(flat_params), np.zeros_like(flat_params)
    n_samples = x.shape[0]
    steps_per_epoch = -(-n_samples // batch_size)
    total_steps = epochs * steps_per_epoch
    step = 0
    for _ in range(epochs):
        order = rng.permutation(n_samples)
        for start in range(0, n_samples, batch_size):
            batch = order[start : start + batch_size]
            _gradients(params, x[batch], y[batch], grads)
            step += 1
            # Linear decay to a tenth: the late small steps settle the
            # minibatch noise that a constant rate leaves in the weights.
            rate = learning_rate * (1.0 - 0.9 * (step - 1) / total_steps)
            _adam_step(flat_params, flat_grads, first_moment, second_moment, step, rate)

    n_hidden = len(widths)
    return Network(
        params[0 : 2 * n_hidden : 2],
        params[1 : 2 * n_hidden : 2],
        output_weights=params[-2],
        output_bias=params[-1],
    )


def error_rate(network: Network, x, y) -> float:
    """Fraction of samples whose largest network output is not their label.

    Parameters
    ----------
    network : Network
        Its :meth:`~Network.forward` values are read as class scores (the
        output layer's, or the last hidden layer's when it has none).
    x : array of shape (n_samples, n_inputs)
    y : array of int of shape (n_samples,)
        Labels in ``0..n_out - 1``.

    Returns
    -------
    float
        In [0, 1]. Ties go to the lowest class index.

    Raises
    ------
    ShapeError
        When ``x`` does not fit the network or ``y`` is not a 1-D integer
        array of the same length with values in range.
    """
    scores = network.forward(x)
    labels = _check_labels(y, "y", n_samples=scores.shape[0], n_classes=scores.shape[1])
    return float(np.mean(np.argmax(scores, axis=1) != labels))


def _check_labels(value, name: str, *, n_samples: int, n_classes: int) -> np.ndarray:
    labels = np.asarray(value)
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        msg = f"{name} must hold integer class labels, got dtype {labels.dtype}"
        raise ShapeError(msg)
    if labels.shape != (n_samples,):
        msg = f"{name} must have shape ({n_samples},) to match the inputs, got {labels.shape}"
        raise ShapeError(msg)
    low, high = labels.min(), labels.max()
    if low < 0 or high >= n_classes:
        bad = low if low < 0 else high
        msg = f"{name} must lie in 0..{n_classes - 1}, found {bad}"
        raise ShapeError(msg)
    return labels.astype(np.int64)


def _check_positive(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a real number, got {value!r}"
        raise ValueError(msg)
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        msg = f"{name} must be finite and > 0, got {value}"
        raise ValueError(msg)
    return value


def _initial_parameters(sizes: tuple[int, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """He-normal hidden weights, variance-preserving output weights, zero biases.

    Returned flat as ``[W1, b1, ..., WL, bL, Wout, bout]`` with ``W`` of
    shape ``(n_out, n_in)``.
    """
    params = []
    n_layers = len(sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        # ReLU zeroes half its inputs on average, hence gain 2 (He et al.,
        # 2015); the output layer feeds no ReLU and keeps gain 1.
        gain = 1.0 if i == n_layers - 1 else 2.0
        params.append(rng.normal(0.0, np.sqrt(gain / n_in), size=(n_out, n_in)))
        params.append(np.zeros(n_out))
    return params


def _flat(arrays) -> tuple[np.ndarray, list[np.ndarray]]:
    """A flat copy of ``arrays``, and views of it shaped as they are."""
    flat = np.concatenate([a.ravel() for a in arrays])
    views, start = [], 0
    for a in arrays:
        views.append(flat[start : start + a.size].reshape(a.shape))
        start += a.size
    return flat, views


def _gradients(params, x, y, grads) -> None:
    """Gradients of the mean softmax cross-entropy over one minibatch,
    written to ``grads`` (arrays shaped as ``params``)."""
    activations = [x]
    for W, b in zip(params[0:-2:2], params[1:-2:2]):
        activations.append(np.maximum(activations[-1] @ W.T + b, 0.0))
    logits = activations[-1] @ params[-2].T + params[-1]
    # Subtracting the row maximum keeps exp from overflowing; softmax is
    # unchanged by it.
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    # d(loss)/d(logits) = softmax - one_hot(y), averaged over the batch.
    delta = probabilities
    delta[np.arange(y.size), y] -= 1.0
    delta /= y.size

    for k in range(len(params) // 2 - 1, -1, -1):
        h = activations[k]
        np.matmul(delta.T, h, out=grads[2 * k])
        np.sum(delta, axis=0, out=grads[2 * k + 1])
        if k > 0:
            # ReLU passes the gradient only where the unit was active; a
            # unit at exactly 0 is treated as inactive, like the forward pass.
            delta = (delta @ params[2 * k]) * (h > 0.0)


def _adam_step(p, g, m, v, step: int, rate: float) -> None:
    """One Adam update of ``p`` in place (Kingma and Ba, 2015, Algorithm 1)."""
    correction1 = 1.0 - ADAM_BETA1**step
    correction2 = 1.0 - ADAM_BETA2**step
    m *= ADAM_BETA1
    m += (1.0 - ADAM_BETA1) * g
    v *= ADAM_BETA2
    v += (1.0 - ADAM_BETA2) * (g * g)
    p -= rate * (m / correction1) / (np.sqrt(v / correction2) + ADAM_EPSILON)
