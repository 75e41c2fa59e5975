"""Local worker processes that count subtrees beside the main one, and the
checks that a script starting them has a main guard."""

from __future__ import annotations

import ast
import inspect
import multiprocessing
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from .. import _workers
from ..domain import Box
from ..exceptions import WorkerStartError
from ..network import Network
from ..tightening import preactivation_bounds
from . import settings
from .problem import TreeProblem
from .search import TreeSearch
from .subtree import Subtree, count_failure, count_subtree

__all__ = ["Workers", "main_guard_hint", "refuse_in_starting_worker", "refuse_unguarded_main"]


def main_guard_hint(jobs: int) -> str:
    return (
        f"count_regions(..., jobs={jobs}) starts worker processes, and each imports the "
        "main script again: put the script's code under `if __name__ == \"__main__\":`, "
        "or count with jobs=1"
    )


def refuse_in_starting_worker(jobs: int) -> None:
    """Refuse to count with workers in a worker process that is still
    importing the main script (multiprocessing's own flag for that phase):
    the script has no main guard, and would start workers without end."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        msg = f"called while a worker process imports the main script: {main_guard_hint(jobs)}"
        raise WorkerStartError(msg)


def refuse_unguarded_main(jobs: int) -> None:
    """Refuse to start workers while the main script's top-level code runs
    outside its main guard: each worker would run that code again."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    frame = inspect.currentframe()
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if path is None or frame is None:
        return  # interactive, or called from no script: the workers import nothing to run
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return
    line = frame.f_lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_guard(node.test) and node.lineno <= line <= node.end_lineno:
            return
    msg = f"{path}, line {line}: {main_guard_hint(jobs)}"
    raise WorkerStartError(msg)


def _is_main_guard(test: ast.expr) -> bool:
    """Whether ``test`` is ``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = {side.id for side in sides if isinstance(side, ast.Name)}
    constants = {side.value for side in sides if isinstance(side, ast.Constant)}
    return names == {"__name__"} and constants == {"__main__"}


class Workers:
    """``count`` local worker processes that count subtrees beside the main one.

    They are handed subtrees once they are up (the main process counts on
    meanwhile), ``queued_per_worker`` each at most, so that the main process
    keeps the rest to hand out as they free up. ``wanted`` is set when a
    worker has nothing left: the main process's search splits and comes
    back to feed it. ``split_request``, shared with the workers, is set while
    the main process has nothing to count: their searches split and send
    back the nodes they have not visited.
    """

    def __init__(self, count, problem, record, deadline, seeds: Callable[[], int]):
        self.count, self.problem, self.record = count, problem, record
        self.deadline, self.seeds = deadline, seeds
        # spawn, not fork: HiGHS may hold threads that a fork would not copy.
        self.context = multiprocessing.get_context("spawn")
        self.split_request = self.context.Event()
        self.wanted = threading.Event()
        self.running: dict[Future, tuple] = {}
        self.failures: dict[tuple, int] = {}
        self._start()

    def _start(self) -> None:
        self.pool = _workers.WorkerPool(self.count, _keep_split_request, (self.split_request,))
        self.ready = self.pool.submit(_warm_up)
        self.ready.add_done_callback(self._freed)

    @property
    def up(self) -> bool:
        """Whether a worker has started and loaded the kernels."""
        return self.ready.done() and self.ready.exception() is None

    def feed(self, todo: deque) -> None:
        """Hand the workers subtrees from the end of ``todo`` (the nearest
        the root, so the largest), once they are up; the first stays for
        the main process."""
        tuning = settings.SETTINGS
        while self.up and len(todo) > 1 and len(self.running) < tuning.queued_per_worker * self.count:
            prefix = todo.pop()
            future = self.pool.submit(
                _count_piece, self.problem, prefix, self.seeds(), self.deadline, tuning.split_nodes,
                self.record,
            )
            self.running[future] = prefix
            future.add_done_callback(self._freed)

    def _freed(self, _future: Future) -> None:
        # In the pool's thread: a worker with nothing left calls the main process.
        if self._idle():
            self.wanted.set()

    def call_when_idle(self) -> None:
        """Set ``wanted`` if a worker has nothing to do now, else clear it
        until one has."""
        if self._idle():
            self.wanted.set()
        else:
            self.wanted.clear()

    def _idle(self) -> bool:
        return self.up and sum(not future.done() for future in list(self.running)) < self.count

    def finished(self, todo: deque | None, *, wait_for_one: bool) -> list[tuple[tuple, Subtree]]:
        """The subtrees finished since the last call, as ``(prefix,
        result)``; those that failed go back to ``todo`` (dropped if None,
        left pending). A broken pool is replaced."""
        if todo is not None and self.ready.done() and self.ready.exception() is not None:
            msg = f"the worker processes stopped as they started. {main_guard_hint(self.count + 1)}"
            raise WorkerStartError(msg) from self.ready.exception()
        if not self.running:
            return []
        done, _ = wait(self.running, timeout=None if wait_for_one else 0, return_when=FIRST_COMPLETED)
        results, broken = [], False
        for future in done:
            prefix = self.running.pop(future)
            try:
                results.append((prefix, future.result()))
            except Exception as err:
                if todo is not None:
                    count_failure(self.failures, prefix, err)
                    todo.append(prefix)
                broken = broken or isinstance(err, BrokenProcessPool)
        if broken:
            # A lost worker breaks the whole pool: take back every subtree
            # the old one held, and start a new one unless the count stops.
            self.pool.shutdown(cancel_futures=True)
            if todo is not None:
                todo.extend(self.running.values())
                self._start()
            self.running.clear()
        return results

    def close(self) -> None:
        # On an error, what still runs comes back at its next tick.
        self.split_request.set()
        for future in self.running:
            future.cancel()
        if not self.ready.done():
            # Still starting, and no longer needed: stop them rather than
            # wait for their start-up.
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.terminate()
        self.pool.shutdown(wait=self.ready.done(), cancel_futures=True)


# In a local worker process: the event by which the main process asks its
# searches to split (set by _keep_split_request).
_split_request = None


def _keep_split_request(split_request) -> None:
    """Set-up of a local worker process (which leaves Ctrl-C to the main
    one: it asks the workers to split, and they answer at once)."""
    global _split_request
    _split_request = split_request


def _warm_up() -> None:
    """Load the kernels in a new worker process, counting a tiny network."""
    rng = np.random.default_rng(0)
    # Three inputs, not two: a worker's subtrees take the LP search, not the polygon one.
    network = Network([rng.normal(size=(3, 3)), rng.normal(size=(3, 3))], [rng.normal(size=3)] * 2)
    lower, upper = -np.ones(3), np.ones(3)
    bounds = preactivation_bounds(network, Box(lower, upper), method="lp")
    problem = TreeProblem.build(
        network, lower, upper, bounds, settings.DEFAULT_TOL, thin_tol=settings.DEFAULT_THIN_TOL
    )
    TreeSearch(problem, rng).run()


def _count_piece(problem, prefix, seed, deadline, node_budget, record) -> Subtree:
    """Local worker entry point: :func:`count_subtree`, split on request."""
    return count_subtree(
        problem, prefix, seed, deadline, node_budget, record=record, split=_split_request
    )
