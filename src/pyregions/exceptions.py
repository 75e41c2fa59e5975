"""Exceptions raised by pyregions.

Every error derives from :class:`PyRegionsError`; each subclass also derives
from the builtin it refines, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "PyRegionsError",
    "ShapeError",
    "UnsupportedLayerError",
    "SolverError",
    "CheckpointError",
    "PatternFileError",
    "DatasetError",
    "ModelFormatError",
    "WorkerStartError",
]


class PyRegionsError(Exception):
    """Base class of every error raised by pyregions."""


class ShapeError(PyRegionsError, ValueError):
    """An array has the wrong number of dimensions, shape or values."""


class UnsupportedLayerError(PyRegionsError, ValueError):
    """A layer, activation or operator that pyregions cannot formulate."""


class SolverError(PyRegionsError, RuntimeError):
    """HiGHS returned a status that leaves the answer undecided."""


class CheckpointError(PyRegionsError, ValueError):
    """A checkpoint file is unreadable or belongs to another problem."""


class PatternFileError(PyRegionsError, ValueError):
    """A patterns file cannot be written or read, or belongs to another network."""


class DatasetError(PyRegionsError, ValueError):
    """A dataset file is missing, corrupt, or fails its checksum or download."""


class ModelFormatError(PyRegionsError, ValueError):
    """A saved PyTorch or ONNX model file is missing, corrupt or of the wrong kind."""


class WorkerStartError(PyRegionsError, RuntimeError):
    """Local worker processes could not start, typically because the main
    script they import again has no ``if __name__ == "__main__":`` guard."""

