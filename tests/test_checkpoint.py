"""Counts cut into subtrees: checkpoints, resumption, splitting and retries."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from pyregions import Box, CheckpointError, count_regions
from pyregions.checkpoint import CheckpointState, prefix_key
from pyregions.counting import run as count_run
from pyregions.counting import settings
from pyregions.counting.problem import TreeProblem
from pyregions.counting.search import TreeSearch
from pyregions.counting.settings import DEFAULT_TOL
from pyregions.exceptions import SolverError
from pyregions.tightening import preactivation_bounds

from .reference import random_network
from .tuning import tune

NET = random_network(4, [7, 6], 5)
BOX = Box(-1, 1)


@pytest.fixture(scope="module")
def serial():
    result = count_regions(NET, BOX, return_patterns=True, seed=0)
    assert result.complete
    return result


def recorded_subtrees(monkeypatch):
    """The prefixes of the subtrees counted from now on, as checkpoint keys."""
    counted = []
    original = count_run.count_subtree

    def recorded(problem, prefix, *args, **kwargs):
        counted.append(prefix_key(prefix))
        return original(problem, prefix, *args, **kwargs)

    monkeypatch.setattr(count_run, "count_subtree", recorded)
    return counted


def load_state(path):
    with np.load(path) as data:
        key = str(data["fingerprint"])
    return CheckpointState.load(path, key)


def resume_counts_only_the_pending(path, monkeypatch, **options):
    """Resume from ``path``: exactly its pending subtrees are counted, each once."""
    before = load_state(path)
    counted = recorded_subtrees(monkeypatch)
    resumed = count_regions(NET, BOX, checkpoint=path, **options)
    assert sorted(counted) == sorted(prefix_key(p) for p in before.pending)
    assert not set(counted) & set(before.finished)
    return resumed


def test_a_checkpointed_count_equals_the_serial_one(tmp_path, serial, monkeypatch):
    path = tmp_path / "count.ckpt"
    result = count_regions(NET, BOX, return_patterns=True, checkpoint=path)
    assert result.complete and path.exists()
    np.testing.assert_array_equal(result.patterns, serial.patterns)
    counted = recorded_subtrees(monkeypatch)
    monkeypatch.setattr(count_run, "frontier", None)  # the tree must not even be cut again
    again = count_regions(NET, BOX, return_patterns=True, checkpoint=path)
    np.testing.assert_array_equal(again.patterns, serial.patterns)
    assert counted == [] and again.lp_solves == result.lp_solves


@pytest.mark.parametrize("keep", [True, False], ids=["patterns", "count-only"])
def test_an_interrupted_count_resumes_to_the_exact_total(tmp_path, serial, monkeypatch, keep):
    path = tmp_path / "count.ckpt"
    calls = {"n": 0}
    original = count_run.count_subtree

    def interrupted_after_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(count_run, "count_subtree", interrupted_after_five)
    # Ctrl-C between two subtrees: the count so far, as within a subtree.
    partial = count_regions(NET, BOX, return_patterns=keep, checkpoint=path)
    monkeypatch.setattr(count_run, "count_subtree", original)
    state = load_state(path)
    assert len(state.finished) == 5 and state.pending
    assert not partial.complete and partial.regions == sum(f.regions for f in state.finished.values())
    resumed = resume_counts_only_the_pending(path, monkeypatch, return_patterns=keep)
    assert resumed.complete and resumed.regions == serial.regions
    if keep:
        np.testing.assert_array_equal(resumed.patterns, serial.patterns)
    else:
        assert resumed.patterns is None


def test_a_time_limit_keeps_the_finished_subtrees(
    tmp_path, serial, monkeypatch, clock, report_subtrees_only
):
    path = tmp_path / "count.ckpt"
    reports = []

    def expire_after_five(progress):
        reports.append(progress)
        if len(reports) == 5:
            clock.expire()

    partial = count_regions(NET, BOX, checkpoint=path, time_limit=3600, progress=expire_after_five)
    assert not partial.complete and len(reports) == 5
    state = load_state(path)
    assert len(state.finished) == 5 and state.pending
    assert reports[-1].regions == sum(r.regions for r in state.finished.values())
    assert reports[-1].regions <= partial.regions < serial.regions
    resumed = resume_counts_only_the_pending(path, monkeypatch)
    assert resumed.complete and resumed.regions == serial.regions


def test_a_checkpoint_as_a_kill_leaves_it_resumes_exactly(serial, monkeypatch, checkpoint_killed_after):
    killed, whole = checkpoint_killed_after(NET, BOX, 7)
    assert whole.regions == serial.regions and len(load_state(killed).finished) == 7
    resumed = resume_counts_only_the_pending(killed, monkeypatch)
    assert resumed.complete and resumed.regions == serial.regions


def test_a_checkpoint_of_another_count_is_refused(tmp_path):
    path = tmp_path / "count.ckpt"
    count_regions(NET, BOX, checkpoint=path)
    for other in (
        dict(network=random_network(4, [7, 6], 6), box=BOX),
        dict(network=NET, box=Box(-1, 2)),
        dict(network=NET, box=BOX, tol=1e-5),
        dict(network=NET, box=BOX, return_patterns=True),
        dict(network=NET, box=BOX, patterns=tmp_path / "patterns.bin"),
    ):
        with pytest.raises(CheckpointError, match="belongs to another"):
            count_regions(other.pop("network"), other.pop("box"), checkpoint=path, **other)


def test_a_damaged_checkpoint_is_refused(tmp_path):
    path = tmp_path / "count.ckpt"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="not a readable pyregions checkpoint"):
        count_regions(NET, BOX, checkpoint=path)


def test_the_milp_keeps_no_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="tree search only"):
        count_regions(NET, BOX, method="milp", checkpoint=tmp_path / "x")


def test_large_subtrees_are_split_and_still_exact(serial, monkeypatch):
    tune(monkeypatch, split_nodes=20)
    parts = []
    original = count_run.count_subtree

    def recorded(*args, **kwargs):
        parts.append(original(*args, **kwargs))
        return parts[-1]

    monkeypatch.setattr(count_run, "count_subtree", recorded)
    with ThreadPoolExecutor(2) as pool:
        result = count_regions(NET, BOX, return_patterns=True, executor=pool, jobs=2)
    assert result.complete and sum(part.children is not None for part in parts) > 1
    np.testing.assert_array_equal(result.patterns, serial.patterns)
    # No node is searched twice: the parts visit at most the serial search's nodes.
    lower, upper = BOX.bounds(NET.n_inputs)
    problem = TreeProblem.build(
        NET, lower, upper, preactivation_bounds(NET, BOX, method="lp"), DEFAULT_TOL
    )
    whole = TreeSearch(problem, np.random.default_rng(0))
    whole.run()
    assert sum(part.nodes for part in parts) <= whole.nodes


class FlakyExecutor:
    """Loses the first results it is asked for, as a dying worker would."""

    def __init__(self, failures):
        self.pool = ThreadPoolExecutor(2)
        self.failures = failures

    def submit(self, fn, *args, **kwargs):
        if self.failures > 0:
            self.failures -= 1
            future = Future()
            future.set_exception(ConnectionError("worker lost"))
            return future
        return self.pool.submit(fn, *args, **kwargs)


def test_subtrees_of_lost_workers_are_rerun_never_counted_twice(serial):
    flaky = FlakyExecutor(failures=5)
    result = count_regions(NET, BOX, return_patterns=True, executor=flaky, jobs=2)
    flaky.pool.shutdown()
    assert result.complete
    np.testing.assert_array_equal(result.patterns, serial.patterns)


def test_a_subtree_that_always_fails_ends_the_count_with_a_clear_error():
    flaky = FlakyExecutor(failures=10**6)
    with pytest.raises(SolverError, match="failed 4 times"):
        count_regions(NET, BOX, executor=flaky, jobs=2)
    flaky.pool.shutdown()


def test_checkpoints_work_the_same_on_an_executor(tmp_path, serial, monkeypatch):
    path = tmp_path / "count.ckpt"
    tune(monkeypatch, split_nodes=20)  # splits must survive in the file too
    with ThreadPoolExecutor(2) as pool:
        result = count_regions(NET, BOX, return_patterns=True, executor=pool, jobs=2, checkpoint=path)
    np.testing.assert_array_equal(result.patterns, serial.patterns)
    state = load_state(path)
    assert not state.pending and len(state.finished) > settings.SETTINGS.checkpoint_subtrees
    counted = recorded_subtrees(monkeypatch)
    again = count_regions(NET, BOX, return_patterns=True, checkpoint=path)  # read back, serially
    np.testing.assert_array_equal(again.patterns, serial.patterns)
    assert counted == [] and again.lp_solves == result.lp_solves


def test_a_checkpoint_keeps_the_thin_regions_of_its_subtrees(tmp_path):
    path = tmp_path / "count.ckpt"
    serial = count_regions(NET, BOX, thin_tol=0.05, seed=0)
    assert serial.thin > 0
    assert count_regions(NET, BOX, thin_tol=0.05, checkpoint=path).thin == serial.thin
    assert count_regions(NET, BOX, thin_tol=0.05, checkpoint=path).thin == serial.thin  # read back
    with pytest.raises(CheckpointError, match="another model, box, tolerance"):
        count_regions(NET, BOX, thin_tol=0.1, checkpoint=path)


def test_a_checkpoint_of_the_first_format_is_refused_clearly(tmp_path):
    path = tmp_path / "count.ckpt"
    count_regions(NET, BOX, checkpoint=path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files if name != "thin"}
    arrays["version"] = np.array(1)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(CheckpointError, match="format 1 has no thin-region counts"):
        count_regions(NET, BOX, checkpoint=path)
