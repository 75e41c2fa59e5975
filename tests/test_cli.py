"""The command line: output formats and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pyregions import Box, bounds, count_regions
from pyregions.cli import main

from .reference import random_network


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "pyregions.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_bound_json_matches_the_library(capsys):
    assert main(["bound", "--inputs", "784", "--widths", "11,11", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["serra2018"]["value"] == bounds.serra2018(784, [11, 11])
    assert set(found) == {"serra2018", "montufar2017", "trivial"}


def test_bound_json_is_exact_up_to_10000_digits_then_null(capsys):
    widths = ",".join(["1000"] * 30)
    assert main(["bound", "--inputs", "784", "--widths", widths, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    # Over Python's default limit of 4300 digits for int-to-str, still exact.
    assert 4300 < found["serra2018"]["log10"] < 10_000
    assert found["serra2018"]["value"] == bounds.serra2018(784, [1000] * 30)
    assert main(["bound", "--inputs", "784", "--widths", widths + ",1000" * 10, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["serra2018"]["value"] is None and found["serra2018"]["log10"] > 10_000
    assert found["trivial"]["value"] is None


def test_bound_table_and_maxout(capsys):
    assert main(["bound", "--inputs", "2", "--widths", "8", "--maxout-rank", "3"]) == 0
    out = capsys.readouterr().out
    assert "maxout" in out and str(bounds.maxout(2, [8], 3)) in out


def test_count_json_in_a_subprocess(tmp_path):
    net = random_network(2, [4, 3], 0)
    net.save(tmp_path / "net.npz")
    for method in ("tree", "milp"):
        done = run("count", str(tmp_path / "net.npz"), "--box", "-1:1", "--method", method,
                   "--json", "--no-progress")
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)  # nothing else on stdout, not even HiGHS's banner
        assert out["regions"] == count_regions(net, Box(-1, 1)).regions
        assert out["complete"] is True and out["method"] == method
        assert set(out) == {"regions", "complete", "seconds", "lp_solves", "method"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bound", "--inputs", "0", "--widths", "3"], "n_inputs must be >= 1"),
        (["bound", "--inputs", "2", "--widths", "3,x"], "comma-separated integers"),
        (["bound", "--inputs", "2", "--widths", "3", "--maxout-rank", "1"], "maxout_rank must be >= 2"),
        (["count", "missing.npz"], "No such file"),
        (["count", "NET", "--box", "1:-1"], "lower must be <= upper"),
        (["count", "NET", "--box", "0-1"], "--box expects LO:HI"),
        (["count", "NET", "--method", "simplex"], "invalid choice"),
        (["count", "CORRUPT"], "not a readable .npz network"),
        (["nothing"], "invalid choice"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, args, message):
    random_network(2, [3], 0).save(tmp_path / "net.npz")
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip file")
    args = [a.replace("NET", str(tmp_path / "net.npz")).replace("CORRUPT", str(tmp_path / "corrupt.npz")) for a in args]
    done = run(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyregions: error:")
    assert message in lines[0]
