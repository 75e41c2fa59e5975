"""The MNIST handwritten digits, read from the four standard IDX files.

The files are looked up, in this order, in the ``path`` argument, in the
directory named by ``$PYREGIONS_DATA``, and in a per-user cache directory
(``$XDG_CACHE_HOME/pyregions/mnist``, else ``~/.cache/pyregions/mnist``).
Each file may be gzip-compressed (``.gz``) or raw. Missing files are
downloaded from a mirror and checked against their published MD5 sums.

An IDX file is a big-endian header followed by the values in C order:

.. math::

    \\underbrace{0,\\ 0,\\ \\mathtt{type},\\ d}_{\\text{4-byte magic}}\\;
    n_1 \\cdots n_d\\ (\\text{int32 each})\\;
    \\text{data } (n_1 \\cdots n_d \\text{ values}),

with ``type = 0x08`` (unsigned byte) for MNIST, ``d = 3`` for images
``(n, 28, 28)`` and ``d = 1`` for labels ``(n,)``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import urllib.error
import urllib.request
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

from ..exceptions import DatasetError

__all__ = ["mnist", "mnist_test_images", "DEFAULT_MNIST_MIRROR", "MNIST_FILES"]

#: The first three MNIST test images, bundled for examples (a plane through them).
TEST_IMAGES_FILE = "mnist_test_images.npy"

DEFAULT_MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
"""Mirror used when neither ``mirror`` nor ``$PYREGIONS_MNIST_MIRROR`` is set."""

DATA_ENV = "PYREGIONS_DATA"
MIRROR_ENV = "PYREGIONS_MNIST_MIRROR"

MNIST_FILES = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
"""The four MNIST file names (without ``.gz``) and the MD5 of each ``.gz``."""

IMAGE_SIDE = 28
N_CLASSES = 10
DOWNLOAD_TIMEOUT = 60.0
_CHUNK = 1 << 20
_IDX_UBYTE = 0x08


def mnist(
    path: str | PathLike | None = None,
    *,
    download: bool = True,
    mirror: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST as flat images scaled to [0, 1] and integer labels.

    Parameters
    ----------
    path : str or path-like, default=None
        Directory holding the four IDX files, each raw or ``.gz``. When None,
        ``$PYREGIONS_DATA`` if set, else ``$XDG_CACHE_HOME/pyregions/mnist``
        (``~/.cache/pyregions/mnist`` when ``XDG_CACHE_HOME`` is unset).
    download : bool, default=True
        Download the missing files into that directory. Each ``.gz`` is
        written under a temporary ``.partial`` name, checked against its MD5
        and only then renamed, so an interrupted download leaves no file that
        looks complete.
    mirror : str, default=None
        Base URL the ``.gz`` files are fetched from (any scheme urllib reads,
        ``file://`` included). When None, ``$PYREGIONS_MNIST_MIRROR`` if set,
        else :data:`DEFAULT_MNIST_MIRROR`.

    Returns
    -------
    x_train : array of shape (60000, 784)
        Training images, float64 in [0, 1], rows in the files' order.
    y_train : array of shape (60000,)
        Training labels, int64 in 0..9.
    x_test : array of shape (10000, 784)
    y_test : array of shape (10000,)

    Raises
    ------
    DatasetError
        When files are missing and ``download`` is False (the message names
        the directory and the files); when a download fails or its MD5 does
        not match; when a file is not a valid IDX file of the expected kind
        (the message names the file).

    Examples
    --------
    >>> from pyregions.datasets import mnist
    >>> x_train, y_train, x_test, y_test = mnist()  # doctest: +SKIP
    >>> x_train.shape, y_test.dtype  # doctest: +SKIP
    ((60000, 784), dtype('int64'))
    """
    directory = _data_directory(path)
    base = _mirror_url(mirror)
    found = {name: _find(directory, name) for name in MNIST_FILES}
    missing = [name for name, file in found.items() if file is None]
    if missing:
        if not download:
            listed = ", ".join(f"{name}[.gz]" for name in missing)
            msg = (
                f"MNIST files missing from {directory}: {listed}; "
                f"pass download=True, or put the files there, or set ${DATA_ENV} "
                "to the directory holding them"
            )
            raise DatasetError(msg)
        directory.mkdir(parents=True, exist_ok=True)
        for name in missing:
            found[name] = _download(base, directory, name + ".gz", MNIST_FILES[name])
    x_train, y_train = _read_pair(found, "train")
    x_test, y_test = _read_pair(found, "t10k")
    return x_train, y_train, x_test, y_test


