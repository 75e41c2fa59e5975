"""Convolutional, normalising, pooling, clipping and residual layers, lowered
to dense ReLU and maxout layers: each checked against the framework's own
forward pass (torch, and ONNX's reference evaluator), and the counts of the
lowered networks against exhaustive enumerations."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from pyregions import Box, Network, UnsupportedLayerError, count_regions
from pyregions.io import network_from_onnx, network_from_torch

from .reference import _feasible, exhaustive_regions

# float32 frameworks against the float64 lowering.
TOLERANCE = 1e-5


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def onnx():
    return pytest.importorskip("onnx")


def _randomise(torch, module, seed):
    """Random weights everywhere, and random running statistics for
    batch norms (a fresh one is the identity), in evaluation mode."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.running_mean.uniform_(-0.5, 0.5)
                layer.running_var.uniform_(0.5, 2.0)
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.uniform_(-0.5, 0.5)
            elif isinstance(layer, torch.nn.PReLU):
                layer.weight.uniform_(-0.5, 0.8)
    return module.eval()


def _images(shape, n=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, *shape)).astype(np.float32)


def _torch_models(nn):
    """``(name, input shape, layers)`` covering every layer the lowering reads."""
    return [
        ("conv-stride-pad-relu", (1, 6, 6), [nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.ReLU()]),
        ("conv-dilation-groups", (4, 7, 7), [nn.Conv2d(4, 6, 3, dilation=2, groups=2), nn.ReLU()]),
        ("conv-same-nobias", (2, 5, 5), [nn.Conv2d(2, 2, 3, padding="same", bias=False), nn.ReLU()]),
        ("batchnorm-avgpool", (2, 6, 6),
         [nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 3)]),
        ("avgpool-pad-ceil", (1, 7, 7),
         [nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), nn.ReLU()]),
        ("avgpool-exclude-pad", (1, 5, 5),
         [nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False), nn.ReLU()]),
        ("global-avgpool", (3, 4, 4),
         [nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)]),
        ("maxpool", (1, 6, 6), [nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)]),
        ("maxpool-pad-dilation-ceil", (2, 7, 7),
         [nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True), nn.Flatten(), nn.Linear(18, 2)]),
        ("leaky", (1, 4, 4), [nn.Conv2d(1, 2, 2), nn.LeakyReLU(0.1), nn.Flatten(), nn.Linear(18, 2)]),
        ("prelu-per-channel", (3, 4, 4), [nn.Conv2d(3, 3, 2), nn.PReLU(3), nn.Flatten(), nn.Linear(27, 2)]),
        ("hardtanh", (1, 4, 4), [nn.Conv2d(1, 2, 2), nn.Hardtanh(-0.3, 0.4)]),
        ("relu6", (1, 4, 4), [nn.Conv2d(1, 2, 2), nn.ReLU6(), nn.Dropout(), nn.Identity()]),
        ("batchnorm1d", (5,), [nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)]),
    ]


def _forward_torch(torch, module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).reshape(x.shape[0], -1).numpy()


@pytest.mark.parametrize("index", range(14))
def test_each_torch_layer_lowers_to_the_same_function(torch, index):
    name, shape, layers = _torch_models(torch.nn)[index]
    module = _randomise(torch, torch.nn.Sequential(*layers), index)
    net = network_from_torch(module, input_shape=shape)
    x = _images(shape, seed=index)
    error = np.abs(net.forward(x.reshape(x.shape[0], -1)) - _forward_torch(torch, module, x)).max()
    assert error < TOLERANCE, name


def _export(torch, module, shape, path, opset=17):
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated since torch 2.9 but still shipped.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, *shape),), path, dynamo=False, opset_version=opset)


