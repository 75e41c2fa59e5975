"""Construction of silent HiGHS models shared by every formulation."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import highspy
import numpy as np

_banner_lock = threading.Lock()
_banner_shown = False


@contextlib.contextmanager
def _stdout_silenced():
    """Point file descriptor 1 at /dev/null, where C++ code writes too."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def new_model(seed: int = 0) -> highspy.Highs:
    """A silent ``highspy.Highs`` seeded with ``seed``.

    HiGHS prints a copyright banner on standard output the first time a model
    is built in a process, before any option can switch it off; it would
    corrupt ``--json`` output, so that first construction writes to /dev/null.
    """
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            highs = highspy.Highs()
        else:
            with _stdout_silenced():
                highs = highspy.Highs()
            _banner_shown = True
    highs.silent()
    highs.setOptionValue("random_seed", int(seed))
    return highs


def add_rows(model: highspy.Highs, lower, upper, columns, values) -> None:
    """Add the rows ``lower[i] <= values[i] @ x[columns[i]] <= upper[i]`` to
    ``model`` in one CSR block: the one place that builds HiGHS rows.

    ``columns`` and ``values`` have shape (rows, entries), the same number
    of entries in each row (or (entries,) for one row; ``columns`` may be
    one row shared by all); ``lower`` and ``upper`` are one bound per row,
    or one for all (``highspy.kHighsInf`` for none).
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    count, width = values.shape
    if count == 0:
        return
    columns = np.broadcast_to(np.atleast_2d(columns), values.shape).astype(np.int32)
    low, high = (np.ascontiguousarray(np.broadcast_to(np.asarray(b, dtype=np.float64), count)) for b in (lower, upper))
    model.addRows(
        count, low, high, values.size, np.arange(0, values.size, width, dtype=np.int32),
        columns.ravel(), np.ascontiguousarray(values).ravel(),
    )
