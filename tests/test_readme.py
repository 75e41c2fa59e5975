"""The README runs as written: its API tour, and every command line of its
code blocks (placeholders such as MODEL filled with small files, optional
parts in brackets left out), so that the two cannot drift apart."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyregions.cli.parser import build_parser

from .reference import random_network

README = Path(__file__).resolve().parents[1] / "README.md"
# Placeholders of the command lines, and what a test puts in their place.
FILLED = {"MODEL": "model.npz", "LO:HI": "0:1", "P.npy": "points.npy"}
# Commands too long to run here (hours of counting) or needing a Dask
# cluster: their options are checked by the parser instead.
PARSED_ONLY = ("--scheduler", "reproduce")


def blocks(language: str) -> list[str]:
    """The code blocks opened by ```language (by a bare ``` for "")."""
    found, inside, lines = [], None, []
    for line in README.read_text().splitlines():
        if not line.startswith("```"):
            lines.append(line)
        elif inside is None:
            inside, lines = line[3:].strip(), []
        else:
            if inside == language:
                found.append("\n".join(lines) + "\n")
            inside = None
    return found


def command_lines() -> list[str]:
    """Every ``pyregions`` command of the README's shell blocks, a line
    continued on indented lines joined, comments and ``[...]`` dropped."""
    found = []
    for block in blocks(""):
        lines = []
        for line in block.splitlines():
            if line.startswith(" ") and lines:
                lines[-1] += line
            else:
                lines.append(line)
        for line in lines:
            command = line.split("#")[0].split("&&")[-1].strip()
            if command.startswith("pyregions "):
                while re.search(r"\[[^\[\]]*\]", command):
                    command = re.sub(r"\s*\[[^\[\]]*\]", "", command)
                found.append(command)
    return list(dict.fromkeys(found))


def test_the_readme_has_an_api_tour_and_command_lines():
    assert len(blocks("python")) == 1
    assert len(command_lines()) >= 8


def test_the_api_tour_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="the tour builds a torch network")
    monkeypatch.chdir(tmp_path)
    (tour,) = blocks("python")
    exec(compile(tour, str(README), "exec"), {"__name__": "readme_tour"})  # noqa: S102 (our own README)
    assert Path("model.npz").is_file() and Path("run.pat").is_file()


@pytest.mark.parametrize("command", command_lines())
def test_each_command_line_runs(tmp_path, command):
    random_network(2, [4, 3], 0).save(tmp_path / "model.npz")
    np.save(tmp_path / "points.npy", np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    args = [FILLED.get(word, word) for word in shlex.split(command)[1:]]
    if any(word in args for word in PARSED_ONLY):
        build_parser().parse_args(args)
        return
    done = subprocess.run(
        [sys.executable, "-m", "pyregions.cli", *args], capture_output=True, text=True,
        timeout=600, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout
