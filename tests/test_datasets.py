"""Tests of the MNIST loader: parsing, validation, lookup order and download.

No test touches the network: downloads come from ``file://`` mirrors built in
``tmp_path``, and an autouse fixture points the default mirror at a directory
that does not exist.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from pyregions import PyRegionsError
from pyregions.datasets import MNIST_FILES, mnist
from pyregions.exceptions import DatasetError

SHARED_MNIST = Path(__file__).parents[2] / "shared" / "data" / "mnist"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"

needs_shared_mnist = pytest.mark.skipif(
    not all((SHARED_MNIST / f"{name}.gz").is_file() for name in MNIST_FILES),
    reason=f"the shared MNIST files are not in {SHARED_MNIST}",
)


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    """Keep the user's data, cache and mirror settings out of every test."""
    monkeypatch.delenv("PYREGIONS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("PYREGIONS_MNIST_MIRROR", (tmp_path / "no-mirror").as_uri())


@pytest.fixture(scope="module")
def real_mnist():
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"the shared MNIST files are not in {SHARED_MNIST}")
    return mnist(SHARED_MNIST, download=False)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_file(path: Path, data: bytes, *, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_small_mnist(directory: Path, *, gz: bool, seed: int = 0):
    """Write four tiny MNIST-like files; return the arrays mnist() should give."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = []
    for prefix, n in (("train", 7), ("t10k", 4)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_file(directory / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz=gz)
        write_file(directory / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz=gz)
        arrays += [images.reshape(n, 784) / 255.0, labels.astype(np.int64)]
    return tuple(arrays)


def assert_same(result, expected):
    assert len(result) == len(expected) == 4
    for got, want in zip(result, expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_real_mnist_shapes_ranges_and_label_counts(real_mnist):
    x_train, y_train, x_test, y_test = real_mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == x_test.dtype == np.float64
    assert y_train.dtype == y_test.dtype == np.int64
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    # Pixels are bytes scaled by 1/255, nothing else.
    np.testing.assert_array_equal(np.round(x_test * 255.0) / 255.0, x_test)
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == TEST_COUNTS


@needs_shared_mnist
def test_shared_files_match_published_checksums():
    for name, md5 in MNIST_FILES.items():
        data = (SHARED_MNIST / f"{name}.gz").read_bytes()
        assert hashlib.md5(data, usedforsecurity=False).hexdigest() == md5


def test_raw_and_gz_files_give_the_same_arrays(tmp_path):
    expected = write_small_mnist(tmp_path / "gz", gz=True)
    write_small_mnist(tmp_path / "raw", gz=False)
    assert_same(mnist(tmp_path / "gz", download=False), expected)
    assert_same(mnist(tmp_path / "raw", download=False), expected)


@needs_shared_mnist
def test_real_raw_and_gz_files_agree(tmp_path, real_mnist):
    # Train files stay compressed, test files are unpacked: both kinds mixed.
    for name in MNIST_FILES:
        source = SHARED_MNIST / f"{name}.gz"
        if name.startswith("t10k"):
            (tmp_path / name).write_bytes(gzip.decompress(source.read_bytes()))
        else:
            (tmp_path / f"{name}.gz").symlink_to(source)
    assert_same(mnist(tmp_path, download=False), real_mnist)


def test_raw_file_is_preferred_to_gz(tmp_path):
    expected = write_small_mnist(tmp_path, gz=False, seed=1)
    write_small_mnist(tmp_path, gz=True, seed=2)
    assert_same(mnist(tmp_path, download=False), expected)


def replace_file(directory: Path, name: str, data: bytes, *, gz: bool = False):
    for stale in (directory / name, directory / f"{name}.gz"):
        stale.unlink(missing_ok=True)
    write_file(directory / name, data, gz=gz)


GOOD_LABELS = idx_bytes(np.arange(4, dtype=np.uint8))
GOOD_IMAGES = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))


@pytest.mark.parametrize(
    ("name", "data", "gz", "match"),
    [
        (LABELS, GOOD_LABELS[:-1], False, r"promises 4 values of shape \(4,\), found 3 bytes"),
        (LABELS, GOOD_LABELS + b"\0", False, r"found 5 bytes after the header"),
        (IMAGES, GOOD_IMAGES[:-100], True, r"truncated or corrupt"),
        (IMAGES, GOOD_LABELS, False, r"magic number 0x00000801, expected 0x00000803"),
        (LABELS, b"\0\0\x0d\x01" + GOOD_LABELS[4:], False, r"magic number 0x00000d01"),
        (LABELS, b"\0\0\x08", False, r"3 bytes, too short for an IDX header"),
        (IMAGES, b"\0\0\x08\x03\0\0\0\x04", False, r"8 bytes, shorter than the 16-byte 3-D IDX header"),
        (IMAGES, idx_bytes(np.zeros((4, 27, 28), np.uint8)), False, r"27x28 pixels"),
        (LABELS, idx_bytes(np.array([0, 1, 10, 2], np.uint8)), False, r"label 10 found"),
        (LABELS, idx_bytes(np.arange(3, dtype=np.uint8)), False, r"holds 4 images but .* 3 labels"),
    ],
)
def test_corrupt_file_raises_naming_it(tmp_path, name, data, gz, match):
    write_small_mnist(tmp_path, gz=False)
    replace_file(tmp_path, IMAGES, GOOD_IMAGES)
    replace_file(tmp_path, LABELS, GOOD_LABELS)
    replace_file(tmp_path, name, data, gz=gz)
    with pytest.raises(DatasetError, match=match) as info:
        mnist(tmp_path, download=False)
    assert str(tmp_path) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (GOOD_LABELS, r"t10k-labels-idx1-ubyte\.gz: corrupt or truncated gzip"),
        (gzip.compress(GOOD_LABELS)[:-12], r"t10k-labels-idx1-ubyte\.gz: corrupt or truncated gzip"),
    ],
)
def test_bad_gzip_raises_naming_the_file(tmp_path, data, match):
    write_small_mnist(tmp_path, gz=True)
    (tmp_path / f"{LABELS}.gz").write_bytes(data)
    with pytest.raises(DatasetError, match=match):
        mnist(tmp_path, download=False)


def test_missing_files_without_download_name_directory_and_files(tmp_path):
    write_small_mnist(tmp_path, gz=True)
    (tmp_path / f"{LABELS}.gz").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="MNIST files missing from") as info:
        mnist(tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "train-images-idx3-ubyte" in message and LABELS in message
    assert "t10k-images" not in message and "train-labels" not in message


def test_missing_directory_without_download(tmp_path):
    with pytest.raises(DatasetError, match="missing from .*nowhere"):
        mnist(tmp_path / "nowhere", download=False)
    assert not (tmp_path / "nowhere").exists()


def make_mirror(directory: Path) -> str:
    directory.mkdir()
    for name in MNIST_FILES:
        shutil.copyfile(SHARED_MNIST / f"{name}.gz", directory / f"{name}.gz")
    return directory.as_uri()


@needs_shared_mnist
def test_download_from_file_mirror(tmp_path, real_mnist):
    mirror = make_mirror(tmp_path / "mirror")
    target = tmp_path / "new" / "mnist"
    assert_same(mnist(target, mirror=mirror), real_mnist)
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{n}.gz" for n in MNIST_FILES)


@needs_shared_mnist
def test_download_only_missing_files_from_env_mirror(tmp_path, monkeypatch, real_mnist):
    mirror = make_mirror(tmp_path / "mirror")
    (tmp_path / "mirror" / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv("PYREGIONS_MNIST_MIRROR", mirror + "/")
    target = tmp_path / "data"
    target.mkdir()
    name = "train-images-idx3-ubyte.gz"
    (target / name).symlink_to(SHARED_MNIST / name)
    assert_same(mnist(target), real_mnist)


def test_checksum_mismatch_discards_download(tmp_path):
    mirror = tmp_path / "mirror"
    write_small_mnist(mirror, gz=True)
    target = tmp_path / "data"
    match = r"checksum mismatch for file://.*\.gz: MD5 [0-9a-f]{32}, expected"
    with pytest.raises(DatasetError, match=match):
        mnist(target, mirror=mirror.as_uri())
    assert list(target.iterdir()) == []


def test_unreachable_mirror_raises(tmp_path):
    with pytest.raises(DatasetError, match=r"could not download file://.*no-mirror/train-images"):
        mnist(tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


@pytest.mark.parametrize("mirror", ["", 3])
def test_bad_mirror_argument(tmp_path, mirror):
    with pytest.raises(DatasetError, match="mirror must be a non-empty URL string"):
        mnist(tmp_path, mirror=mirror)


def test_pyregions_data_is_honoured(tmp_path, monkeypatch):
    expected = write_small_mnist(tmp_path / "env", gz=True)
    monkeypatch.setenv("PYREGIONS_DATA", str(tmp_path / "env"))
    assert_same(mnist(download=False), expected)
    # An explicit path wins over the variable.
    other = write_small_mnist(tmp_path / "arg", gz=False, seed=5)
    assert_same(mnist(tmp_path / "arg", download=False), other)


def test_xdg_cache_then_home_cache(tmp_path, monkeypatch):
    expected = write_small_mnist(tmp_path / "xdg-cache" / "pyregions" / "mnist", gz=True)
    assert_same(mnist(download=False), expected)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DatasetError, match=r"home/\.cache/pyregions/mnist"):
        mnist(download=False)


def test_dataset_error_is_a_pyregions_value_error():
    assert issubclass(DatasetError, PyRegionsError)
    assert issubclass(DatasetError, ValueError)
