"""What the commands read: models, points and boxes from files or the
bundled examples, and a Dask scheduler."""

from __future__ import annotations

from pathlib import Path

from ..datasets import mnist_test_images
from ..domain import Box
from ..exceptions import ModelFormatError, ShapeError
from ..io import load_array
from ..network import Network, example_cnn, example_network

# Bundled models and points, by the names the command line takes for files.
EXAMPLE_MODELS = {"mnist-mlp": example_network, "mnist-cnn": example_cnn}
EXAMPLE_IMAGES = "mnist-test-images"
SCHEDULER_TIMEOUT = 10  # seconds to reach a Dask scheduler before giving up


def load_model(path: str | None) -> Network:
    if path is None:
        return example_network()
    if path in EXAMPLE_MODELS:
        return EXAMPLE_MODELS[path]()
    suffix = Path(path).suffix.lower()
    if suffix not in (".npz", ".onnx", ".pt", ".pth"):
        msg = f"{path}: unknown model type {suffix or '(no suffix)'!r}; expected .npz, .onnx or .pt"
        raise ModelFormatError(msg)
    if not Path(path).is_file():
        msg = f"{path}: No such file; give a network file, or no MODEL for the bundled example"
        raise ModelFormatError(msg)
    if suffix == ".npz":
        return Network.load(path)
    if suffix == ".onnx":
        return Network.from_onnx(path)
    return Network.from_torch(path)


def load_points(path: str):
    """The points of a ``.npy`` file, or the bundled test images by name."""
    return mnist_test_images() if path == EXAMPLE_IMAGES else load_array(path)


def load_box(args) -> Box:
    if args.box_file is None:
        return args.box or Box(0.0, 1.0)
    corners = load_array(args.box_file)
    if corners.ndim != 2 or corners.shape[0] != 2:
        msg = f"{args.box_file}: expected an array of shape (2, n_inputs), lower then upper"
        raise ShapeError(msg)
    return Box(corners[0], corners[1])


def connect(address: str):
    """A Dask client of the scheduler at ``address``, or one clear error."""
    try:
        from distributed import Client
    except ImportError as err:
        msg = "--scheduler needs Dask: pip install 'pyregions[dask]'"
        raise ImportError(msg) from err
    try:
        return Client(address, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        msg = f"cannot reach a Dask scheduler at {address!r} within {SCHEDULER_TIMEOUT} s ({err})"
        raise OSError(msg) from err