@pytest.mark.parametrize("index", range(14))
def test_each_onnx_operator_lowers_to_the_reference_evaluators_function(torch, onnx, tmp_path, index):
    from onnx.reference import ReferenceEvaluator

    name, shape, layers = _torch_models(torch.nn)[index]
    module = _randomise(torch, torch.nn.Sequential(*layers), index)
    path = tmp_path / f"{name}.onnx"
    _export(torch, module, shape, path)
    net = network_from_onnx(path)
    evaluator = ReferenceEvaluator(str(path))
    x = _images(shape, n=16, seed=index)
    (expected,) = evaluator.run(None, {evaluator.input_names[0]: x})
    error = np.abs(net.forward(x.reshape(x.shape[0], -1)) - expected.reshape(x.shape[0], -1)).max()
    assert error < TOLERANCE, name


def _graph(onnx, nodes, initializers, input_shape, opset=17):
    helper = onnx.helper
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", *input_shape])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in initializers],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _assert_matches_reference(onnx, model, shape, net=None):
    from onnx.reference import ReferenceEvaluator

    net = network_from_onnx(model) if net is None else net
    x = _images(shape, n=32, seed=7)
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    error = np.abs(net.forward(x.reshape(x.shape[0], -1)) - expected.reshape(x.shape[0], -1)).max()
    assert error < TOLERANCE
    return net


def test_onnx_normalisation_clip_and_global_pool(onnx):
    make_node = onnx.helper.make_node
    rng = np.random.default_rng(1)
    nodes = [
        make_node("Sub", ["x", "mean"], ["centred"]),
        make_node("Div", ["centred", "std"], ["normal"]),
        make_node("Mul", ["normal", "two"], ["scaled"]),
        make_node("Conv", ["scaled", "W", "B"], ["conv"], kernel_shape=[2, 2], pads=[1, 0, 0, 1]),
        make_node("BatchNormalization", ["conv", "s", "b", "m", "v"], ["bn"], epsilon=1e-3),
        make_node("Clip", ["bn", "lo", "hi"], ["clipped"]),
        make_node("GlobalAveragePool", ["clipped"], ["pooled"]),
        make_node("Flatten", ["pooled"], ["flat"]),
        make_node("Gemm", ["flat", "G"], ["y"], transB=1),
    ]
    inits = [
        ("mean", np.full((1, 1, 1), 0.4)), ("std", np.full((1, 1, 1), 0.3)), ("two", 2.0),
        ("W", rng.normal(size=(3, 2, 2, 2))), ("B", rng.normal(size=3)),
        ("s", rng.uniform(0.5, 1.5, 3)), ("b", rng.normal(size=3)), ("m", rng.normal(size=3)),
        ("v", rng.uniform(0.5, 2, 3)), ("lo", -0.5), ("hi", 0.7), ("G", rng.normal(size=(2, 3))),
    ]
    net = _assert_matches_reference(onnx, _graph(onnx, nodes, inits, (2, 4, 4), opset=15), (2, 4, 4))
    # Each clipped element is two ReLU units (relu(a - lo), relu(a - hi)).
    assert net.widths == (2 * 3 * 4 * 4,)


def test_onnx_clip_with_one_bound_is_one_unit(onnx):
    make_node = onnx.helper.make_node
    for inputs, attrs in [(["a", "lo"], {}), (["a", "", "hi"], {})]:
        nodes = [
            make_node("MatMul", ["x", "W"], ["a"]),
            make_node("Clip", inputs, ["y"], **attrs),
        ]
        inits = [("W", np.random.default_rng(2).normal(size=(3, 4))), ("lo", -0.2), ("hi", 0.3)]
        net = _assert_matches_reference(onnx, _graph(onnx, nodes, inits, (3,)), (3,))
        assert net.widths == (4,)


def test_onnx_reduce_max_and_prelu(onnx):
    make_node = onnx.helper.make_node
    nodes = [
        make_node("Conv", ["x", "W"], ["c"], kernel_shape=[1, 1]),
        make_node("PRelu", ["c", "slope"], ["p"]),
        make_node("ReduceMax", ["p", "axes"], ["y"], keepdims=0),
    ]
    rng = np.random.default_rng(3)
    model = _graph(onnx, nodes, [("W", rng.normal(size=(2, 1, 1, 1))), ("slope", [[[0.2]], [[-0.3]]])],
                   (1, 3, 3), opset=18)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array([2, 3], np.int64), "axes"))
    net = _assert_matches_reference(onnx, model, (1, 3, 3))
    assert net.ranks == (2, 9)


