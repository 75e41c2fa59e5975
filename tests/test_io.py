"""Tests of importing PyTorch and ONNX models.

torch, onnx and onnxscript (for the default ``torch.onnx.export`` of
torch >= 2.9) come with the ``test`` extra: nothing here is skipped.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from pyregions import Box, Network, count_regions
from pyregions.io import network_from_onnx, network_from_torch, network_from_torch_file
from pyregions.exceptions import ModelFormatError, ShapeError, UnsupportedLayerError


def torch_dense(module):
    """The (weights, biases) of each Linear of a Sequential, in float64."""
    from torch import nn

    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in linears]


def assert_same_network(net, weights, biases, output=None):
    assert len(net.layers) == len(weights)
    for layer, W, b in zip(net.layers, weights, biases):
        assert layer.weights.dtype == np.float64
        np.testing.assert_array_equal(layer.weights, W)
        np.testing.assert_array_equal(layer.bias, b)
    if output is None:
        assert net.output is None
    else:
        np.testing.assert_array_equal(net.output.weights, output[0])
        np.testing.assert_array_equal(net.output.bias, output[1])


# --------------------------------------------------------------------- PyTorch


@pytest.fixture
def torch():
    return importlib.import_module("torch")


def sequential(torch, sizes, seed=0):
    """Linear, ReLU, ..., Linear through ``sizes``, with random weights."""
    torch.manual_seed(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


@pytest.mark.parametrize("sizes", [(784, 8, 6, 10), (2, 3, 1), (3, 5, 4, 4, 2)])
def test_torch_round_trip(torch, sizes):
    module = sequential(torch, sizes)
    net = Network.from_torch(module)
    dense = torch_dense(module)
    assert_same_network(net, *zip(*dense[:-1]), output=dense[-1])
    x = np.random.default_rng(0).uniform(-1, 1, size=(20, sizes[0]))
    expected = module.double()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_torch_nested_sequential_with_flatten_and_identities(torch):
    nn = torch.nn
    torch.manual_seed(1)
    module = nn.Sequential(
        nn.Flatten(),
        nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.5)),
        nn.Sequential(nn.Sequential(nn.Linear(3, 3), nn.Identity(), nn.ReLU(inplace=True))),
        nn.Linear(3, 2),
    ).eval()
    net = network_from_torch(module)
    assert repr(net) == "Network(4-3-3, output=2)"
    images = np.random.default_rng(1).normal(size=(7, 1, 2, 2))
    expected = module.double()(torch.from_numpy(images)).detach().numpy()
    np.testing.assert_allclose(net.forward(images.reshape(7, -1)), expected, rtol=1e-12, atol=1e-12)


def test_torch_ending_in_relu_has_no_output_layer_and_missing_bias_is_zero(torch):
    nn = torch.nn
    module = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU())
    net = network_from_torch(module)
    assert_same_network(net, [module[0].weight.detach().double().numpy()], [np.zeros(3)])


def test_torch_region_count_equals_count_of_same_arrays(torch):
    module = sequential(torch, (2, 6, 5, 1), seed=3)
    net = Network.from_torch(module)
    dense = torch_dense(module)
    same = Network([W for W, _ in dense[:-1]], [b for _, b in dense[:-1]])
    imported = count_regions(net, Box(-1, 1), seed=0)
    assert imported.complete
    assert imported.regions == count_regions(same, Box(-1, 1), seed=0).regions
    assert imported.regions > 1


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda nn: [nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.Conv2d(1, 2, 3)],
            r"^unsupported layer 3: Conv2d\(1, 2, kernel_size",
        ),
        (lambda nn: [nn.Linear(2, 3), nn.Sigmoid()], r"^unsupported layer 1: Sigmoid\(\)$"),
        (lambda nn: [nn.Linear(2, 3), nn.LayerNorm(3)], r"^unsupported layer 1: LayerNorm"),
        (
            lambda nn: [nn.Flatten(0), nn.Linear(2, 3)],
            r"^unsupported layer 0: Flatten\(start_dim=0",
        ),
        (
            lambda nn: [nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.GELU())],
            r"^unsupported layer 1\.1: GELU",
        ),
        (
            lambda nn: [nn.Linear(2, 3), nn.Dropout(), nn.Linear(3, 3), nn.ReLU()],
            r"^unsupported layer 2: Linear\(in_features=3.* directly after layer 0: Linear\(in_",
        ),
        (
            lambda nn: [nn.ReLU(), nn.Linear(2, 3)],
            r"^unsupported layer 0: ReLU\(\): a ReLU must follow",
        ),
        (
            lambda nn: [nn.Linear(2, 3), nn.ReLU(), nn.ReLU()],
            r"^unsupported layer 2: ReLU\(\): a ReLU",
        ),
        (lambda nn: [nn.Linear(2, 3)], "no hidden layer"),
        (lambda nn: [], "no hidden layer"),
    ],
)
def test_torch_unsupported_layers_name_themselves(torch, build, match):
    with pytest.raises(UnsupportedLayerError, match=match):
        network_from_torch(torch.nn.Sequential(*build(torch.nn)))


def test_torch_refuses_other_modules_and_objects(torch):
    class Custom(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(
        UnsupportedLayerError, match="unsupported model Custom: only torch.nn.Sequential"
    ):
        Network.from_torch(Custom())
    with pytest.raises(TypeError, match="torch.nn.Sequential or a path, got list"):
        Network.from_torch([torch.nn.Linear(2, 2)])


def test_torch_file_round_trip(torch, tmp_path):
    module = sequential(torch, (3, 4, 2))
    path = tmp_path / "model.pt"
    torch.save(module, path)
    expected = network_from_torch(module)
    for source in (path, str(path)):
        for net in (Network.from_torch(source), network_from_torch_file(source)):
            assert_same_network(
                net,
                [expected.layers[0].weights],
                [expected.layers[0].bias],
                output=(expected.output.weights, expected.output.bias),
            )


def test_torch_file_errors(torch, tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(ModelFormatError, match=r"missing\.pt: no such PyTorch model file"):
        Network.from_torch(missing)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(ModelFormatError, match=r"corrupt\.pt: not a readable PyTorch file"):
        Network.from_torch(corrupt)
    state = tmp_path / "state.pt"
    torch.save(sequential(torch, (2, 2, 1)).state_dict(), state)
    with pytest.raises(
        ModelFormatError, match=r"state\.pt: holds a OrderedDict, not a torch.nn.Module"
    ):
        Network.from_torch(state)
    # A ValueError too, so callers need not know pyregions' classes.
    with pytest.raises(ValueError, match="missing"):
        Network.from_torch(missing)


def test_missing_dependency_names_the_extra(monkeypatch, tmp_path):
    # A None entry makes ``import`` fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"install pyregions\[torch\]"):
        Network.from_torch(object())
    with pytest.raises(ImportError, match=r"install pyregions\[onnx\]"):
        Network.from_onnx(tmp_path / "model.onnx")


# ------------------------------------------------------------------------ ONNX


@pytest.fixture
def onnx():
    return importlib.import_module("onnx")


def test_onnx_legacy_export_equals_torch(torch, onnx, tmp_path):
    nn = torch.nn
    torch.manual_seed(2)
    module = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 8),
        nn.ReLU(),
        nn.Sequential(nn.Linear(8, 6), nn.ReLU()),
        nn.Linear(6, 10),
    ).eval()
    path = tmp_path / "legacy.onnx"
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated since torch 2.9 but still shipped.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (torch.zeros(1, 1, 28, 28),), path, dynamo=False)
    assert {n.op_type for n in onnx.load(path).graph.node} == {"Flatten", "Gemm", "Relu"}
    expected = network_from_torch(module)
    net = Network.from_onnx(path)
    assert_same_network(
        net,
        [layer.weights for layer in expected.layers],
        [layer.bias for layer in expected.layers],
        output=(expected.output.weights, expected.output.bias),
    )


def test_onnx_default_export_equals_torch(torch, onnx, tmp_path):
    nn = torch.nn
    torch.manual_seed(3)
    module = nn.Sequential(
        nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU()
    ).eval()
    path = tmp_path / "dynamo.onnx"
    with warnings.catch_warnings():
        # torch.export warns about its own internals (FutureWarning, ...).
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, 2, 3),), path, verbose=False)
    expected = network_from_torch(module)
    net = network_from_onnx(path)
    assert_same_network(
        net, [layer.weights for layer in expected.layers], [layer.bias for layer in expected.layers]
    )


def onnx_model(onnx, nodes, initializers=(), input_shape=("N", 2), extra_inputs=(), outputs=("y",)):
    """A model from nodes; initializers are ``(name, array)`` pairs."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    inputs = [
        helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, input_shape)
        for name in ("x", *extra_inputs)
    ]
    graph = helper.make_graph(
        nodes,
        "test",
        inputs,
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in initializers],
    )
    return helper.make_model(graph)


