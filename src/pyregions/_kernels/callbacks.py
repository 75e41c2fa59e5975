"""What the compiled search asks of Python, through ``objmode``: HiGHS for
the rare LP its simplex leaves undecided, and, every few nodes, a tick that
hands over the regions found, reports progress and reads the clock. The
search's owner answers both, registered by :func:`answered_by`
(:func:`run_answered` runs a search so).
"""

from __future__ import annotations

import contextlib
import signal
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
_hooks = threading.local()


@contextlib.contextmanager
def answered_by(owner):
    """Let ``owner`` answer the calls back of the search run in this block
    (in this thread: a Dask worker may run several searches); yields the
    state in which the calls note an error raised there and the search
    notes Ctrl-C."""
    previous = getattr(_hooks, "state", None)
    _hooks.state = state = {"owner": owner, "error": None, "interrupted": False}
    try:
        yield state
    finally:
        _hooks.state = previous


def run_answered(owner, search, *bundles):
    """``search(*bundles)``, a compiled search whose calls back ``owner``
    answers; returns its results, then the exception it stopped for, if any
    (to raise once the results are recorded).

    An exception raised in a call back is caught and stops the loop, so
    that the regions it found are recorded before it is raised again.
    Ctrl-C is only noted while the loop runs and stops it at its next tick:
    a KeyboardInterrupt raised by the signal as the loop passed into
    ``objmode`` came out as a SystemError. SIGTERM is noted the same way
    where its handler raises KeyboardInterrupt (as in the command line).
    """
    with answered_by(owner) as state:
        previous = {}
        if threading.current_thread() is threading.main_thread():
            noted = [signal.SIGINT]
            if signal.getsignal(signal.SIGTERM) is signal.default_int_handler:
                noted.append(signal.SIGTERM)
            for number in noted:
                previous[number] = signal.signal(number, lambda *_: state.update(interrupted=True))
        try:
            results = search(*bundles)
        finally:
            for number, handler in previous.items():
                if handler is not None:  # None: a handler not set from Python
                    signal.signal(number, handler)
    if state["interrupted"] and state["error"] is None:
        return results, KeyboardInterrupt()
    return results, state["error"]


def decide_in_python(rows, rhs, point, multipliers) -> int:
    """Hand an LP the simplex left undecided to the owner's HiGHS."""
    state = _hooks.state
    try:
        found, proof = state["owner"].lp.undecided(rows, rhs)
    except BaseException as error:  # noqa: BLE001 (raised by run_answered() once the search has stopped)
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
    state = _hooks.state
    try:
        answer = state["owner"].layer_tick(nodes, solves, patterns)
    except BaseException as error:  # noqa: BLE001 (a progress callback's, raised by run_answered())
        state["error"] = error
        return STOP
    return STOP if state["interrupted"] else answer