def _residual_model(onnx, seed=0):
    """x (2) -> h = relu(A x + a) (3) -> r = relu(B h + b) (3) -> y = relu(C r + c + h) (3)."""
    rng = np.random.default_rng(seed)
    make_node = onnx.helper.make_node
    nodes = [
        make_node("Gemm", ["x", "A", "a"], ["ha"], transB=1),
        make_node("Relu", ["ha"], ["h"]),
        make_node("Gemm", ["h", "B", "b"], ["ra"], transB=1),
        make_node("Relu", ["ra"], ["r"]),
        make_node("Gemm", ["r", "C", "c"], ["ca"], transB=1),
        make_node("Add", ["ca", "h"], ["sum"]),
        make_node("Relu", ["sum"], ["y"]),
    ]
    weights = {"A": rng.normal(size=(3, 2)), "a": rng.normal(size=3) * 0.5,
               "B": rng.normal(size=(3, 3)), "b": rng.normal(size=3) * 0.5,
               "C": rng.normal(size=(3, 3)), "c": rng.normal(size=3) * 0.5}
    return _graph(onnx, nodes, list(weights.items()), (2,)), weights


def _residual_regions(weights, lower, upper, tol):
    """Every joint state of the residual block's 9 units tried, one LP each,
    its pre-activations followed through the shortcut by hand."""
    A, a, B, b, C, c = (np.asarray(weights[k], np.float64) for k in "AaBbCc")
    found = set()
    for bits in itertools.product((False, True), repeat=9):
        s1, s2, s3 = (np.array(bits[i : i + 3]) for i in (0, 3, 6))
        h = (A * s1[:, None], a * s1)  # h = D1 (A x + a), as (matrix, constant)
        pre2 = (B @ h[0], B @ h[1] + b)
        r = (pre2[0] * s2[:, None], pre2[1] * s2)
        pre3 = (C @ r[0] + h[0], C @ r[1] + c + h[1])
        walls = [(A, a, s1), pre2 + (s2,), pre3 + (s3,)]
        rows, rhs, possible = [], [], True
        for M, m, states in walls:
            for row, const, on in zip(M, m, states):
                if not row.any():
                    possible &= (const > 0) == on
                    continue
                sign = 1.0 if on else -1.0
                rows.append(-sign * row)
                rhs.append(sign * const - tol * np.linalg.norm(row))
        if possible and _feasible(rows, rhs, lower, upper, tol):
            found.add(bits)
    return found


def test_residual_block_counts_as_its_joint_states(onnx):
    model, weights = _residual_model(onnx)
    net = _assert_matches_reference(onnx, model, (2,))
    # The shortcut's 3 values ride through the middle layer as carried units.
    assert net.widths == (3, 6, 3)
    lower, upper = np.full(2, -2.0), np.full(2, 2.0)
    expected = _residual_regions(weights, lower, upper, 1e-8)
    result = count_regions(net, Box(lower, upper), return_patterns=True)
    assert result.complete and result.regions == len(expected) > 10
    # The hand-built dense form: the middle layer passes h on through
    # identity ReLUs, and the last layer reads them.
    A, a, B, b, C, c = (np.asarray(weights[k], np.float32).astype(np.float64) for k in "AaBbCc")
    dense = Network([A, np.vstack([B, np.eye(3)]), np.hstack([C, np.eye(3)])],
                    [a, np.concatenate([b, np.zeros(3)]), c])
    assert count_regions(dense, Box(lower, upper)).regions == result.regions
    carried = result.unpacked_patterns()[:, 6:9]
    assert np.array_equal(carried, result.unpacked_patterns()[:, :3])


