"""The tree method's count: one search, or the tree cut into subtrees by
pattern prefix, run here, on local workers or on an executor, and kept in a
checkpoint."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

import numpy as np

from .. import _workers
from ..checkpoint import CheckpointState, SubtreeResult, fingerprint, prefix_key
from ..patterns import PatternWriter
from . import settings
from .polygons import PolygonLayers
from .results import Found, Progress, prefixes_of, unpack_patterns
from .search import TreeSearch
from .subtree import Subtree, count_failure, count_subtree, frontier, serial_order
from .workers import Workers, refuse_unguarded_main

__all__ = ["SubtreeRun", "count_tree"]


def count_tree(problem, rng, found, *, jobs, executor, deadline, progress, checkpoint, patterns_file):
    """Run the tree search in one piece, or cut into subtrees, into ``found``.

    Returns ``(complete, lp_solves, thin)``; the patterns kept in memory
    come in the serial search's order however the tree was cut.
    """
    with _workers.one_blas_thread():
        return _count_tree(problem, rng, found, jobs, executor, deadline, progress, checkpoint, patterns_file)


def _count_tree(problem, rng, found, jobs, executor, deadline, progress, checkpoint, patterns_file):
    # The polygon search runs from the root only, and far outruns LPs on workers.
    serial = jobs == 1 or PolygonLayers.apply_to(problem, settings.SETTINGS)
    if serial and executor is None and checkpoint is None:
        if patterns_file is not None:
            found.writer = PatternWriter(patterns_file, problem.n_hidden - found.drop, not problem.maxout)
        search = TreeSearch(problem, rng, deadline=deadline, progress=progress, found=found)
        _, complete = search.run()
        return complete, search.lp.solves, search.thin
    run = SubtreeRun(problem, rng, jobs, executor, deadline, progress, checkpoint)
    return run.run(found, patterns_file)


class SubtreeRun:
    """A count cut into subtrees by pattern prefix, run in or out of process.

    Subtrees are disjoint and together cover the tree, so their counts add up
    to the serial total whatever runs them. A subtree can stop early and come
    back with what it found and the nodes it left unvisited, as new subtrees
    (later in the serial order than what it found): on an executor when it
    exceeds ``split_nodes`` nodes, locally when it exceeds ``fan_out_nodes``
    before the workers start or when another process runs out of work. So no
    worker is left with a giant tail and no work is redone; a subtree whose
    worker fails is re-run, and each result is recorded under its prefix
    once, so nothing is counted twice.
    """

    def __init__(self, problem, rng, jobs, executor, deadline, progress, checkpoint):
        self.problem, self.rng, self.jobs = problem, rng, jobs
        self.executor, self.deadline, self.progress = executor, deadline, progress
        self.checkpoint = checkpoint
        self.settings = settings.SETTINGS
        self.partial: list[Subtree] = []  # unfinished subtrees: a lower bound
        self.started = time.perf_counter()
        self.last_save = self.started
        self.found: Found | None = None
        self.writer: PatternWriter | None = None

    def run(self, found: Found, patterns_file) -> tuple[bool, int, int]:
        """Count into ``found``, writing patterns to ``patterns_file`` if
        given; return ``(complete, lp_solves, thin)``."""
        self.found = found
        resumed = self.checkpoint is not None and Path(self.checkpoint).exists()
        state = self._initial_state(patterns_file)
        if state is not None and patterns_file is not None:
            self.writer = PatternWriter(
                patterns_file, self.problem.n_hidden - found.drop, not self.problem.maxout,
                keep=sum(r.regions for r in state.finished.values()) if resumed else None,
            )
        complete = state is not None
        try:
            if complete and state.pending:
                try:
                    if self.executor is None:
                        complete = self._run_local(state)
                    else:
                        complete = self._run_on_executor(state)
                finally:
                    self._save(state, force=True)
            return self._assemble(state, complete)
        finally:
            if self.writer is not None:
                self.writer.close()

    def _initial_state(self, patterns_file) -> CheckpointState | None:
        problem = self.problem
        kept = "file" if patterns_file is not None else "memory" if self.found.keep else "none"
        key = fingerprint(
            *problem.weights, *problem.biases, problem.lower, problem.upper, problem.stable,
            np.asarray(problem.order), *(c for c in problem.candidates if c is not None),
            extra=f"tol={problem.tol!r},thin_tol={problem.thin_tol!r};patterns={kept}",
        )
        if self.checkpoint is not None and Path(self.checkpoint).exists():
            return CheckpointState.load(self.checkpoint, key)
        # Locally the whole tree is one subtree, cut as it runs.
        size = self.settings.subtrees_per_job * self.jobs if self.executor is not None else 1
        if self.checkpoint is not None:
            size = max(size, self.settings.checkpoint_subtrees)
        prefixes, solves = [()], 0
        if size > 1:
            cut, complete, solves = frontier(problem, self.rng, size, self.deadline)
            if not complete:
                return None
            prefixes = prefixes_of(cut)
        state = CheckpointState(key, problem.n_hidden, prefixes, packed=not problem.maxout)
        state.frontier_solves = solves
        self._save(state, force=True)
        return state

    def _run_local(self, state: CheckpointState) -> bool:
        """Count the pending subtrees in this process: alone until it has
        searched ``fan_out_nodes`` nodes without finishing them, then with
        ``jobs - 1`` :class:`Workers` beside it.

        This process never waits for the workers to start: it counts on,
        and hands them subtrees once they are up. Whoever runs out of work
        asks the others to split their subtrees, so none keeps a long tail.
        """
        todo = deque(state.pending)
        workers = None
        alone = self.settings.fan_out_nodes  # nodes left before the workers start
        try:
            while todo or (workers is not None and workers.running):
                if workers is not None:
                    if not self._collect(state, workers, todo):
                        self._gather(state, workers)
                        return False
                    if not todo:
                        continue
                    workers.call_when_idle()
                prefix = todo.popleft()
                if workers is not None:
                    part = self._count_here(state, prefix, self.settings.split_nodes, workers.wanted)
                elif self.jobs > 1:
                    part = self._count_here(state, prefix, max(alone, 1), None)
                    alone -= part.nodes
                else:
                    part = self._count_here(state, prefix, None, None)
                if part.children is not None:
                    # This process goes on where it stopped.
                    todo.extendleft(reversed(part.children))
                    if workers is None and self.jobs > 1:
                        refuse_unguarded_main(self.jobs)
                        workers = Workers(
                            self.jobs - 1, self.problem, self.found.keep or self.writer is not None,
                            self.deadline, self._seed,
                        )
                if not self._take(state, prefix, part):
                    if workers is not None:
                        self._gather(state, workers)
                    return False
        except KeyboardInterrupt:
            # Between two subtrees: what is recorded stands (_take is atomic).
            if workers is not None:
                self._gather(state, workers)
            return False
        finally:
            if workers is not None:
                workers.close()
        return True

    def _count_here(self, state, prefix, node_budget, split) -> Subtree:
        """Count ``prefix``'s subtree in this process, its patterns straight
        to the file."""
        report = None if self.progress is None else self._progress_from(self._summary(state))
        found = Found(
            self.problem.n_hidden, self.problem.pattern_dtype,
            keep=self.found.keep, drop=self.found.drop,
        )
        found.writer = self.writer
        return count_subtree(
            self.problem, prefix, self._seed(), self.deadline, node_budget, report, found=found,
            split=split,
        )

    def _collect(self, state, workers: Workers, todo: deque) -> bool:
        """Record what the workers have finished and hand them more from
        ``todo``; with nothing left to count here, ask them to split and wait
        for one. False when the count stops (time limit, Ctrl-C)."""
        idle = not todo
        if idle:
            workers.split_request.set()
        try:
            finished = workers.finished(todo, wait_for_one=idle)
        except KeyboardInterrupt:
            return False
        going = True
        for prefix, part in finished:
            if part.children is not None:
                todo.extend(part.children)
            going = self._take(state, prefix, part) and going
        if todo:
            workers.split_request.clear()
        if going:
            workers.feed(todo)
        return going

    def _gather(self, state, workers: Workers) -> None:
        """Record what the workers hold when the count stops: asked to
        split, each hands back what it found within a few milliseconds."""
        workers.split_request.set()
        for future in workers.running:
            future.cancel()  # those not started yet
        while workers.running:
            for prefix, part in workers.finished(None, wait_for_one=True):
                self._take(state, prefix, part)

    def _take(self, state, prefix, part: Subtree) -> bool:
        """Record a subtree's result, whole even on Ctrl-C or SIGTERM (a
        checkpoint saved half-way would count it twice); False if it stopped
        short."""
        with _workers.interrupts_blocked():
            if part.children is not None:
                # Pending before finished: a checkpoint saved in between must
                # not lose the unvisited nodes.
                state.pending.extend(part.children)
            elif not part.complete:
                self.partial.append(part)
                return False
            self._finish(state, prefix, part)
            return True

    def _run_on_executor(self, state: CheckpointState) -> bool:
        executor = self.executor
        failures: dict[tuple[bool, ...], int] = {}
        running = {}

        def submit(prefix):
            future = executor.submit(
                count_subtree, self.problem, prefix, self._seed(), self.deadline,
                self.settings.split_nodes,
                record=self.found.keep or self.writer is not None,
            )
            running[future] = prefix

        complete = True
        try:
            for prefix in state.pending:
                submit(prefix)
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    prefix = running.pop(future)
                    try:
                        part = future.result()
                    except Exception as err:
                        count_failure(failures, prefix, err)
                        submit(prefix)
                        continue
                    complete = self._take(state, prefix, part) and complete
                    for child in part.children or ():
                        submit(child)
        except KeyboardInterrupt:
            complete = False
        finally:
            for future in running:
                future.cancel()
        return complete and not state.pending

    def _progress_from(self, done: Progress) -> Callable[[Progress], None]:
        """A progress callback for one subtree that adds what is ``done``."""

        def report(update: Progress) -> None:
            self.progress(Progress(
                done.regions + update.regions, done.nodes + update.nodes,
                done.lp_solves + update.lp_solves, time.perf_counter() - self.started,
            ))

        return report

    def _seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    def _finish(self, state, prefix, part) -> None:
        # Written before it is recorded, and recorded before it leaves the
        # pending list: the file's first rows are always those of the
        # finished subtrees, so a resumed count cuts off the rest.
        self._write(part)
        if self.writer is not None:
            self.writer.flush()
        kept = part.patterns if self.found.keep else None
        state.finished[prefix_key(prefix)] = SubtreeResult(
            kept, part.regions, part.lp_solves, part.nodes, part.thin
        )
        state.pending.remove(prefix)
        self._save(state)
        if self.progress is not None:
            self.progress(self._summary(state))

    def _summary(self, state) -> Progress:
        results = list(state.finished.values())
        return Progress(
            sum(r.regions for r in results), sum(r.nodes for r in results),
            state.frontier_solves + sum(r.lp_solves for r in results),
            time.perf_counter() - self.started,
        )

    def _save(self, state, *, force=False) -> None:
        now = time.perf_counter()
        if self.checkpoint is not None and (force or now - self.last_save >= self.settings.checkpoint_interval):
            state.save(self.checkpoint)
            self.last_save = now

    def _write(self, part: Subtree) -> None:
        """Write a worker's patterns to the patterns file, if any."""
        if self.writer is not None and part.patterns is not None:
            self.writer.write(unpack_patterns(part.patterns, self.problem.n_hidden)[:, self.found.drop :])

    def _assemble(self, state, complete) -> tuple[bool, int, int]:
        """Put every subtree's regions into ``self.found``; return
        ``(complete, lp_solves, thin)``."""
        if state is None:
            return False, 0, 0
        for part in self.partial:
            self._write(part)
        summary = self._summary(state)
        partial_regions = sum(p.regions for p in self.partial)
        if self.found.keep:
            layer_of = self.problem.layer_of
            pieces = [self.problem.pieces[layer_of[unit]] for unit in self.problem.order]
            keys = sorted(state.finished, key=lambda key: serial_order(key, pieces))
            packed = [state.finished[k].patterns for k in keys] + [p.patterns for p in self.partial]
            for block in packed:
                self.found.add(unpack_patterns(block, self.problem.n_hidden))
        else:
            self.found.count = summary.regions + partial_regions
        solves = summary.lp_solves + sum(p.lp_solves for p in self.partial)
        thin = sum(r.thin for r in state.finished.values()) + sum(p.thin for p in self.partial)
        return complete, solves, thin
