"""Local complexity: counts around points, against ``count_regions`` on the same boxes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pyregions import Box, count_regions
from pyregions.local import count_local

from .reference import random_network


def test_local_counts_equal_counts_on_the_same_boxes():
    net = random_network(5, [6, 4], 3)
    points = np.random.default_rng(0).uniform(0, 1, size=(6, 5))
    seen = []
    result = count_local(net, points, 0.2, progress=lambda done, total: seen.append((done, total)))
    expected = [count_regions(net, Box.around(x, 0.2)).regions for x in points]
    assert result.regions.tolist() == expected
    assert result.all_complete and len(set(expected)) > 1
    assert seen == [(i, 6) for i in range(1, 7)]


def test_local_counts_in_workers_equal_the_serial_ones():
    net = random_network(4, [5, 5], 8)
    points = np.random.default_rng(1).uniform(-1, 1, size=(5, 4))
    serial = count_local(net, points, 0.3, clip=(-1, 1))
    parallel = count_local(net, points, 0.3, clip=(-1, 1), jobs=2)
    assert parallel.regions.tolist() == serial.regions.tolist()


def test_local_refuses_points_of_another_dimension():
    net = random_network(3, [2], 0)
    with pytest.raises(ValueError, match="points"):
        count_local(net, np.zeros((2, 4)), 0.1)


def test_local_command_prints_json_writes_csv_and_histogram(tmp_path):
    net = random_network(3, [5, 3], 2)
    net.save(tmp_path / "model.npz")
    points = np.random.default_rng(2).uniform(0, 1, size=(4, 3))
    np.save(tmp_path / "x.npy", points)
    command = [sys.executable, "-m", "pyregions.cli", "local", "model.npz", "--points", "x.npy",
               "--radius", "0.1"]
    done = subprocess.run([*command, "--json", "--histogram", "h.png"], capture_output=True,
                          text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["regions"] == [count_regions(net, Box.around(x, 0.1)).regions for x in points]
    assert printed["complete"] and (tmp_path / "h.png").stat().st_size > 1000
    done = subprocess.run([*command, "--csv", "c.csv"], capture_output=True, text=True, cwd=tmp_path,
                          check=False)
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0] == "point,regions,complete" and len(rows) == 5
    assert [int(row.split(",")[1]) for row in rows[1:]] == printed["regions"]


def test_local_command_bad_points_is_one_line_and_code_2(tmp_path):
    random_network(3, [2], 0).save(tmp_path / "model.npz")
    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    done = subprocess.run(
        [sys.executable, "-m", "pyregions.cli", "local", "model.npz", "--points", "x.npy", "--radius", "0.1"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "pyregions: error: x.npy: expected an array of shape (n_points, 3), got (2, 4)"
    ]
