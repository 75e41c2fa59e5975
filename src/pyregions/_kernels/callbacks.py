"""What the compiled search asks of Python, through ``objmode``: HiGHS for
the rare LP its simplex leaves undecided, and, every few nodes, a tick that
hands over the regions found, reports progress and reads the clock. The
search's owner (:func:`pyregions._kernels.layer_search.run` registers it,
per thread: a Dask worker may run several searches) answers both.
"""

from __future__ import annotations

import threading

# Statuses of an LP, as the search sees it after its checks.
LP_FEASIBLE = 0
LP_EMPTY = 1  # with multipliers that refute it
LP_EMPTY_UNPROVEN = 2  # HiGHS said empty but gave no usable ray
LP_FAILED = 3  # HiGHS raised: the search stops

# What Python answers at a tick: go on, stop (time limit, Ctrl-C, an error),
# or split (hand back the nodes not yet visited, as over budget).
GO_ON = 0
STOP = 1
SPLIT = 2

# The owner of the search running in this thread, and what it stopped for.
hooks = threading.local()


def decide_in_python(rows, rhs, point, multipliers) -> int:
    """Hand an LP the simplex left undecided to the owner's HiGHS."""
    state = hooks.state
    try:
        found, proof = state["owner"].lp.undecided(rows, rhs)
    except BaseException as error:  # noqa: BLE001 (raised by run() once the search has stopped)
        state["error"] = error
        return LP_FAILED
    if found is not None:
        point[:] = found
        return LP_FEASIBLE
    if proof is None or proof.shape[0] != rhs.shape[0]:
        return LP_EMPTY_UNPROVEN
    multipliers[:] = proof
    return LP_EMPTY


def tick_in_python(nodes, solves, patterns) -> int:
    """Hand the owner the ``patterns`` found since the last tick, let it
    report progress and read the clock; GO_ON, STOP or SPLIT."""
    state = hooks.state
    try:
        answer = state["owner"].layer_tick(nodes, solves, patterns)
    except BaseException as error:  # noqa: BLE001 (a progress callback's, raised by run())
        state["error"] = error
        return STOP
    return STOP if state["interrupted"] else answer