def test_onnx_tf2onnx_style_matmul_add(onnx, tmp_path):
    # tf2onnx writes a Keras Dense as MatMul by an (n_in, n_out) kernel plus
    # Add, and Flatten as Reshape to (-1, features) from a Constant.
    rng = np.random.default_rng(4)
    kernels = [rng.normal(size=s).astype(np.float32) for s in [(6, 5), (5, 4), (4, 3)]]
    biases = [rng.normal(size=s[1]).astype(np.float32) for s in [(6, 5), (5, 4), (4, 3)]]
    make_node = onnx.helper.make_node
    shape = onnx.numpy_helper.from_array(np.array([-1, 6], dtype=np.int64))
    nodes = [
        make_node("Constant", [], ["shape"], value=shape),
        make_node("Reshape", ["x", "shape"], ["flat"], name="sequential/flatten/Reshape"),
        make_node("MatMul", ["flat", "k0"], ["m0"], name="sequential/dense/MatMul"),
        make_node("Add", ["m0", "b0"], ["a0"], name="sequential/dense/BiasAdd"),
        make_node("Relu", ["a0"], ["h0"], name="sequential/dense/Relu"),
        make_node("Identity", ["h0"], ["i0"]),
        make_node("MatMul", ["i0", "k1"], ["m1"]),
        make_node("Add", ["b1", "m1"], ["a1"]),
        make_node("Relu", ["a1"], ["h1"]),
        make_node("MatMul", ["h1", "k2"], ["m2"]),
        make_node("Add", ["m2", "b2"], ["y"]),
    ]
    inits = [(f"k{i}", k) for i, k in enumerate(kernels)] + [
        (f"b{i}", b) for i, b in enumerate(biases)
    ]
    model = onnx_model(onnx, nodes, inits, input_shape=("unk__0", 2, 3))
    path = tmp_path / "keras.onnx"
    onnx.save(model, path)
    weights = [k.T.astype(np.float64) for k in kernels]
    biases = [b.astype(np.float64) for b in biases]
    net = network_from_onnx(path)
    assert_same_network(net, weights[:2], biases[:2], output=(weights[2], biases[2]))


