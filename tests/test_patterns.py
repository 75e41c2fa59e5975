"""Patterns streamed to disk: the same regions as in memory, each once, in any mode."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pyregions import (
    Box,
    Network,
    PatternFileError,
    count_regions,
    read_patterns,
)
from pyregions.counting.results import Found

from .reference import random_network
from .tuning import tune

NET = random_network(4, [7, 6], 5)
BOX = Box(-1, 1)


@pytest.fixture(scope="module")
def serial():
    result = count_regions(NET, BOX, return_patterns=True, seed=0)
    assert result.complete and result.regions > 50
    return result.unpacked_patterns()


def _rows(patterns: np.ndarray) -> list[tuple]:
    return sorted(map(tuple, patterns.astype(np.int8).tolist()))


def test_a_serial_count_writes_the_patterns_it_keeps_in_memory(tmp_path, serial):
    path = tmp_path / "p.bin"
    result = count_regions(NET, BOX, patterns=path, seed=0)
    assert result.patterns is None and result.regions == len(serial)
    np.testing.assert_array_equal(read_patterns(path), serial)


def test_subtrees_on_an_executor_write_each_pattern_once(tmp_path, serial, monkeypatch):
    tune(monkeypatch, split_nodes=20)
    path = tmp_path / "p.bin"
    with ThreadPoolExecutor(2) as pool:
        result = count_regions(NET, BOX, patterns=path, executor=pool, jobs=2)
    written = read_patterns(path)
    assert result.complete and result.regions == len(serial) == len(written)
    assert _rows(written) == _rows(serial)


def test_local_processes_write_each_pattern_once(tmp_path, serial):
    path = tmp_path / "p.bin"
    result = count_regions(NET, BOX, patterns=path, jobs=2)
    assert result.complete and _rows(read_patterns(path)) == _rows(serial)


def test_a_resumed_count_cuts_the_file_back_to_its_finished_subtrees(tmp_path, serial, monkeypatch):
    """An interrupt in the middle of a subtree leaves its first patterns in
    the file; the resumed count must not write them twice."""
    path, checkpoint = tmp_path / "p.bin", tmp_path / "c.ckpt"
    tune(monkeypatch, compiled_search=False)  # the Python search adds rows one by one
    tune(monkeypatch, checkpoint_subtrees=4)  # subtrees of several regions
    original = Found.add
    calls = {"n": 0}

    def interrupted(self, patterns):
        calls["n"] += self.writer is not None  # not the frontier's search
        if calls["n"] == len(serial) // 2:
            raise KeyboardInterrupt
        original(self, patterns)

    monkeypatch.setattr(Found, "add", interrupted)
    partial = count_regions(NET, BOX, patterns=path, checkpoint=checkpoint)
    monkeypatch.setattr(Found, "add", original)
    assert not partial.complete and 0 < partial.regions < len(serial)
    assert len(read_patterns(path)) == partial.regions
    with np.load(checkpoint) as saved:
        assert 0 < int(saved["counts"].sum()) < partial.regions  # a subtree was cut midway
    resumed = count_regions(NET, BOX, patterns=path, checkpoint=checkpoint)
    assert resumed.complete and resumed.regions == len(serial)
    assert _rows(read_patterns(path)) == _rows(serial)


def test_maxout_states_are_written_unpacked(tmp_path):
    rng = np.random.default_rng(3)
    net = Network([rng.normal(size=(3, 3, 2))], [rng.normal(size=(3, 3))])
    expected = count_regions(net, BOX, return_patterns=True).unpacked_patterns()
    path = tmp_path / "p.bin"
    count_regions(net, BOX, patterns=path)
    written = read_patterns(path)
    assert written.dtype == np.int8 and _rows(written) == _rows(expected)


def test_a_slice_writes_the_network_units_only(tmp_path):
    net = random_network(6, [5, 4], 2)
    points = np.random.default_rng(0).uniform(-1, 1, size=(3, 6))
    expected = count_regions(net, BOX, through=points, return_patterns=True).unpacked_patterns()
    path = tmp_path / "p.bin"
    count_regions(net, BOX, through=points, patterns=path)
    np.testing.assert_array_equal(read_patterns(path), expected)


def test_the_milp_writes_its_patterns_too(tmp_path):
    net = random_network(2, [3, 3], 1)
    expected = count_regions(net, BOX, return_patterns=True).unpacked_patterns()
    path = tmp_path / "p.bin"
    count_regions(net, BOX, method="milp", patterns=path)
    assert _rows(read_patterns(path)) == _rows(expected)


def test_patterns_in_memory_and_on_disk_are_exclusive(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        count_regions(NET, BOX, return_patterns=True, patterns=tmp_path / "p.bin")


def test_a_count_keeping_no_patterns_says_where_to_find_them():
    with pytest.raises(ValueError, match="read_patterns"):
        count_regions(NET, BOX).unpacked_patterns()


def test_bad_pattern_files_are_refused_with_one_message(tmp_path):
    with pytest.raises(PatternFileError, match="cannot read"):
        read_patterns(tmp_path / "missing.bin")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a patterns file at all")
    with pytest.raises(PatternFileError, match="not a pyregions patterns file"):
        read_patterns(garbage)
    path = tmp_path / "p.bin"
    count_regions(NET, BOX, patterns=path)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(PatternFileError, match="truncated"):
        read_patterns(path)
    with pytest.raises(PatternFileError, match="cannot write"):
        count_regions(NET, BOX, patterns=tmp_path / "no" / "such" / "dir.bin")


def test_the_command_line_writes_patterns(tmp_path, serial):
    model, path = tmp_path / "net.npz", tmp_path / "p.bin"
    NET.save(model)
    done = subprocess.run(
        [sys.executable, "-m", "pyregions.cli", "count", str(model), "--box", "-1:1",
         "--patterns", str(path), "--json", "--no-progress"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["regions"] == len(serial)
    assert _rows(read_patterns(path)) == _rows(serial)


def test_a_checkpointed_slice_keeps_its_patterns_in_memory(tmp_path):
    net = random_network(6, [5, 4], 2)
    points = np.random.default_rng(0).uniform(-1, 1, size=(3, 6))
    expected = count_regions(net, BOX, through=points, return_patterns=True).unpacked_patterns()
    counted = count_regions(
        net, BOX, through=points, return_patterns=True, checkpoint=tmp_path / "c.ckpt"
    )
    np.testing.assert_array_equal(counted.unpacked_patterns(), expected)
