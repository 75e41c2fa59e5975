"""Type stub of the compiled core (src/cpp)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

def serra2018_upper(
    n_inputs: int, widths: Sequence[int], ranks: Sequence[int], log10: bool
) -> int | float: ...
def arrangement_product(
    hyperplanes: Sequence[int], dimensions: Sequence[int], log10: bool
) -> int | float: ...
def lower_bound(bases: Sequence[int], exponent: int, last: int, log10: bool) -> int | float: ...
def interval_bounds(
    weights: Sequence[npt.ArrayLike],
    biases: Sequence[npt.ArrayLike],
    lower: npt.ArrayLike,
    upper: npt.ArrayLike,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]: ...