def test_onnx_gemm_attributes_and_constants(onnx):
    make_node = onnx.helper.make_node
    B0 = np.arange(6, dtype=np.float32).reshape(2, 3)  # (n_in, n_out): transB=0
    B1 = np.arange(6, dtype=np.float32).reshape(2, 3)  # (n_out, n_in): transB=1
    nodes = [
        make_node("Gemm", ["x", "B0"], ["g0"], alpha=2.0),
        make_node("Relu", ["g0"], ["h0"]),
        make_node("Constant", [], ["C1"], value_floats=[1.0, -1.0]),
        make_node("Gemm", ["h0", "B1", "C1"], ["g1"], transB=1, beta=0.5),
        make_node("Flatten", ["g1"], ["y"]),
    ]
    net = network_from_onnx(onnx_model(onnx, nodes, [("B0", B0), ("B1", B1)]))
    assert_same_network(net, [2.0 * B0.T], [np.zeros(3)], output=(B1, [0.5, -0.5]))


def _chain(onnx, *middle, inits=()):
    """x -> Gemm(W) -> Relu -> middle... -> y, with W of shape (3, 2)."""
    make_node = onnx.helper.make_node
    nodes = [
        make_node("Gemm", ["x", "W"], ["g"], transB=1, name="dense"),
        make_node("Relu", ["g"], ["h"]),
    ]
    return onnx_model(onnx, nodes + list(middle), [("W", np.ones((3, 2), np.float32)), *inits])


