"""A first run, with Numba's cache cold, says at once that it compiles."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pyregions import Box, count_regions
from pyregions.counting import kernels_compiled

from .reference import random_network

NOTICE = "pyregions: compiling the search kernels, once"


@pytest.fixture(scope="module")
def warm():
    # A count leaves its kernels in the default cache: three inputs take
    # the LP search, two the polygon search.
    for inputs in (3, 2):
        count_regions(random_network(inputs, [4, 4], 0), Box(-1, 1))


def _environment(cache_dir=None) -> dict:
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return env


def _kernels_compiled_in_subprocess(env) -> bool:
    code = "from pyregions.counting import kernels_compiled; print(kernels_compiled())"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip() == "True"


def test_the_kernels_are_compiled_once_a_count_has_run(warm):
    assert kernels_compiled() and kernels_compiled(planar=True)
    assert _kernels_compiled_in_subprocess(_environment())


def test_an_empty_cache_directory_holds_no_compiled_kernels(tmp_path):
    assert not _kernels_compiled_in_subprocess(_environment(tmp_path))


def test_a_cold_count_says_it_compiles_before_it_starts(tmp_path):
    model = tmp_path / "net.npz"
    random_network(3, [4, 4], 0).save(model)
    # Stopped once it has spoken: the compile itself would take half a minute.
    process = subprocess.Popen(
        [sys.executable, "-m", "pyregions.cli", "count", str(model), "--box", "-1:1", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment(tmp_path / "cache"),
    )
    try:
        said = next((line for line in process.stderr if line.startswith("pyregions:")), "")
    finally:
        process.kill()
        process.communicate()
    assert said.startswith(NOTICE) and "s; later runs load them from the cache" in said


@pytest.mark.parametrize("inputs", [3, 2])
def test_a_warm_count_says_nothing_of_compiling(warm, tmp_path, inputs):
    model = tmp_path / "net.npz"
    random_network(inputs, [4, 4], 0).save(model)
    run = subprocess.run(
        [sys.executable, "-m", "pyregions.cli", "count", str(model), "--box", "-1:1", "--no-progress"],
        capture_output=True, text=True, env=_environment(), timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert NOTICE not in run.stderr and "regions" in run.stdout


def test_a_plane_count_warms_what_the_next_one_needs(tmp_path):
    # Only the polygon kernel compiles: the notice must not come back.
    model = tmp_path / "net.npz"
    random_network(2, [4, 4], 0).save(model)
    said = []
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-m", "pyregions.cli", "count", str(model), "--box", "-1:1", "--no-progress"],
            capture_output=True, text=True, env=_environment(tmp_path / "cache"), timeout=300,
        )
        assert run.returncode == 0, run.stderr
        said.append(NOTICE in run.stderr)
    assert said == [True, False]


# Cold counts of the networks saved at argv[1:], in a fresh process that
# prints the module, name and argument types of every function Numba
# compiles for them (Numba's event API).
_COMPILED_FOR_A_COLD_COUNT = """
import sys
from numba.core import event
from pyregions import Box, Network, count_regions

class Listener(event.Listener):
    def on_start(self, ev):
        function = ev.data["dispatcher"].py_func
        print(function.__module__, function.__qualname__, ev.data["args"])
    def on_end(self, ev):
        pass

event.register("numba:compile", Listener())
for path in sys.argv[1:]:
    count_regions(Network.load(path), Box(-1, 1))
"""


def test_a_cold_count_compiles_no_string_code(tmp_path):
    # An array assigned to a slice in a kernel makes Numba compile the string
    # formatting of its shape-mismatch message (CONTRIBUTING.md, a new kernel).
    # Three inputs take the LP search, two the polygon search.
    models = [tmp_path / "net3.npz", tmp_path / "net2.npz"]
    random_network(3, [4, 4], 0).save(models[0])
    random_network(2, [4, 4], 0).save(models[1])
    run = subprocess.run(
        [sys.executable, "-c", _COMPILED_FOR_A_COLD_COUNT, *map(str, models)], capture_output=True,
        text=True, env=_environment(tmp_path / "cache"), timeout=600,
    )
    assert run.returncode == 0, run.stderr
    compiled = run.stdout.splitlines()
    for kernel in ("layer_search search ", "polygon_search search "):
        assert any(kernel in line for line in compiled)
    assert [line for line in compiled if "unicode_type" in line] == []