def test_shortcut_from_the_input_is_refused(onnx):
    make_node = onnx.helper.make_node
    nodes = [
        make_node("MatMul", ["x", "W"], ["a"]),
        make_node("Relu", ["a"], ["h"], name="act"),
        make_node("Add", ["h", "x"], ["y"]),
    ]
    model = _graph(onnx, nodes, [("W", np.eye(2))], (2,))
    with pytest.raises(UnsupportedLayerError, match=r"Relu \(node 'act'\): a tensor used after it"):
        network_from_onnx(model)


def test_tiny_cnn_count_equals_exhaustive_enumeration(torch):
    nn = torch.nn
    module = _randomise(torch, nn.Sequential(nn.Conv2d(1, 2, 2, stride=2), nn.ReLU(), nn.Flatten(),
                                             nn.Linear(8, 2), nn.ReLU(), nn.Linear(2, 1)), 11)
    net = network_from_torch(module, input_shape=(1, 4, 4))
    assert net.widths == (8, 2)
    lower, upper = np.zeros(16), np.ones(16)
    result = count_regions(net, Box(0, 1), return_patterns=True)
    expected = exhaustive_regions(net, lower, upper, 1e-8)
    assert result.regions == len(expected) > 4
    assert {tuple(p) for p in result.unpacked_patterns().tolist()} == expected


def test_cnn_with_clip_and_maxpool_counts_in_a_plane_by_both_methods(torch):
    nn = torch.nn
    module = _randomise(torch, nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU6(), nn.MaxPool2d(2),
                                             nn.Flatten(), nn.Linear(2, 2)), 12)
    net = network_from_torch(module, input_shape=(1, 5, 5))
    points = np.random.default_rng(4).uniform(0, 1, (3, 25))
    result = count_regions(net, Box(0, 1), through=points, return_patterns=True)
    assert result.complete
    # Every region met by a fine grid of the plane is counted.
    basis, _ = np.linalg.qr((points[1:] - points[0]).T)
    t = np.stack(np.meshgrid(np.linspace(-3, 3, 400), np.linspace(-3, 3, 400)), -1).reshape(-1, 2)
    x = points[0] + t @ basis.T
    inside = np.all((x >= 0) & (x <= 1), axis=1)
    seen = {tuple(p) for p in net.activation_patterns(x[inside]).tolist()}
    assert seen <= {tuple(p) for p in result.unpacked_patterns().tolist()}
    assert count_regions(net, Box(0, 1), through=points, method="milp").regions == result.regions


def test_torch_conv_needs_an_input_shape(torch):
    nn = torch.nn
    with pytest.raises(ValueError, match=r"layer 0: Conv2d.* pass input_shape"):
        network_from_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    with pytest.raises(UnsupportedLayerError, match=r"^unsupported layer 0: Conv2d\(1, 2, kernel_size.*"
                       r"needs \(channels, height, width\) samples, got shape \(9,\)"):
        network_from_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), input_shape=(9,))


def test_unsupported_operators_still_name_themselves(torch, onnx):
    nn = torch.nn
    with pytest.raises(UnsupportedLayerError, match=r"^unsupported layer 2: Sigmoid\(\)$"):
        network_from_torch(nn.Sequential(nn.Conv2d(1, 1, 2), nn.ReLU(), nn.Sigmoid()), input_shape=(1, 3, 3))
    make_node = onnx.helper.make_node
    model = _graph(onnx, [make_node("Conv", ["x", "W"], ["c"], kernel_shape=[1, 1]),
                          make_node("Sigmoid", ["c"], ["y"], name="squash")],
                   [("W", np.ones((1, 1, 1, 1)))], (1, 2, 2))
    with pytest.raises(UnsupportedLayerError, match=r"^unsupported ONNX operator Sigmoid \(node 'squash'\)$"):
        network_from_onnx(model)
    prelu = nn.PReLU(2)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([1.0, 0.5]))
    with pytest.raises(UnsupportedLayerError, match=r"^unsupported layer 1: PReLU.*slope of 1 on some"):
        network_from_torch(nn.Sequential(nn.Linear(2, 2), prelu))