def mnist_test_images() -> np.ndarray:
    """The first three MNIST test images, bundled: an array of shape (3, 784)
    in [0, 1], float64."""
    from importlib.resources import as_file, files

    with as_file(files("pyregions") / "data" / TEST_IMAGES_FILE) as path:
        return np.load(path, allow_pickle=False).astype(np.float64)


def _data_directory(path) -> Path:
    if path is not None:
        return Path(path).expanduser()
    # An empty variable counts as unset, as the XDG specification has it
    # for XDG_CACHE_HOME.
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    # The XDG specification says a relative XDG_CACHE_HOME is invalid and
    # must be ignored.
    root = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return root / "pyregions" / "mnist"


def _mirror_url(mirror) -> str:
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or DEFAULT_MNIST_MIRROR
    if not isinstance(mirror, str) or not mirror:
        msg = f"mirror must be a non-empty URL string, got {mirror!r}"
        raise DatasetError(msg)
    return mirror if mirror.endswith("/") else mirror + "/"


def _find(directory: Path, name: str) -> Path | None:
    # A raw file is preferred: it is what a user who unpacked the archive
    # means, and it reads faster.
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _download(base: str, directory: Path, filename: str, md5: str) -> Path:
    url = base + filename
    target = directory / filename
    # A unique partial name lets two processes fill the same cache at once;
    # os.replace makes the verified file appear whole or not at all. Opening
    # with "xb" (not mkstemp) keeps the user's umask for the final file.
    partial = directory / f"{filename}.{secrets.token_hex(6)}.partial"
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with open(partial, "xb") as out:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                    while chunk := response.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError, ValueError) as err:
                msg = (
                    f"could not download {url} ({err}); put the MNIST files in "
                    f"{directory} by hand, point ${DATA_ENV} at a directory holding them, "
                    f"or choose another mirror with ${MIRROR_ENV}"
                )
                raise DatasetError(msg) from err
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != md5:
            msg = f"checksum mismatch for {url}: MD5 {got}, expected {md5}; file discarded"
            raise DatasetError(msg)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _read_bytes(file: Path) -> bytes:
    try:
        if file.name.endswith(".gz"):
            with gzip.open(file, "rb") as stream:
                return stream.read()
        return file.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        msg = f"{file}: corrupt or truncated gzip file ({err})"
        raise DatasetError(msg) from err


def _read_idx(file: Path, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file of ``ndim`` dimensions, strictly."""
    data = _read_bytes(file)
    expected_magic = (_IDX_UBYTE << 8) | ndim
    if len(data) < 4:
        msg = f"{file}: {len(data)} bytes, too short for an IDX header"
        raise DatasetError(msg)
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        msg = (
            f"{file}: magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(IDX unsigned bytes, {ndim}-D); not an MNIST file of this kind"
        )
        raise DatasetError(msg)
    header = 4 + 4 * ndim
    if len(data) < header:
        msg = f"{file}: {len(data)} bytes, shorter than the {header}-byte {ndim}-D IDX header"
        raise DatasetError(msg)
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != size:
        msg = (
            f"{file}: header promises {size} values of shape {shape}, "
            f"found {len(data) - header} bytes after the header (truncated or corrupt)"
        )
        raise DatasetError(msg)
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_images(file: Path) -> np.ndarray:
    raw = _read_idx(file, 3)
    if raw.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        msg = f"{file}: images of {raw.shape[1]}x{raw.shape[2]} pixels, expected 28x28"
        raise DatasetError(msg)
    # Dividing by 255 maps the byte range exactly onto [0, 1].
    return raw.reshape(raw.shape[0], IMAGE_SIDE * IMAGE_SIDE) / 255.0


def _read_labels(file: Path) -> np.ndarray:
    raw = _read_idx(file, 1)
    if raw.size and raw.max() >= N_CLASSES:
        msg = f"{file}: label {int(raw.max())} found, expected digits 0..9"
        raise DatasetError(msg)
    return raw.astype(np.int64)



def _read_pair(found: dict[str, Path], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    image_file = found[f"{prefix}-images-idx3-ubyte"]
    label_file = found[f"{prefix}-labels-idx1-ubyte"]
    images, labels = _read_images(image_file), _read_labels(label_file)
    if images.shape[0] != labels.shape[0]:
        msg = (
            f"{image_file} holds {images.shape[0]} images but {label_file} "
            f"holds {labels.shape[0]} labels"
        )
        raise DatasetError(msg)
    return images, labels
