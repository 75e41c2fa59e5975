"""Bound and count the linear regions of piecewise-linear neural networks.

Implements Serra, Tjandraatmadja and Ramalingam, *Bounding and Counting Linear
Regions of Deep Neural Networks* (ICML 2018).
"""

from __future__ import annotations

from . import bounds
from .counting import Progress, RegionCount, count_regions
from .domain import Box
from .estimation import RegionEstimate, estimate_regions
from .exceptions import (
    CheckpointError,
    DatasetError,
    ModelFormatError,
    PatternFileError,
    PyRegionsError,
    ShapeError,
    SolverError,
    UnsupportedLayerError,
    WorkerStartError,
)
from .local import LocalCounts, count_local
from .network import Network
from .patterns import read_patterns
from .tightening import PreactivationBounds, preactivation_bounds

__version__ = "0.1.0"

__all__ = [
    "Box",
    "CheckpointError",
    "DatasetError",
    "LocalCounts",
    "ModelFormatError",
    "Network",
    "PatternFileError",
    "PreactivationBounds",
    "Progress",
    "RegionCount",
    "RegionEstimate",
    "PyRegionsError",
    "ShapeError",
    "SolverError",
    "UnsupportedLayerError",
    "WorkerStartError",
    "bounds",
    "count_local",
    "count_regions",
    "estimate_regions",
    "preactivation_bounds",
    "read_patterns",
]
