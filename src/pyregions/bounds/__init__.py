"""Bounds on the number of linear regions of piecewise-linear networks.

Every bound returns an exact Python ``int``, or with ``log10=True`` its
base-10 logarithm as a ``float``, which stays usable where the exact value
has thousands of digits.  The closed-form bounds of an architecture are in
:mod:`.theorems`, the ranking of architectures by a bound in :mod:`.design`,
and the bound of a given network over a box in :mod:`.network_bound`.
"""

from __future__ import annotations

# Constants that callers read as pyregions.bounds.NAME.
from .design import DESIGN_BOUNDS as DESIGN_BOUNDS
from .design import MAX_DESIGN_UNITS as MAX_DESIGN_UNITS
from .design import ArchitectureRanking, even_widths, rank_architectures
from .network_bound import network_bound
from .theorems import MAX_EXACT_DIGITS as MAX_EXACT_DIGITS
from .theorems import (
    Bound,
    all_bounds,
    maxout,
    montufar2014_lower,
    montufar2017,
    one_input_maximum,
    serra2018,
    serra2018_lower,
    trivial,
    zaslavsky,
)

__all__ = [
    "ArchitectureRanking",
    "Bound",
    "all_bounds",
    "even_widths",
    "maxout",
    "montufar2014_lower",
    "montufar2017",
    "network_bound",
    "one_input_maximum",
    "rank_architectures",
    "serra2018",
    "serra2018_lower",
    "trivial",
    "zaslavsky",
]
