"""Validation helpers used once at the public boundary.

Each helper converts its input to the type used inside the package
(C-contiguous float64 arrays, Python ints) and raises an error that names the
parameter and the value it saw.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from .exceptions import ShapeError


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, refusing bools, floats and out-of-range values."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer, got {value!r}"
        raise ValueError(msg)
    value = operator.index(value)
    if minimum is not None and value < minimum:
        msg = f"{name} must be >= {minimum}, got {value}"
        raise ValueError(msg)
    return value


def check_positive(value, name: str, *, unit: str = "") -> float:
    """Return ``value`` as a float, refusing bools, non-numbers, inf, NaN and values <= 0."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value <= 0
    ):
        msg = f"{name} must be a positive number{unit}, got {value!r}"
        raise ValueError(msg)
    return float(value)


def check_int_sequence(values, name: str, *, minimum: int | None = None) -> tuple[int, ...]:
    """Return a non-empty tuple of ints, each checked by :func:`check_int`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        msg = f"{name} must be a sequence of integers, got {values!r}"
        raise ValueError(msg)
    checked = tuple(check_int(v, f"{name}[{i}]", minimum=minimum) for i, v in enumerate(values))
    if not checked:
        msg = f"{name} must not be empty"
        raise ValueError(msg)
    return checked


def check_array(value, name: str, *, ndim: int | tuple[int, ...], shape=None) -> np.ndarray:
    """Return ``value`` as a finite, C-contiguous float64 array.

    ``shape`` may hold ``None`` for a free axis.
    """
    try:
        array = np.array(value, dtype=np.float64, order="C", copy=True)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be an array of numbers, got {type(value).__name__}"
        raise ShapeError(msg) from err
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        wanted = " or ".join(f"{d}-D" for d in allowed)
        msg = f"{name} must be {wanted}, got an array of shape {array.shape}"
        raise ShapeError(msg)
    if shape is not None:
        if len(shape) != array.ndim or any(
            want is not None and want != got for want, got in zip(shape, array.shape)
        ):
            wanted = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            msg = f"{name} must have shape {wanted}, got {array.shape}"
            raise ShapeError(msg)
    if array.size == 0:
        msg = f"{name} must not be empty, got shape {array.shape}"
        raise ShapeError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"{name} must be finite, found NaN or inf"
        raise ShapeError(msg)
    array.setflags(write=False)
    return array


def check_seed(seed) -> np.random.Generator:
    """Normalise ``None | int | np.random.Generator`` to a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(check_int(seed, "seed", minimum=0))


def unreadable_reason(err: BaseException) -> str:
    """Why ``np.load`` refused a file, without numpy's advice to load it with
    ``allow_pickle``: unpickling an untrusted file can run any code, and a
    file that numpy takes for a pickle is usually no NumPy file at all."""
    text = str(err)
    if "Object arrays" in text:
        return "it holds Python objects, which are never loaded (loading them could run code)"
    if "pickle" in text:
        return "neither an .npy nor an .npz file"
    return text or type(err).__name__
