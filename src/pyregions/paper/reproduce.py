"""Reproduce the MNIST experiment of Serra et al. (2018), Section 7.

The paper trains rectifier networks ``784-n1-n2-10`` on MNIST with
:math:`n_1 + n_2 = 22` hidden units, for :math:`n_1 = 1, \\dots, 21` and ten
networks per configuration, and counts the linear regions of the hidden
layers over the input box :math:`[0, 1]^{784}`. It compares the counts with
the upper bounds (Theorem 1, Montufar 2017, :math:`2^{22}`) and the test
error with the count.

Everything a run produces goes in one directory::

    DIR/run.json                    the settings the rows were made with
    DIR/networks/n1-{n1}_seed-{s}.npz
    DIR/results.csv                 one row per counted network
    DIR/runs.csv                    each run's wall and CPU time, resumes included
    DIR/SUMMARY.md                  the table per configuration and the paper's claims
    DIR/regions_vs_bounds.png
    DIR/error_vs_regions.png

A network is done when its row is in ``results.csv`` and its ``.npz`` is in
``networks/``; a later run with the same directory skips it. A network saved
but not yet counted is loaded rather than trained again, and a long count
(Theorem 1 allowing :data:`CHECKPOINT_MIN_BOUND` regions or more) resumes
from ``networks/n1-{n1}_seed-{s}.checkpoint`` (see the ``checkpoint``
argument of :func:`~pyregions.count_regions`), removed once the row is
written: the widest networks take hours each. ``results.csv`` is rewritten
whole under a temporary name and renamed after every row, so an interrupted
run never leaves a half-written file. The ``seconds`` of a resumed count are
those of its last part.

References
----------
.. [1] T. Serra, C. Tjandraatmadja and S. Ramalingam, "Bounding and Counting
   Linear Regions of Deep Neural Networks", ICML 2018.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Executor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from os import PathLike
from pathlib import Path

import numpy as np

from .. import bounds, plots
from .._validation import check_int, check_int_sequence
from .._workers import WorkerPool
from ..counting import DEFAULT_TOL, count_regions
from ..domain import Box
from ..exceptions import ShapeError
from ..network import Network
from .datasets import mnist
from .report import summary_markdown
from .run_files import (
    COLUMNS,
    check_settings,
    log_run,
    read_results,
    replace_text,
    write_results,
)
from .training import error_rate, train_relu_network

__all__ = [
    "COLUMNS",
    "Reproduction",
    "reproduce_serra2018",
]

N_INPUTS = 784
TOTAL_WIDTH = 22
EPOCHS = 20
CONFIGURATIONS = tuple((n1, TOTAL_WIDTH - n1) for n1 in range(1, TOTAL_WIDTH))
SEEDS = tuple(range(10))
# Quick mode keeps the narrow first layers, whose counts take minutes: with
# one job, n1 = 1..6 counted in about 0.1, 0.5, 2, 6, 14 and 80 s per
# network (the whole quick run in under 5 minutes). Wider first layers have
# far more regions (an estimated 0.6 million at n1 = 11, 4.2 million at
# n1 = 21), hours of counting each.
QUICK_CONFIGURATIONS = tuple((n1, TOTAL_WIDTH - n1) for n1 in range(1, 7))
QUICK_SEEDS = (0, 1)
QUICK_EPOCHS = EPOCHS

RESULTS_NAME = "results.csv"
SETTINGS_NAME = "run.json"
RUNS_NAME = "runs.csv"
SUMMARY_NAME = "SUMMARY.md"
NETWORKS_DIR = "networks"
REGIONS_FIGURE = "regions_vs_bounds.png"
ERROR_FIGURE = "error_vs_regions.png"
BOUND_NAMES = ("serra2018", "montufar2017", "trivial")
# Counts bounded below this many regions (Theorem 1) take a few minutes at
# most: a checkpoint's fixed cost, a few seconds per count, is not worth it.
CHECKPOINT_MIN_BOUND = 100_000
# A network whose worker fails (a lost process or Dask worker) is run again,
# from its checkpoint, up to this many times.
MAX_NETWORK_RETRIES = 3


@dataclass(frozen=True)
class Reproduction:
    """What :func:`reproduce_serra2018` produced.

    Attributes
    ----------
    results : pathlib.Path
        ``results.csv``.
    figures : tuple of pathlib.Path
        ``regions_vs_bounds.png`` and ``error_vs_regions.png``.
    rows : tuple of dict
        Every row of ``results.csv``, typed (ints, floats, the path a str).
    counted : int
        Networks counted by this call.
    reused : int
        Networks of the plan found done by an earlier call and skipped.
    """

    results: Path
    figures: tuple[Path, ...]
    rows: tuple[dict, ...]
    counted: int
    reused: int


def reproduce_serra2018(
    out_dir: str | PathLike,
    *,
    quick: bool = False,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: bool = True,
    data_path: str | PathLike | None = None,
    configurations: Sequence[tuple[int, int]] | None = None,
    seeds: Sequence[int] | None = None,
    epochs: int | None = None,
    data: tuple | None = None,
) -> Reproduction:
    """Train, save and count the paper's MNIST networks; plot the results.

    For each configuration ``(n1, n2)`` and seed, trains ``784-n1-n2-10``
    with :func:`~pyregions.training.train_relu_network` (the seed fixes the
    initial weights and the shuffles), saves it, counts its regions over
    ``Box(0, 1)`` with the default method and appends a row to
    ``results.csv``. Networks already done in ``out_dir`` are skipped (see
    the module docstring). The figures are then drawn from every row of
    ``results.csv``.

    Parameters
    ----------
    out_dir : str or path-like
        Directory for every output; created if missing.
    quick : bool, default=False
        Fewer networks (n1 = 1..6, two seeds each), for a run of under 15
        minutes on two cores; wider first layers have far more regions.
        Explicit ``configurations``, ``seeds`` or ``epochs`` take precedence.
    jobs : int, default=1
        Networks trained and counted at once, each in a worker process of
        its own (the networks are independent, so two cores give about
        twice the speed). The largest networks (by Theorem 1) start first,
        so the smallest fill the cores at the end.
    executor : concurrent.futures.Executor, optional
        Run the networks on this executor instead, e.g.
        ``dask.distributed.Client.get_executor()``; its workers must see
        ``out_dir`` and the MNIST files at the same paths. A network whose
        worker is lost is run again from its checkpoint. The executor is not
        shut down.
    progress : bool, default=True
        Write one line to stderr as each network starts and as it is counted.
    data_path : str or path-like, optional
        Directory of the MNIST files, passed to
        :func:`~pyregions.datasets.mnist` (which downloads missing files).
    configurations : sequence of (int, int), optional
        The ``(n1, n2)`` pairs; by default ``(n1, 22 - n1)`` for n1 = 1..21.
    seeds : sequence of int, optional
        Training seeds per configuration; by default 0..9.
    epochs : int, optional
        Training epochs; by default the paper's 20. All rows of one directory
        share it: ``run.json`` records it.
    data : tuple of 4 arrays, optional
        ``(x_train, y_train, x_test, y_test)`` to use instead of MNIST, with
        784 inputs per sample (for tests on a subsample).

    Returns
    -------
    Reproduction

    Raises
    ------
    ImportError
        When matplotlib, needed for the figures, is not installed.
    CheckpointError
        When ``out_dir`` holds a run with other settings, or a
        ``results.csv`` that is not one of ours.
    DatasetError
        When MNIST cannot be found or downloaded.
    ValueError
        For a configuration, seed, epoch count or ``jobs`` out of range.
    KeyboardInterrupt
        Re-raised after an interrupted count; the rows written so far and the
        interrupted count's checkpoint stay, for the next call to resume.

    Examples
    --------
    >>> from pyregions.reproduce import reproduce_serra2018
    >>> done = reproduce_serra2018("serra2018-quick", quick=True)  # doctest: +SKIP
    >>> [row["regions"] for row in done.rows]  # doctest: +SKIP
    """
    plan = _plan(quick, configurations, seeds, epochs)
    jobs = check_int(jobs, "jobs", minimum=1)
    # Fail now rather than after hours of counting.
    plots.pyplot()
    out = Path(out_dir)
    settings = {"epochs": plan.epochs, "tol": DEFAULT_TOL}
    check_settings(out / SETTINGS_NAME, settings)
    results = out / RESULTS_NAME
    rows = read_results(results)
    pending = [key for key in plan.keys if not _is_done(out, rows.get(key))]
    reused = len(plan.keys) - len(pending)
    if pending and data is None:
        _mnist(data_path)  # downloaded if missing here, before any worker reads it
    source = data_path if data is None else _check_data(data)
    # Only now, so that a run that cannot start leaves nothing behind.
    (out / NETWORKS_DIR).mkdir(parents=True, exist_ok=True)
    if not (out / SETTINGS_NAME).is_file():
        replace_text(out / SETTINGS_NAME, json.dumps(settings) + "\n")
    report = _stderr_report if progress else _silent
    if reused:
        report(f"{reused} of {len(plan.keys)} networks already counted in {results}")
    tally = _Tally(pending, len(plan.keys))

    counted = 0

    def record(key, row: dict) -> None:
        nonlocal counted
        counted += 1
        rows[key] = row
        write_results(results, rows)
        _checkpoint_path(out, key).unlink(missing_ok=True)
        report(tally.done(key, row))

    started, clock, cpu = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), time.perf_counter(), _cpu_seconds()
    try:
        if pending and jobs == 1 and executor is None:
            for key in pending:
                report(tally.starting(key))
                record(key, _run_one(out, key, plan.epochs, source))
        elif pending:
            _run_parallel(out, pending, plan.epochs, source, jobs, executor, record, report)
    finally:
        if pending:
            _write_summary(out, rows, len(plan.keys), settings, {
                "started": started, "jobs": jobs, "counted": counted,
                "wall_seconds": time.perf_counter() - clock, "cpu_seconds": _cpu_seconds() - cpu,
            })
    ordered = tuple(rows[key] for key in sorted(rows))
    return Reproduction(results, _draw_figures(out, ordered), ordered, len(pending), reused)


def _write_summary(out: Path, rows: dict, planned: int, settings: dict, run: dict) -> None:
    """Log ``run`` in ``runs.csv`` and rewrite ``SUMMARY.md`` from every row and run."""
    runs = log_run(out / RUNS_NAME, run)
    ordered = [rows[key] for key in sorted(rows)]
    replace_text(out / SUMMARY_NAME, summary_markdown(ordered, planned, settings, runs))


def _draw_figures(out: Path, ordered: tuple[dict, ...]) -> tuple[Path, Path]:
    """Draw both figures from the rows ``ordered``; return their paths."""
    figures = (out / REGIONS_FIGURE, out / ERROR_FIGURE)
    columns = {name: np.array([row[name] for row in ordered]) for name in COLUMNS[:-1]}
    plots.plot_regions_vs_bounds(
        columns["n1"], columns["regions"], {name: columns[name] for name in BOUND_NAMES},
        figures[0],
    )
    plots.plot_error_vs_regions(
        columns["n1"], columns["regions"], columns["test_error"], figures[1]
    )
    return figures


@dataclass(frozen=True)
class _Plan:
    keys: tuple[tuple[int, int, int], ...]
    epochs: int


def _plan(quick, configurations, seeds, epochs) -> _Plan:
    default_configurations, default_seeds, default_epochs = (
        (QUICK_CONFIGURATIONS, QUICK_SEEDS, QUICK_EPOCHS) if quick
        else (CONFIGURATIONS, SEEDS, EPOCHS)
    )
    if configurations is None:
        configurations = default_configurations
    checked = []
    for i, pair in enumerate(configurations):
        widths = check_int_sequence(pair, f"configurations[{i}]", minimum=1)
        if len(widths) != 2:
            msg = f"configurations[{i}] must be a pair (n1, n2), got {pair!r}"
            raise ValueError(msg)
        checked.append(widths)
    first_widths = [n1 for n1, _ in checked]
    if len(set(first_widths)) != len(first_widths):
        msg = f"configurations must have distinct n1 (it names the saved networks), got {checked}"
        raise ValueError(msg)
    seeds = check_int_sequence(default_seeds if seeds is None else seeds, "seeds", minimum=0)
    epochs = check_int(default_epochs if epochs is None else epochs, "epochs", minimum=1)
    keys = tuple(dict.fromkeys((n1, n2, seed) for n1, n2 in checked for seed in seeds))
    if not keys:
        msg = "configurations must not be empty"
        raise ValueError(msg)
    return _Plan(keys, epochs)


def _network_path(key: tuple[int, int, int]) -> str:
    # The name leaves n2 out, as n1 fixes it within a plan (checked there).
    n1, _, seed = key
    return f"{NETWORKS_DIR}/n1-{n1}_seed-{seed}.npz"


def _checkpoint_path(out: Path, key: tuple[int, int, int]) -> Path:
    return (out / _network_path(key)).with_suffix(".checkpoint")


def _is_done(out: Path, row: dict | None) -> bool:
    return row is not None and (out / row["network"]).is_file()


def _run_parallel(out, pending, epochs, source, jobs, executor, record, report) -> None:
    """Run the ``pending`` networks on ``executor`` or ``jobs`` local
    processes, largest first, calling ``record`` as each one is done."""
    largest_first = sorted(pending, key=lambda key: -bounds.serra2018(N_INPUTS, key[:2]))
    own = executor is None
    failures: dict[tuple, int] = {}
    running = {}
    report(f"{len(pending)} networks on {'the executor' if executor else f'{jobs} processes'}, largest first")
    if own:
        executor = WorkerPool(jobs)
    try:
        for key in largest_first:
            running[executor.submit(_run_one, out, key, epochs, source)] = key
        while running:
            future = next(as_completed(running))
            key = running.pop(future)
            try:
                row = future.result()
            except (KeyboardInterrupt, ValueError, OSError):
                raise
            except Exception as err:
                # A lost worker: run the network again, from its checkpoint.
                failures[key] = failures.get(key, 0) + 1
                if failures[key] > MAX_NETWORK_RETRIES:
                    msg = f"784-{key[0]}-{key[1]}-10 seed {key[2]} failed {failures[key]} times: {err!r}"
                    raise RuntimeError(msg) from err
                again = [key]
                if own and isinstance(err, BrokenProcessPool):
                    # A lost local worker breaks the whole pool: a new
                    # one takes every network still running.
                    executor.shutdown(cancel_futures=True)
                    executor = WorkerPool(jobs)
                    again += running.values()
                    running.clear()
                for lost in again:
                    running[executor.submit(_run_one, out, lost, epochs, source)] = lost
                continue
            record(key, row)
    except KeyboardInterrupt:
        if own:
            # The workers' counts stop and save their checkpoints; a
            # network that ended meanwhile keeps its row.
            for future in executor.stop(running):
                key = running.pop(future)
                if future.exception() is None:
                    record(key, future.result())
        raise
    finally:
        for future in running:
            future.cancel()
        if own and running:
            executor.kill()
        elif own:
            executor.shutdown(cancel_futures=True)


@cache
def _mnist(data_path) -> tuple:
    """MNIST, read once per process."""
    return mnist(data_path)


def _run_one(out: Path, key, epochs: int, source) -> dict:
    """Train (or load) one network, count its regions, and return its row.

    ``source`` is the dataset itself, or the path MNIST is read from (None
    for the default), so a worker process reads it once.
    """
    x_train, y_train, x_test, y_test = source if isinstance(source, tuple) else _mnist(source)
    n1, n2, seed = key
    relative = _network_path(key)
    path = out / relative
    network = Network.load(path) if path.is_file() else None
    # A file of another n2 comes from an earlier call with another plan.
    checkpoint = _checkpoint_path(out, key)
    if network is None or network.widths != (n1, n2):
        network = train_relu_network(x_train, y_train, (n1, n2), epochs=epochs, seed=seed)
        # A checkpoint left by the network this one replaces would be refused.
        checkpoint.unlink(missing_ok=True)
        network.save(path)
    bound = bounds.serra2018(N_INPUTS, (n1, n2))
    result = count_regions(
        network, Box(0.0, 1.0), seed=seed,
        checkpoint=checkpoint if bound >= CHECKPOINT_MIN_BOUND else None,
    )
    if not result.complete:
        # count_regions turns Ctrl-C into an incomplete count; an
        # incomplete count is no row, and the caller must stop too.
        raise KeyboardInterrupt
    return {
        "n1": n1,
        "n2": n2,
        "seed": seed,
        "train_error": error_rate(network, x_train, y_train),
        "test_error": error_rate(network, x_test, y_test),
        "regions": result.regions,
        "thin": result.thin,
        "seconds": result.seconds,
        "serra2018": bound,
        "montufar2017": bounds.montufar2017(N_INPUTS, (n1, n2)),
        "trivial": bounds.trivial((n1, n2)),
        "network": relative,
    }


def _check_data(data):
    if len(data) != 4:
        msg = f"data must be (x_train, y_train, x_test, y_test), got {len(data)} items"
        raise ValueError(msg)
    for name, x in (("x_train", data[0]), ("x_test", data[2])):
        shape = np.shape(x)
        if len(shape) != 2 or shape[1] != N_INPUTS:
            msg = f"data's {name} must have shape (n_samples, {N_INPUTS}), got {shape}"
            raise ShapeError(msg)
    return data


def _name(key: tuple[int, int, int]) -> str:
    return f"784-{key[0]}-{key[1]}-10 seed {key[2]}"


class _Tally:
    """The progress of a run over the whole plan: networks done (those of
    earlier runs included, so a resumed run numbers on), regions counted per
    second of this run, and the time left, estimated as if time were
    proportional to Theorem 1's bound (the counts follow it loosely)."""

    def __init__(self, pending, total: int):
        self.expected_work = {key: bounds.serra2018(N_INPUTS, key[:2]) for key in pending}
        self.total, self.finished = total, total - len(pending)
        self.work_planned = sum(self.expected_work.values())
        self.work_done = self.regions = 0
        self.started = time.perf_counter()

    def starting(self, key) -> str:
        return f"[{self.finished + 1}/{self.total}] {_name(key)}: training and counting"

    def done(self, key, row: dict) -> str:
        """Count ``key`` as done; return its progress line."""
        self.finished += 1
        self.regions += row["regions"]
        self.work_done += self.expected_work[key]
        elapsed = time.perf_counter() - self.started
        left = elapsed * (self.work_planned - self.work_done) / self.work_done
        return (
            f"[{self.finished}/{self.total}] {_name(key)}: {row['regions']} regions in "
            f"{row['seconds']:.1f} s, test error {row['test_error']:.4f}; this run "
            f"{self.regions / max(elapsed, 1e-9):,.0f} regions/s, about {_duration(left)} left"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _stderr_report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _silent(line: str) -> None:
    pass
