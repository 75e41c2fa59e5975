"""The compiled search's layer maps (``_kernels.layer_maps``) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions._kernels.layer_maps import enter_layer, forward, unit_states

N_INPUTS = 5
WIDTHS = np.array([4, 3, 6], dtype=np.int64)
TOL = 1e-8


def relu(a):
    return np.maximum(a, 0.0)


@pytest.fixture
def network():
    """A 5-4-3-6 network as the compiled search holds it: layer 0 apart, the
    others' weights by row (slot 0 unused), their biases zero-padded."""
    rng = np.random.default_rng(3)
    W = [rng.normal(size=(w, n)) for w, n in zip(WIDTHS, [N_INPUTS, *WIDTHS[:-1]])]
    b = [rng.normal(size=w) for w in WIDTHS]
    # Layer 1's unit 0 reads only units 1 and 3 of layer 0: constant where both are off.
    W[1][0] = [0.0, 2.0, 0.0, -1.0]
    b[1][0] = 0.5
    widest = WIDTHS.max()
    starts = np.zeros((len(WIDTHS), widest + 1), np.int64)
    columns, values = [], []
    biases = np.zeros((len(WIDTHS), widest))
    for layer in range(1, len(WIDTHS)):
        starts[layer] = len(columns)
        for i in range(WIDTHS[layer]):
            nonzero = np.flatnonzero(W[layer][i])
            columns.extend(nonzero)
            values.extend(W[layer][i, nonzero])
            starts[layer, i + 1 :] = len(columns)
        biases[layer, : WIDTHS[layer]] = b[layer]
    weights = (starts, np.array(columns, np.int64), np.array(values))
    return W, b, weights, biases


def test_forward_gives_the_pre_activations_of_every_layer(network):
    W, b, weights, biases = network
    x = np.random.default_rng(4).normal(size=N_INPUTS)
    expected = [W[0] @ x + b[0]]
    for layer in range(1, len(WIDTHS)):
        expected.append(W[layer] @ relu(expected[-1]) + b[layer])
    out = np.empty(WIDTHS.sum())
    forward(expected[0], *weights, biases, WIDTHS, out)
    np.testing.assert_allclose(out, np.concatenate(expected), rtol=1e-12, atol=1e-12)


def test_entering_layers_composes_their_maps_on_the_region(network):
    W, b, weights, biases = network
    first_unit = np.concatenate([[0], np.cumsum(WIDTHS)]).astype(np.int64)
    pattern = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1], dtype=np.bool_)
    stable = np.zeros(WIDTHS.sum(), np.int8)
    stable[first_unit[2] + 4] = -1  # stable over the box: forced whatever its map
    shape = (len(WIDTHS), WIDTHS.max())
    C, G = np.zeros((*shape, N_INPUTS)), np.zeros((*shape, WIDTHS[0]))
    d, scales, norms, thresholds = (np.zeros(shape) for _ in range(4))
    forced = np.zeros(shape, np.int64)
    # Layer 0: its map in input space, and the identity in its own pre-activations.
    C[0, :4], d[0, :4], G[0, :4] = W[0], b[0], np.eye(4)
    scales[0, :4] = np.abs(W[0]).sum(axis=1)
    unit_states(0, WIDTHS[0], first_unit, C, d, scales, stable, norms, thresholds, forced, TOL)
    for layer in (1, 2):
        enter_layer(
            layer, pattern, first_unit, WIDTHS, *weights, biases, C, d, G, scales, stable, norms,
            thresholds, forced, TOL,
        )

    expected_C, expected_d, expected_G = W[0], b[0], np.eye(4)
    for layer in (1, 2):
        on = pattern[first_unit[layer - 1] : first_unit[layer]]
        mixed = W[layer] * on  # the weights of the units on in the layer before
        expected_C, expected_d = mixed @ expected_C, mixed @ expected_d + b[layer]
        expected_G = mixed @ expected_G
        width = WIDTHS[layer]
        made = np.ones(width, bool)
        if layer == 2:
            # The last layer's stable unit is read by no layer: its row is not made.
            assert not C[2, 4].any() and not G[2, 4].any()
            made[4] = False
        np.testing.assert_allclose(C[layer, :width][made], expected_C[made], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(d[layer, :width][made], expected_d[made], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(G[layer, :width][made], expected_G[made], rtol=1e-12, atol=1e-12)
        row_norms = np.linalg.norm(expected_C, axis=1)
        np.testing.assert_allclose(norms[layer, :width][made], row_norms[made], rtol=1e-12, atol=1e-12)

    # Layer 1's unit 0 reads only units that are off: constant, its state its bias's sign.
    assert norms[1, 0] == 0.0 and thresholds[1, 0] == -1.0 and forced[1, 0] == 1
    np.testing.assert_allclose(thresholds[1, 1:3], TOL * norms[1, 1:3])
    assert list(forced[1, 1:3]) == [0, 0]
    assert forced[2, 4] == -1 and list(np.delete(forced[2, :6], 4)) == [0] * 5
