"""Counting on a Dask cluster: exact totals, also when a worker dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import distributed
import numpy as np
import pytest

from pyregions import Box, count_regions

from .reference import random_network


NET = random_network(5, [16, 14], 3)
BOX = Box(-1, 1)


@pytest.fixture(scope="module")
def serial():
    return count_regions(NET, BOX, return_patterns=True)


@pytest.fixture
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
    ) as local, distributed.Client(local) as client:
        yield local, client


def test_a_dask_count_equals_the_serial_one(cluster, serial):
    _, client = cluster
    result = count_regions(NET, BOX, return_patterns=True, executor=client.get_executor(), jobs=2)
    assert result.complete
    np.testing.assert_array_equal(result.patterns, serial.patterns)


def test_killing_a_worker_mid_run_keeps_the_total_exact(cluster, serial):
    _, client = cluster
    pids = list(client.run(os.getpid).values())
    killed = threading.Event()

    def kill_one_worker(update):
        if update.regions > 0 and not killed.is_set():
            killed.set()
            os.kill(pids[0], signal.SIGKILL)

    result = count_regions(
        NET, BOX, return_patterns=True, executor=client.get_executor(), jobs=2,
        progress=kill_one_worker,
    )
    assert killed.is_set()
    assert result.complete
    np.testing.assert_array_equal(result.patterns, serial.patterns)


def test_the_cli_counts_on_a_scheduler(cluster, serial, tmp_path):
    local, _ = cluster
    NET.save(tmp_path / "net.npz")
    done = subprocess.run(
        [sys.executable, "-m", "pyregions.cli", "count", str(tmp_path / "net.npz"), "--box", "-1:1",
         "--scheduler", local.scheduler_address, "--json", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f'"regions": {serial.regions},' in done.stdout


def test_a_bad_scheduler_address_fails_fast_with_one_line(tmp_path):
    NET.save(tmp_path / "net.npz")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pyregions.cli", "count", str(tmp_path / "net.npz"),
         "--scheduler", "tcp://127.0.0.1:9", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert time.monotonic() - started < 30
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyregions: error: cannot reach a Dask scheduler")
