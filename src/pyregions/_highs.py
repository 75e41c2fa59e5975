"""Construction of silent HiGHS models shared by every formulation."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import highspy

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
