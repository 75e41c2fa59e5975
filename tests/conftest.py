"""Fixtures that drive a count by events instead of by the clock."""

from __future__ import annotations

import shutil
import time

import pytest

from pyregions import counting

from .tuning import tune


class ManualClock:
    """The counting package's clock, whose wall time jumps when told: a
    time limit then ends a count at a chosen event, whatever the machine's
    speed."""

    def __init__(self):
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def perf_counter(self) -> float:
        return time.perf_counter()

    def expire(self) -> None:
        """Jump past any time limit set so far."""
        self.offset += 10**9

    def lag(self) -> None:
        """Run far behind the real clock: a deadline set here has passed for
        worker processes (which read the real one) before they start."""
        self.offset -= 10**9


@pytest.fixture
def clock(monkeypatch):
    manual = ManualClock()
    for module in (counting, counting.milp, counting.run, counting.search):
        monkeypatch.setattr(module, "time", manual)
    return manual


@pytest.fixture
def report_every_tick(monkeypatch):
    """Progress at every tick of the search (every node in Python, every
    ``TICK_NODES`` in the compiled loop), not four times a second."""
    tune(monkeypatch, progress_interval=0.0)


@pytest.fixture
def report_subtrees_only(monkeypatch):
    """Progress only as subtrees finish, and a checkpoint saved after each:
    the events of a cut count, in a known number."""
    tune(monkeypatch, progress_interval=float("inf"), checkpoint_interval=0.0)


@pytest.fixture
def checkpoint_killed_after(tmp_path, report_subtrees_only):
    """``(network, box, subtrees) -> (path, whole count)``: the checkpoint
    that a SIGKILL leaves as the count's ``subtrees``-th subtree finishes
    (it is saved after each one), copied aside while the count goes on."""

    def count_and_copy(network, box, subtrees):
        path, killed = tmp_path / "count.ckpt", tmp_path / "killed.ckpt"
        finished = []

        def copy(progress):
            finished.append(progress)
            if len(finished) == subtrees:
                shutil.copyfile(path, killed)

        whole = counting.count_regions(network, box, checkpoint=path, progress=copy)
        assert whole.complete and len(finished) > subtrees
        assert finished[-1].regions == whole.regions and finished[-1].lp_solves == whole.lp_solves
        return killed, whole

    return count_and_copy
