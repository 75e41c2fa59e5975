"""Local jobs: serial first, workers only for a tree that proves large, the
serial result always, and scripts without a main guard refused clearly."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from pyregions import Box, Network, count_regions, read_patterns
from pyregions._workers import WorkerPool
from pyregions.counting import run as count_run
from pyregions.counting.problem import TreeProblem
from pyregions.counting.results import prefixes_of, unpack_patterns
from pyregions.counting.settings import DEFAULT_TOL
from pyregions.counting.subtree import count_subtree, frontier
from pyregions.counting.workers import Workers
from pyregions.exceptions import WorkerStartError
from pyregions.tightening import preactivation_bounds

from .reference import random_network
from .tuning import tune

NET = random_network(4, [7, 6], 5)
BOX = Box(-1, 1)


@pytest.fixture(scope="module")
def serial():
    return count_regions(NET, BOX, return_patterns=True, seed=0)


def _problem(net):
    lower, upper = BOX.bounds(net.n_inputs)
    bounds = preactivation_bounds(net, BOX, method="lp")
    return TreeProblem.build(net, lower, upper, bounds, DEFAULT_TOL)


def _spy_on_workers(monkeypatch) -> list:
    started = []
    original = Workers

    def spy(*args, **kwargs):
        started.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(count_run, "Workers", spy)
    return started


def test_a_count_within_the_fan_out_budget_starts_no_worker(serial, monkeypatch):
    started = _spy_on_workers(monkeypatch)
    result = count_regions(NET, BOX, return_patterns=True, jobs=2, seed=1)
    assert not started
    assert result.complete
    np.testing.assert_array_equal(result.patterns, serial.patterns)


@pytest.mark.parametrize("fan_out", [1, 40])
@pytest.mark.parametrize("jobs", [2, 3])
def test_a_count_that_fans_out_equals_the_serial_one(serial, monkeypatch, fan_out, jobs):
    tune(monkeypatch, fan_out_nodes=fan_out)
    tune(monkeypatch, split_nodes=20)  # subtrees come back cut, from any process
    started = _spy_on_workers(monkeypatch)
    result = count_regions(NET, BOX, return_patterns=True, jobs=jobs, seed=1)
    assert started == [jobs - 1]  # this process is the first job
    assert result.complete and result.regions == serial.regions
    np.testing.assert_array_equal(result.patterns, serial.patterns)


def test_a_count_on_two_inputs_goes_by_polygons_in_this_process(monkeypatch):
    # Workers would take LPs below their subtrees' roots: far slower.
    net = random_network(2, [30, 30], 3)
    tune(monkeypatch, fan_out_nodes=1)
    started = _spy_on_workers(monkeypatch)
    result = count_regions(net, BOX, return_patterns=True, jobs=2, seed=1)
    assert not started and result.lp_solves == 0
    tune(monkeypatch, polygon_search=False)
    by_lps = count_regions(net, BOX, return_patterns=True, jobs=2, seed=1)
    assert started == [1] and by_lps.lp_solves > 0
    np.testing.assert_array_equal(result.patterns, by_lps.patterns)


def test_a_fanned_out_count_writes_each_pattern_once_and_resumes(serial, monkeypatch, tmp_path):
    tune(monkeypatch, fan_out_nodes=5)
    tune(monkeypatch, checkpoint_subtrees=2)  # subtrees larger than 5 nodes
    started = _spy_on_workers(monkeypatch)
    path, checkpoint = tmp_path / "p.bin", tmp_path / "c.ckpt"
    result = count_regions(NET, BOX, patterns=path, checkpoint=checkpoint, jobs=2)
    written = read_patterns(path)
    assert started and result.complete and written.shape[0] == serial.regions
    assert {tuple(row) for row in written} == {tuple(row) for row in serial.unpacked_patterns()}
    again = count_regions(NET, BOX, patterns=path, checkpoint=checkpoint, jobs=2)
    assert again.regions == serial.regions and read_patterns(path).shape[0] == serial.regions


def test_a_fanned_out_count_stopped_short_resumes_to_the_exact_total(serial, monkeypatch, tmp_path):
    tune(monkeypatch, fan_out_nodes=5)
    tune(monkeypatch, checkpoint_subtrees=2)  # subtrees larger than 5 nodes
    started = _spy_on_workers(monkeypatch)
    original = count_run.SubtreeRun._count_here

    def out_of_time_once_fanned_out(self, *args):
        if started:
            self.deadline = time.time() - 1.0  # this process's next subtree stops at once
        return original(self, *args)

    monkeypatch.setattr(count_run.SubtreeRun, "_count_here", out_of_time_once_fanned_out)
    checkpoint = tmp_path / "c.ckpt"
    stopped = count_regions(NET, BOX, return_patterns=True, jobs=2, checkpoint=checkpoint)
    assert started and not stopped.complete and stopped.regions < serial.regions
    found = [tuple(row) for row in stopped.unpacked_patterns()]
    assert len(found) == len(set(found)) and set(found) <= {tuple(r) for r in serial.unpacked_patterns()}
    monkeypatch.setattr(count_run.SubtreeRun, "_count_here", original)
    resumed = count_regions(NET, BOX, return_patterns=True, jobs=2, checkpoint=checkpoint)
    assert resumed.complete
    np.testing.assert_array_equal(resumed.patterns, serial.patterns)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_a_search_asked_to_split_hands_back_exactly_what_it_has_not_visited(monkeypatch, compiled):
    # Compiled searches split at their ticks: this tree has several thousand nodes.
    net = random_network(5, [10, 10], 3) if compiled else NET
    if not compiled:
        tune(monkeypatch, compiled_search=False)
    tune(monkeypatch, split_after_nodes=1 if compiled else 20)
    problem = _problem(net)
    asked = threading.Event()
    asked.set()
    pending, found, splits = [()], [], 0
    while pending:
        part = count_subtree(problem, pending.pop(), 0, None, None, split=asked)
        found.extend(map(tuple, unpack_patterns(part.patterns, problem.n_hidden)))
        if part.children:
            splits += 1
            pending.extend(part.children)
    whole = count_regions(net, BOX, return_patterns=True)
    assert splits > 1
    assert len(found) == len(set(found)) == whole.regions
    assert set(found) == {tuple(row) for row in whole.unpacked_patterns()}


def test_workers_count_the_subtrees_handed_to_them(serial, monkeypatch):
    tune(monkeypatch, split_nodes=20)
    problem = _problem(NET)
    cut, complete, _ = frontier(problem, np.random.default_rng(0), 6, None)
    todo = deque(prefixes_of(cut))
    found = []

    def take(part):
        found.extend(map(tuple, unpack_patterns(part.patterns, problem.n_hidden)))
        todo.extend(part.children or ())

    workers = Workers(2, problem, True, None, lambda: 0)
    try:
        workers.ready.result()
        before = len(todo)
        workers.feed(todo)
        assert len(workers.running) == 4 and len(todo) == before - 4  # two each, the rest here
        while workers.running:
            for _, part in workers.finished(todo, wait_for_one=True):
                take(part)
            workers.feed(todo)
    finally:
        workers.close()
    cut_by_workers = len(found)
    while todo:
        take(count_subtree(problem, todo.pop(), 0, None, None))
    assert complete and cut_by_workers > 0
    assert sorted(found) == sorted(tuple(row) for row in serial.unpacked_patterns())


def test_a_lost_worker_loses_no_subtree(serial):
    problem = _problem(NET)
    cut, _, _ = frontier(problem, np.random.default_rng(0), 6, None)
    todo = deque(prefixes_of(cut))
    found = []
    workers = Workers(1, problem, True, None, lambda: 0)
    try:
        workers.ready.result()
        workers.feed(todo)
        for process in list(workers.pool._processes.values()):
            process.kill()
        while workers.running or len(todo) > 1:
            for _, part in workers.finished(todo, wait_for_one=bool(workers.running)):
                found.extend(map(tuple, unpack_patterns(part.patterns, problem.n_hidden)))
                todo.extend(part.children or ())
            workers.ready.result()  # the replacement pool's
            workers.feed(todo)
    finally:
        workers.close()
    while todo:
        part = count_subtree(problem, todo.pop(), 0, None, None)
        found.extend(map(tuple, unpack_patterns(part.patterns, problem.n_hidden)))
        todo.extend(part.children or ())
    assert sorted(found) == sorted(tuple(row) for row in serial.unpacked_patterns())


def test_a_time_limit_reaches_the_worker_processes():
    problem = _problem(NET)
    cut, _, _ = frontier(problem, np.random.default_rng(0), 6, None)
    todo = deque(prefixes_of(cut))
    parts = []
    workers = Workers(1, problem, True, time.time() - 1, lambda: 0)  # already late
    try:
        workers.ready.result()
        workers.feed(todo)
        while workers.running:
            parts.extend(part for _, part in workers.finished(todo, wait_for_one=True))
    finally:
        workers.close()
    assert parts and not any(part.complete for part in parts)
    assert all(part.regions == 0 for part in parts)  # stopped before their first leaf


def _blas_threads(info) -> set[int]:
    return {library["num_threads"] for library in info if library["user_api"] == "blas"}


def test_a_count_runs_blas_on_one_thread(monkeypatch):
    # Each search's products are small: a BLAS thread only spins on a core
    # that a worker (or the user's other work) needs.
    seen = []
    original = count_run.TreeSearch

    def spy(*args, **kwargs):
        seen.append(_blas_threads(threadpool_info()))
        return original(*args, **kwargs)

    monkeypatch.setattr(count_run, "TreeSearch", spy)
    with threadpool_limits(2):
        assert count_regions(NET, BOX, seed=0).complete
        assert _blas_threads(threadpool_info()) == {2}  # the caller's setting is back
    assert seen == [{1}]


def test_counts_in_two_threads_at_once_give_back_the_blas_threads(monkeypatch):
    # The limit is the process's: the last count to end restores it.
    both_inside = threading.Barrier(2)
    original = count_run.TreeSearch

    def waiting(*args, **kwargs):
        both_inside.wait(timeout=60)
        return original(*args, **kwargs)

    monkeypatch.setattr(count_run, "TreeSearch", waiting)
    with threadpool_limits(2):
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(count_regions(NET, BOX, seed=0)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [r.complete for r in results] == [True, True]
        assert _blas_threads(threadpool_info()) == {2}


def test_worker_processes_run_blas_on_one_thread():
    with threadpool_limits(2):
        pool = WorkerPool(1)
        try:
            assert _blas_threads(pool.submit(threadpool_info).result()) == {1}
        finally:
            pool.shutdown()


def test_workers_that_stop_as_they_start_give_one_clear_error():
    workers = object.__new__(Workers)
    workers.count, workers.running = 1, {}
    workers.ready = Future()
    workers.ready.set_exception(BrokenProcessPool("a child process terminated abruptly"))
    with pytest.raises(WorkerStartError, match='stopped as they started.*if __name__ == "__main__":'):
        workers.finished(deque(), wait_for_one=False)


def test_a_worker_importing_the_main_script_refuses_to_count(monkeypatch):
    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(WorkerStartError, match="worker process imports the main script"):
        count_regions(NET, BOX, jobs=2)


SCRIPT = """
import numpy as np
from pyregions import Box, Network, count_regions
from pyregions.counting import settings
settings.SETTINGS = settings.SearchSettings(fan_out_nodes={fan_out})
rng = np.random.default_rng(5)
net = Network([rng.normal(size=(7, 4)), rng.normal(size=(6, 7))], [rng.normal(size=7), rng.normal(size=6)])
"""


def _run_script(tmp_path, fan_out, call):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(fan_out=fan_out) + textwrap.dedent(call))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )


def _expected_regions():
    rng = np.random.default_rng(5)
    net = Network(
        [rng.normal(size=(7, 4)), rng.normal(size=(6, 7))], [rng.normal(size=7), rng.normal(size=6)]
    )
    return count_regions(net, BOX).regions


def test_a_script_without_main_guard_is_refused_as_it_fans_out(tmp_path):
    run = _run_script(tmp_path, 1, "print(count_regions(net, Box(-1, 1), jobs=2).regions)")
    assert run.returncode == 1 and run.stdout == ""
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("pyregions.exceptions.WorkerStartError")
    assert 'script.py, line 8' in last and 'if __name__ == "__main__":' in last


def test_a_script_without_main_guard_counts_what_needs_no_worker(tmp_path):
    run = _run_script(tmp_path, 10**9, "print(count_regions(net, Box(-1, 1), jobs=2).regions)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(_expected_regions())


def test_a_guarded_script_fans_out(tmp_path):
    call = """
    def main():
        print(count_regions(net, Box(-1, 1), jobs=2).regions)

    if __name__ == "__main__":
        main()
    """
    run = _run_script(tmp_path, 1, call)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(_expected_regions())