@pytest.mark.parametrize(
    ("middle", "inits", "error", "match"),
    [
        (
            [("Conv", ["h", "K"], ["y"], {"name": "conv1"})],
            [("K", np.ones((1, 1, 1), np.float32))],
            UnsupportedLayerError,
            r"^unsupported ONNX operator Conv \(node 'conv1'\): only 2-D kernels, got \(1,\)$",
        ),
        (
            [("Sigmoid", ["h"], ["y"], {"name": "act"})],
            [],
            UnsupportedLayerError,
            r"Sigmoid \(node 'act'\)",
        ),
        (
            [("Add", ["h", "c"], ["y"], {"name": "add"})],
            [("c", np.ones(3, np.float32))],
            UnsupportedLayerError,
            r"Add \(node 'add'\): an Add must add a constant bias to a MatMul or Gemm",
        ),
        (
            [("MatMul", ["h", "h"], ["y"], {"name": "mm"})],
            [],
            UnsupportedLayerError,
            r"MatMul \(node 'mm'\): input 'h' is not an initializer or Constant",
        ),
        (
            [("MatMul", ["k", "h"], ["y"], {"name": "mm"})],
            [("k", np.ones((3, 3), np.float32))],
            UnsupportedLayerError,
            "the data must be the first input",
        ),
        (
            [("MatMul", ["h", "k"], ["y"], {})],
            [("k", np.ones(3, np.float32))],
            UnsupportedLayerError,
            r"weights of shape \(3,\) are not a matrix",
        ),
        (
            [("Gemm", ["h", "k"], ["y"], {"transA": 1})],
            [("k", np.ones((3, 3), np.float32))],
            UnsupportedLayerError,
            "the data must be the untransposed first input",
        ),
        (
            [("Gemm", ["h", "k"], ["y"], {})],
            [("k", np.ones((3, 3, 1), np.float32))],
            UnsupportedLayerError,
            r"weights of shape \(3, 3, 1\) are not a matrix",
        ),
        (
            [("MatMul", ["h", "k"], ["m"], {}), ("Add", ["m", "c"], ["y"], {"name": "bias"})],
            [("k", np.ones((3, 2), np.float32)), ("c", np.ones(3, np.float32))],
            ShapeError,
            r"Add \(node 'bias'\): bias of shape \(3,\) does not fit 2 outputs",
        ),
        (
            [("Flatten", ["h"], ["y"], {"axis": 0})],
            [],
            UnsupportedLayerError,
            "only Flatten with axis=1",
        ),
        (
            [("Reshape", ["h", "s"], ["y"], {})],
            [("s", np.array([-1, 1], np.int64))],
            UnsupportedLayerError,
            r"shape \[-1, 1\] is not a flatten to \(batch, features\)",
        ),
        (
            [("Reshape", ["h", "s"], ["y"], {})],
            [("s", np.array([1, 1, 3], np.int64))],
            UnsupportedLayerError,
            r"shape \[1, 1, 3\] is not a flatten",
        ),
        (
            [("Relu", ["h"], ["y"], {"name": "again"})],
            [],
            UnsupportedLayerError,
            r"Relu \(node 'again'\): a ReLU must follow a dense layer",
        ),
        (
            [("Relu", ["h"], ["y"], {}), ("Relu", ["h"], ["z"], {})],
            [],
            UnsupportedLayerError,
            "tensor 'h' feeds several nodes",
        ),
        (
            [("Identity", ["h"], ["z"], {})],
            [],
            UnsupportedLayerError,
            "the data path ends at 'z', not at the output 'y'",
        ),
        (
            [("Relu", ["h"], ["y", "z"], {})],
            [],
            UnsupportedLayerError,
            "expected one output, got 2",
        ),
    ],
)
def test_onnx_unsupported_graphs_name_the_operator(onnx, middle, inits, error, match):
    nodes = [onnx.helper.make_node(op, ins, outs, **attrs) for op, ins, outs, attrs in middle]
    with pytest.raises(error, match=match):
        network_from_onnx(_chain(onnx, *nodes, inits=inits))


