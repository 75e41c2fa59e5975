"""Local worker processes that leave Ctrl-C to the parent.

Ctrl-C at a terminal reaches every process of the foreground group. A worker
that took it would die with a traceback if idle or still starting, and the
parent, waiting for the subtrees or probes already running, would stop only
when they end. Workers of a :class:`WorkerPool` ignore SIGINT instead; the
interrupted parent calls :meth:`WorkerPool.stop`, which sets a flag the
workers read between units of work (:func:`stop_requested`), so they return
what they have at once; :meth:`WorkerPool.kill` ends those that do not
within a grace period. SIGTERM, which the command line takes as Ctrl-C,
still ends a worker it reaches.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor, wait
from multiprocessing.managers import SyncManager

from threadpoolctl import threadpool_limits

__all__ = [
    "STOP_GRACE", "WorkerPool", "interrupts_blocked", "one_blas_thread", "shared_queue",
    "stop_requested",
]

# Seconds an interrupted parent waits for its workers' partial results.
STOP_GRACE = 0.5

_stop_flag = None  # in a worker: its pool's flag, set by the parent to stop


def stop_requested() -> bool:
    """Whether this process is a pool worker whose parent asked it to stop."""
    return _stop_flag is not None and bool(_stop_flag.value)


def _start_worker(flag, setup, setup_args) -> None:
    global _stop_flag
    _stop_flag = flag
    _ignore_sigint()
    # One process per core: a BLAS thread of its own would spin on another's.
    threadpool_limits(1)
    if setup is not None:
        setup(*setup_args)


# What the command line takes as Ctrl-C (the CLI's main turns SIGTERM into it).
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def _ignore_sigint() -> None:
    # Ignoring SIGINT discards one that arrived while the process started;
    # SIGTERM, inherited blocked too, may end the process again.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _INTERRUPTS)


# BLAS's thread count is the process's: counts running in several threads
# at once limit it once, and the last to end restores it.
_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits = None


@contextlib.contextmanager
def one_blas_thread():
    """Run BLAS on one thread meanwhile: a count's products are small, and
    a BLAS thread would only spin on a core that a worker or the user's
    other work needs."""
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            _blas_limits = threadpool_limits(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limits.restore_original_limits()


@contextlib.contextmanager
def shared_queue():
    """A queue that can be passed to pool workers with their tasks, served
    by a manager process that leaves Ctrl-C to the parent as they do."""
    manager = SyncManager(ctx=multiprocessing.get_context("spawn"))
    with interrupts_blocked():
        manager.start(_ignore_sigint)
    try:
        yield manager.Queue()
    finally:
        manager.shutdown()


@contextlib.contextmanager
def interrupts_blocked():
    """Block SIGINT and SIGTERM in this thread: a Ctrl-C or ``kill``
    meanwhile is delivered after."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class WorkerPool(ProcessPoolExecutor):
    """A process pool of ``jobs`` spawned workers that ignore SIGINT; each
    then runs ``setup(*setup_args)``, if given."""

    def __init__(self, jobs: int, setup=None, setup_args=()):
        # spawn, not fork: HiGHS may hold threads that a fork would not copy.
        context = multiprocessing.get_context("spawn")
        self._stop_flag = context.RawValue("b", 0)
        super().__init__(jobs, mp_context=context, initializer=_start_worker,
                         initargs=(self._stop_flag, setup, setup_args))

    def submit(self, fn, /, *args, **kwargs) -> Future:
        # Workers are started in here: they inherit SIGINT (and SIGTERM)
        # blocked until they ignore it, so that none dies of a Ctrl-C while
        # starting.
        with interrupts_blocked():
            return super().submit(fn, *args, **kwargs)

    def stop(self, futures) -> set[Future]:
        """Ask the workers to stop, cancel the ``futures`` not started, and
        wait up to ``STOP_GRACE`` seconds for the others; return those done
        with a result or an exception."""
        self._stop_flag.value = 1
        for future in futures:
            future.cancel()
        try:
            wait(futures, timeout=STOP_GRACE)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: wait no longer
        return {future for future in futures if future.done() and not future.cancelled()}

    def kill(self) -> None:
        """End the workers at once, busy or not, and shut the pool down."""
        for process in list((self._processes or {}).values()):
            process.terminate()
        self.shutdown(cancel_futures=True)