def test_onnx_graph_inputs_and_outputs(onnx):
    relu = onnx.helper.make_node("Relu", ["x"], ["y"])
    with pytest.raises(UnsupportedLayerError, match=r"expected one graph input, got \['x', 'x2'\]"):
        network_from_onnx(onnx_model(onnx, [relu], extra_inputs=["x2"]))
    with pytest.raises(UnsupportedLayerError, match=r"expected one graph output, got \['y', 'z'\]"):
        network_from_onnx(onnx_model(onnx, [relu], outputs=("y", "z")))
    with pytest.raises(TypeError, match="path or an onnx.ModelProto, got int"):
        network_from_onnx(3)


def test_onnx_reshape_checks_feature_count(onnx):
    make_node = onnx.helper.make_node
    W = np.ones((3, 6), np.float32)
    nodes = [
        make_node("Reshape", ["x", "s"], ["f"]),
        make_node("Gemm", ["f", "W"], ["g"], transB=1),
        make_node("Relu", ["g"], ["y"]),
    ]
    for shape, ok in [([1, 6], True), ([0, 6], True), ([-1, 3], False)]:
        model = onnx_model(
            onnx, nodes, [("W", W), ("s", np.array(shape, np.int64))], input_shape=(1, 2, 3)
        )
        if ok:
            assert network_from_onnx(model).widths == (3,)
        else:
            with pytest.raises(UnsupportedLayerError, match=r"shape \[-1, 3\] is not a flatten"):
                network_from_onnx(model)


def test_onnx_file_errors(onnx, tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(ModelFormatError, match=r"missing\.onnx: no such ONNX file"):
        Network.from_onnx(missing)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\xff\xff\xff\xff not protobuf")
    with pytest.raises(ModelFormatError, match=r"corrupt\.onnx: not a readable ONNX file"):
        Network.from_onnx(corrupt)
    text = tmp_path / "text.onnx"
    text.write_text("")
    with pytest.raises(
        ModelFormatError, match=r"text\.onnx: not an ONNX model \(its graph has no nodes\)"
    ):
        Network.from_onnx(str(text))
    external = tmp_path / "external.onnx"
    model = _chain(onnx, onnx.helper.make_node("Identity", ["h"], ["y"]))
    onnx.save(
        model, external, save_as_external_data=True, location="external.data", size_threshold=0
    )
    (tmp_path / "external.data").unlink()
    with pytest.raises(ModelFormatError, match=r"external\.onnx: not a readable ONNX file"):
        Network.from_onnx(external)


def test_onnx_cyclic_graph_ends(onnx):
    loop = onnx.helper.make_node("Identity", ["h"], ["h"])
    with pytest.raises(UnsupportedLayerError, match="the data path ends at 'h'"):
        network_from_onnx(_chain(onnx, loop))


def test_import_pyregions_imports_neither_torch_nor_onnx():
    code = "import sys, pyregions; print(sorted({'torch', 'onnx'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------- Maxout


def maxout_sequential(torch, kind, seed=0):
    """A Sequential with Maxout layers: only Maxouts, or mixed with ReLUs."""
    from pyregions.torch import Maxout

    nn = torch.nn
    torch.manual_seed(seed)
    if kind == "maxout":
        layers = [Maxout(2, 4, 3), Maxout(4, 3, 2), nn.Linear(3, 2)]
    elif kind == "mixed":
        layers = [nn.Linear(2, 3), nn.ReLU(), Maxout(3, 3, 2), nn.Linear(3, 2), nn.ReLU()]
        layers += [nn.Sequential(Maxout(2, 2, 4)), nn.Linear(2, 1)]
    else:  # ends in a Maxout: no output layer
        layers = [Maxout(2, 3, 2), nn.Linear(3, 3), nn.ReLU(), Maxout(3, 2, 3)]
    return nn.Sequential(*layers).eval()


def maxout_arrays(torch, module):
    """Per hidden layer (weights, bias) read by hand, and the output layer."""
    from pyregions.torch import Maxout

    nn = torch.nn
    inner = {id(m.linear) for m in module.modules() if isinstance(m, Maxout)}
    leaves = [
        m
        for m in module.modules()
        if isinstance(m, (nn.Linear, Maxout, nn.ReLU)) and id(m) not in inner
    ]
    hidden, output = [], None
    for i, m in enumerate(leaves):
        if isinstance(m, Maxout):
            # Output i * rank + p of the Linear is piece p of unit i.
            W = m.linear.weight.detach().double().numpy()
            b = m.linear.bias.detach().double().numpy()
            hidden.append(
                (
                    np.stack([W[u * m.rank : (u + 1) * m.rank] for u in range(m.out_features)]),
                    np.stack([b[u * m.rank : (u + 1) * m.rank] for u in range(m.out_features)]),
                )
            )
        elif isinstance(m, nn.Linear):
            pair = (m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
            if i + 1 < len(leaves) and isinstance(leaves[i + 1], nn.ReLU):
                hidden.append(pair)
            else:
                output = pair
    return hidden, output


@pytest.mark.parametrize("kind", ["maxout", "mixed", "ends_in_maxout"])
def test_torch_maxout_round_trip(torch, kind):
    module = maxout_sequential(torch, kind)
    net = network_from_torch(module)
    hidden, output = maxout_arrays(torch, module)
    assert_same_network(net, *zip(*hidden), output=output)
    assert net.maxout_rank is not None
    x = np.random.default_rng(5).uniform(-1, 1, size=(50, 2))
    expected = module.double()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12, atol=1e-12)
    same = Network(*zip(*hidden))
    imported = count_regions(net, Box(-1, 1), seed=0)
    assert imported.complete
    assert imported.regions == count_regions(same, Box(-1, 1), seed=0).regions > 1


def test_torch_maxout_module(torch):
    from pyregions.torch import Maxout

    layer = Maxout(3, 4, rank=2)
    assert layer.linear.weight.shape == (8, 3)
    assert repr(layer).startswith("Maxout(\n  in_features=3, out_features=4, rank=2")
    x = torch.randn(2, 5, 3)
    pieces = layer.linear(x)
    expected = torch.maximum(pieces[..., 0::2], pieces[..., 1::2])
    torch.testing.assert_close(layer(x), expected)
    with pytest.raises(ValueError, match="rank must be >= 2, got 1"):
        Maxout(3, 4, 1)
    with pytest.raises(ValueError, match="out_features must be an integer, got 2.0"):
        Maxout(3, 2.0, 2)


def test_torch_maxout_layers_must_fit(torch):
    from pyregions.torch import Maxout

    nn = torch.nn
    with pytest.raises(
        UnsupportedLayerError,
        match=r"^unsupported layer 1: ReLU\(\): a ReLU must follow a dense layer",
    ):
        network_from_torch(nn.Sequential(Maxout(2, 3, 2), nn.ReLU()))
    with pytest.raises(
        UnsupportedLayerError,
        match=r"^unsupported layer 1: Maxout\(in_features=3, out_features=2, rank=2\) "
        r"directly after layer 0: Linear",
    ):
        network_from_torch(nn.Sequential(nn.Linear(2, 3), Maxout(3, 2, 2)))
    broken = Maxout(2, 3, 2)
    broken.linear = nn.Linear(2, 5)
    with pytest.raises(ShapeError, match=r"layer 0: Maxout\(.*has 5 outputs, not out_features"):
        network_from_torch(nn.Sequential(broken))


def test_import_pyregions_io_does_not_import_pyregions_torch():
    code = (
        "import sys, pyregions, pyregions.io; "
        "print(sorted({'torch', 'pyregions.torch'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def assert_same_as(net, expected):
    assert_same_network(
        net,
        [layer.weights for layer in expected.layers],
        [layer.bias for layer in expected.layers],
        output=None if expected.output is None else (expected.output.weights, expected.output.bias),
    )


@pytest.mark.parametrize("kind", ["maxout", "mixed", "ends_in_maxout"])
def test_onnx_legacy_export_of_maxout_equals_torch(torch, onnx, tmp_path, kind):
    module = maxout_sequential(torch, kind)
    path = tmp_path / "legacy.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (torch.zeros(1, 2),), path, dynamo=False)
    assert {"Reshape", "ReduceMax"} <= {n.op_type for n in onnx.load(path).graph.node}
    assert_same_as(network_from_onnx(path), network_from_torch(module))


@pytest.mark.parametrize("kind", ["maxout", "mixed"])
def test_onnx_default_export_of_maxout_equals_torch(torch, onnx, tmp_path, kind):
    module = maxout_sequential(torch, kind)
    path = tmp_path / "dynamo.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, 2),), path, verbose=False)
    assert {"Reshape", "ReduceMax"} <= {n.op_type for n in onnx.load(path).graph.node}
    assert_same_as(network_from_onnx(path), network_from_torch(module))


def maxout_onnx(onnx, shape=(-1, 2, 3), axes=(-1,), keepdims=0, axes_as_input=True, after=()):
    """x (2 features) -> Gemm (6 outputs) -> Reshape(shape) -> ReduceMax -> after... -> y."""
    make_node = onnx.helper.make_node
    reduce_inputs = ["r", "axes"] if axes_as_input else ["r"]
    reduced = "m" if after else "y"
    reduce_attrs = {} if axes_as_input else {"axes": list(axes)}
    if keepdims is not None:
        reduce_attrs["keepdims"] = keepdims
    nodes = [
        make_node("Gemm", ["x", "W", "B"], ["g"], transB=1, name="dense"),
        make_node("Reshape", ["g", "shape"], ["r"], name="split"),
        make_node("ReduceMax", reduce_inputs, [reduced], name="max", **reduce_attrs),
        *after,
    ]
    inits = [
        ("W", np.arange(12, dtype=np.float32).reshape(6, 2)),
        ("B", np.arange(6, dtype=np.float32)),
        ("shape", np.array(shape, np.int64)),
        ("axes", np.array(axes, np.int64)),
    ]
    model = onnx_model(onnx, nodes, inits)
    # ReduceMax takes ``axes`` as an input from opset 18, an attribute before.
    model.opset_import[0].version = 18 if axes_as_input else 13
    return model


@pytest.mark.parametrize(
    ("shape", "axes", "axes_as_input"),
    [((-1, 2, 3), (-1,), True), ((1, 2, 3), (2,), True), ((0, 2, 3), (-1,), False)],
)
def test_onnx_maxout_pattern(onnx, shape, axes, axes_as_input):
    model = maxout_onnx(onnx, shape, axes, axes_as_input=axes_as_input)
    net = network_from_onnx(model)
    W = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    assert_same_network(net, [W], [np.arange(6, dtype=np.float64).reshape(2, 3)])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"axes": (1,)},
            r"^unsupported ONNX operator ReduceMax \(node 'max'\): axes \[1\]: a maxout reduces",
        ),
        (
            {"axes": (1, 2), "axes_as_input": False},
            r"^unsupported ONNX operator ReduceMax \(node 'max'\): axes \[1, 2\]",
        ),
        ({"keepdims": None}, r"ReduceMax \(node 'max'\): a maxout needs keepdims=0"),
        ({"keepdims": 1}, r"ReduceMax \(node 'max'\): a maxout needs keepdims=0"),
        (
            {"shape": (-1, 3, 3)},
            (
                r"^unsupported ONNX operator Reshape \(node 'split'\): shape \[-1, 3, 3\] "
                r"does not split the 6 outputs of ONNX operator Gemm \(node 'dense'\)"
            ),
        ),
        (
            {"shape": (-1, -1, 3)},
            r"Reshape \(node 'split'\): shape \[-1, -1, 3\] does not split",
        ),
        (
            {"shape": (-1, 2, 1, 3)},
            r"Reshape \(node 'split'\): shape \[-1, 2, 1, 3\] is not a flatten to \(batch, fea",
        ),
    ],
)
def test_onnx_maxout_mismatch_names_the_operator(onnx, kwargs, match):
    with pytest.raises(UnsupportedLayerError, match=match):
        network_from_onnx(maxout_onnx(onnx, **kwargs))


def test_onnx_maxout_out_of_place(onnx):
    make_node = onnx.helper.make_node
    # Reshape then something other than ReduceMax.
    relu = make_node("Relu", ["r"], ["y"], name="act")
    model = maxout_onnx(onnx)
    model.graph.node[2].CopyFrom(relu)
    with pytest.raises(
        UnsupportedLayerError,
        match=r"^unsupported ONNX operator Relu \(node 'act'\): expected ReduceMax after "
        r"ONNX operator Reshape \(node 'split'\)",
    ):
        network_from_onnx(model)
    # Reshape at the end of the graph.
    del model.graph.node[2]
    model.graph.output[0].name = "r"
    with pytest.raises(
        UnsupportedLayerError, match=r"Reshape \(node 'split'\): a Reshape to \(batch, units"
    ):
        network_from_onnx(model)
    # No dense step right before the Reshape or the ReduceMax.
    with pytest.raises(
        UnsupportedLayerError,
        match=r"Reshape \(node 'r2'\): shape \[-1, 2, 3\] is not a flatten to \(batch, "
        r"features\), and a split into \(batch, units, pieces\) must directly follow a dense",
    ):
        network_from_onnx(
            _chain(
                onnx,
                make_node("Reshape", ["h", "s"], ["y"], name="r2"),
                inits=[("s", np.array([-1, 2, 3], np.int64))],
            )
        )
    with pytest.raises(
        UnsupportedLayerError,
        match=r"ReduceMax \(node 'm2'\): a ReduceMax must follow a Reshape",
    ):
        network_from_onnx(
            _chain(onnx, make_node("ReduceMax", ["h"], ["y"], name="m2", keepdims=0))
        )
    # A bias added after the maxout has no dense step to join.
    add = make_node("Add", ["m", "c"], ["y"], name="bias")
    model = maxout_onnx(onnx, after=[add])
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.ones(2, np.float32), "c"))
    with pytest.raises(UnsupportedLayerError, match=r"Add \(node 'bias'\): an Add must add"):
        network_from_onnx(model)


def test_onnx_maxout_from_matmul_add(onnx):
    # tf2onnx style: MatMul by an (n_in, n_out) kernel, then Add of the bias.
    make_node = onnx.helper.make_node
    kernel = np.arange(12, dtype=np.float32).reshape(2, 6)
    bias = np.arange(6, dtype=np.float32)
    nodes = [
        make_node("MatMul", ["x", "k"], ["m"]),
        make_node("Add", ["m", "b"], ["a"]),
        make_node("Reshape", ["a", "shape"], ["r"]),
        make_node("ReduceMax", ["r"], ["h"], axes=[2], keepdims=0),
        make_node("MatMul", ["h", "k2"], ["y"]),
    ]
    inits = [
        ("k", kernel),
        ("b", bias),
        ("shape", np.array([-1, 3, 2], np.int64)),
        ("k2", np.ones((3, 1), np.float32)),
    ]
    model = onnx_model(onnx, nodes, inits)
    model.opset_import[0].version = 13
    net = network_from_onnx(model)
    W = kernel.T.astype(np.float64).reshape(3, 2, 2)
    assert_same_network(
        net, [W], [bias.astype(np.float64).reshape(3, 2)], output=(np.ones((1, 3)), np.zeros(1))
    )
    x = np.random.default_rng(6).uniform(-1, 1, size=(10, 2))
    pieces = x @ kernel.astype(np.float64) + bias
    np.testing.assert_allclose(net.forward(x)[:, 0], pieces.reshape(10, 3, 2).max(axis=2).sum(1))
