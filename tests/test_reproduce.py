"""Tests of the MNIST experiment runner and its command line, on tiny runs."""

from __future__ import annotations

import csv
import dataclasses
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

from pyregions import (
    Box,
    CheckpointError,
    Network,
    ShapeError,
    bounds,
    cli,
    count_regions,
)
from pyregions.paper import reproduce
from pyregions.reproduce import COLUMNS, reproduce_serra2018
from pyregions.training import error_rate

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
TINY = {"configurations": [(1, 2), (2, 1)], "seeds": [0, 1], "epochs": 1}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    """A small synthetic 784-input, 10-class dataset."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(240, 784))
    y = rng.integers(10, size=240)
    return x[:200], y[:200], x[200:], y[200:]


def run(out, data, **options):
    return reproduce_serra2018(out, progress=False, data=data, **{**TINY, **options})


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def forbid(monkeypatch, *names):
    def fail(*args, **kwargs):
        raise AssertionError("a finished network was trained or counted again")

    for name in names:
        monkeypatch.setattr(reproduce, name, fail)


def test_tiny_run_writes_rows_networks_and_figures(tmp_path, data):
    done = run(tmp_path, data)
    assert (done.counted, done.reused) == (4, 0)
    columns, rows = read_rows(tmp_path / "results.csv")
    assert columns == list(COLUMNS)
    assert [(r["n1"], r["n2"], r["seed"]) for r in rows] == [
        ("1", "2", "0"), ("1", "2", "1"), ("2", "1", "0"), ("2", "1", "1"),
    ]
    for row in rows:
        assert row["network"] == f"networks/n1-{row['n1']}_seed-{row['seed']}.npz"
        network = Network.load(tmp_path / row["network"])
        widths = (int(row["n1"]), int(row["n2"]))
        assert network.widths == widths
        recount = count_regions(network, Box(0, 1))
        assert (int(row["regions"]), int(row["thin"])) == (recount.regions, recount.thin)
        assert float(row["test_error"]) == error_rate(network, data[2], data[3])
        assert float(row["train_error"]) == error_rate(network, data[0], data[1])
        assert int(row["serra2018"]) == bounds.serra2018(784, widths)
        assert int(row["montufar2017"]) == bounds.montufar2017(784, widths)
        assert int(row["trivial"]) == bounds.trivial(widths) == 8
        assert float(row["seconds"]) > 0
    assert done.figures == (tmp_path / "regions_vs_bounds.png", tmp_path / "error_vs_regions.png")
    for figure in done.figures:
        assert figure.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "SUMMARY.md", "error_vs_regions.png", "networks", "regions_vs_bounds.png", "results.csv",
        "run.json", "runs.csv",
    ]
    assert sorted(p.suffix for p in (tmp_path / "networks").iterdir()) == [".npz"] * 4
    assert [r["regions"] for r in done.rows] == [int(r["regions"]) for r in rows]


def test_second_run_redoes_nothing(tmp_path, data, monkeypatch):
    run(tmp_path, data)
    before = (tmp_path / "results.csv").read_bytes()
    forbid(monkeypatch, "count_regions", "train_relu_network")
    done = run(tmp_path, data)
    assert (done.counted, done.reused) == (0, 4)
    assert (tmp_path / "results.csv").read_bytes() == before


def test_interrupted_run_resumes_without_retraining(tmp_path, data, monkeypatch):
    real_count = reproduce.count_regions
    calls = []

    def interrupted_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_count(*args, **kwargs)

    monkeypatch.setattr(reproduce, "count_regions", interrupted_third)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, data)
    columns, rows = read_rows(tmp_path / "results.csv")
    assert columns == list(COLUMNS) and len(rows) == 2
    assert not list(tmp_path.glob("**/*.partial"))
    # The third network was saved before its count began: it is loaded.
    assert (tmp_path / "networks" / "n1-2_seed-0.npz").is_file()
    monkeypatch.setattr(reproduce, "count_regions", real_count)
    forbid(monkeypatch, "train_relu_network")
    done = run(tmp_path, data, configurations=[(2, 1)], seeds=[0])
    assert (done.counted, done.reused) == (1, 0)
    monkeypatch.undo()
    done = run(tmp_path, data)
    assert (done.counted, done.reused) == (1, 3)
    assert len(read_rows(tmp_path / "results.csv")[1]) == 4


def test_an_incomplete_count_writes_no_row_and_resumes(tmp_path, data, monkeypatch):
    real_count = reproduce.count_regions

    def incomplete(*args, **kwargs):
        return dataclasses.replace(real_count(*args, **kwargs), complete=False)

    monkeypatch.setattr(reproduce, "count_regions", incomplete)
    monkeypatch.setattr(reproduce, "CHECKPOINT_MIN_BOUND", 0)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, data)
    assert not (tmp_path / "results.csv").exists()
    checkpoint = tmp_path / "networks" / "n1-1_seed-0.checkpoint"
    assert checkpoint.is_file()
    monkeypatch.setattr(reproduce, "count_regions", real_count)
    done = run(tmp_path, data)
    assert done.counted == 4
    network = Network.load(tmp_path / "networks" / "n1-1_seed-0.npz")
    assert done.rows[0]["regions"] == count_regions(network, Box(0, 1)).regions
    assert not list(tmp_path.glob("networks/*.checkpoint"))


def test_a_row_whose_network_is_missing_is_redone(tmp_path, data):
    run(tmp_path, data)
    (tmp_path / "networks" / "n1-1_seed-1.npz").unlink()
    done = run(tmp_path, data)
    assert (done.counted, done.reused) == (1, 3)
    assert (tmp_path / "networks" / "n1-1_seed-1.npz").is_file()


def test_other_settings_in_the_directory_are_refused(tmp_path, data):
    run(tmp_path, data, configurations=[(1, 2)], seeds=[0])
    with pytest.raises(CheckpointError, match=r"made with \{'epochs': 1, 'tol': [0-9.e-]+\}, not \{'epochs': 2, 'tol'"):
        run(tmp_path, data, configurations=[(1, 2)], seeds=[0], epochs=2)


def test_a_foreign_results_file_is_refused(tmp_path, data):
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CheckpointError, match="expected columns n1, n2, seed"):
        run(tmp_path, data)


def test_a_corrupt_row_is_refused(tmp_path, data):
    run(tmp_path, data, configurations=[(1, 2)], seeds=[0])
    path = tmp_path / "results.csv"
    path.write_text(path.read_text().replace(",networks/", ",x,networks/"))
    with pytest.raises(CheckpointError, match="line 2: not a valid row"):
        run(tmp_path, data)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"configurations": [(1, 2, 3)]}, ValueError, r"configurations\[0\] must be a pair"),
        ({"configurations": [(0, 2)]}, ValueError, r"configurations\[0\]\[0\] must be >= 1"),
        ({"configurations": [(1, 2), (1, 3)]}, ValueError, "must have distinct n1"),
        ({"configurations": []}, ValueError, "configurations must not be empty"),
        ({"seeds": [-1]}, ValueError, r"seeds\[0\] must be >= 0"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"jobs": 0}, ValueError, "jobs must be >= 1"),
    ],
)
def test_bad_options_are_refused(tmp_path, data, options, error, match):
    with pytest.raises(error, match=match):
        run(tmp_path, data, **options)


def test_data_must_have_784_inputs(tmp_path, data):
    with pytest.raises(ShapeError, match=r"x_train must have shape \(n_samples, 784\)"):
        run(tmp_path, (data[0][:, :10], *data[1:]))
    with pytest.raises(ValueError, match="got 2 items"):
        run(tmp_path, data[:2])


def test_quick_plan_is_a_subset_of_the_paper():
    assert all(n1 + n2 == 22 for n1, n2 in reproduce.QUICK_CONFIGURATIONS)
    assert set(reproduce.QUICK_CONFIGURATIONS) <= set(reproduce.CONFIGURATIONS)
    assert len(reproduce.CONFIGURATIONS) == 21 and len(reproduce.SEEDS) == 10


def test_progress_lines_go_to_stderr(tmp_path, data, capsys):
    reproduce_serra2018(tmp_path, data=data, **{**TINY, "seeds": [0]})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "[1/2] 784-1-2-10 seed 0: training and counting" in captured.err
    assert "784-2-1-10 seed 0: " in captured.err and " regions in " in captured.err


def one_unit_regions(net):
    """Regions over [0, 1]^784 of a network with one first-layer ReLU h: one
    where h is inactive (every later unit constant), and on the segment of
    h > 0 one piece more than the second-layer units crossing 0 inside it."""
    (w,), (b,) = net.layers[0].weights, net.layers[0].bias
    low, high = b + np.minimum(w, 0).sum(), b + np.maximum(w, 0).sum()
    v, c = net.layers[1].weights[:, 0], net.layers[1].bias
    moving = v != 0
    crossings = np.unique(-c[moving] / v[moving])
    inside = crossings[(crossings > max(low, 0.0)) & (crossings < high)]
    return int(low < 0) + (1 + len(inside) if high > 0 else 0)


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST not found at {MNIST_DIR}")
def test_real_mnist_one_network(tmp_path):
    done = reproduce_serra2018(
        tmp_path, progress=False, data_path=MNIST_DIR,
        configurations=[(1, 21)], seeds=[0], epochs=1,
    )
    (row,) = done.rows
    net = Network.load(tmp_path / reproduce.NETWORKS_DIR / "n1-1_seed-0.npz")
    assert row["regions"] == one_unit_regions(net) and row["serra2018"] == 23
    assert row["test_error"] < 0.8


def test_cli_passes_its_options(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake(out, **options):
        seen.update(options, out=out)
        return reproduce.Reproduction(Path(out) / "results.csv", (Path(out) / "a.png",), (), 3, 2)

    monkeypatch.setattr("pyregions.cli.commands.reproduce_serra2018", fake)
    argv = ["reproduce", "serra2018", "--quick", "--out", str(tmp_path), "--jobs", "2",
            "--no-progress", "--data", "/data"]
    assert cli.main(argv) == 0
    assert seen == {"out": str(tmp_path), "quick": True, "jobs": 2, "progress": False,
                    "data_path": "/data", "executor": None}
    out = capsys.readouterr().out
    assert "3 networks counted, 2 already done" in out and "a.png" in out
    assert cli.main(["reproduce", "serra2018"]) == 0
    assert seen["out"] == "serra2018" and seen["quick"] is False and seen["progress"] is True


def test_cli_interrupt_and_errors(tmp_path, monkeypatch, capsys):
    def interrupted(out, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr("pyregions.cli.commands.reproduce_serra2018", interrupted)
    assert cli.main(["reproduce", "serra2018", "--quick"]) == cli.EXIT_INTERRUPTED
    assert "rerun the same command to resume from serra2018-quick" in capsys.readouterr().err
    assert cli.main(["reproduce", "serra2019"]) == 2
    assert "invalid choice: 'serra2019'" in capsys.readouterr().err
    monkeypatch.undo()
    (tmp_path / "results.csv").write_text("a\n")
    assert cli.main(["reproduce", "serra2018", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyregions: error: ") and "expected columns" in err
    assert len(err.splitlines()) == 1


def _without_seconds(rows):
    return [{name: value for name, value in row.items() if name != "seconds"} for row in rows]


def test_networks_on_two_processes_give_the_serial_results(tmp_path, data):
    serial = run(tmp_path / "serial", data, configurations=[(1, 2), (2, 1), (3, 1)])
    parallel = run(tmp_path / "parallel", data, configurations=[(1, 2), (2, 1), (3, 1)], jobs=2)
    assert parallel.counted == 6
    assert _without_seconds(parallel.rows) == _without_seconds(serial.rows)
    for row in serial.rows:
        a = Network.load(tmp_path / "serial" / row["network"])
        b = Network.load(tmp_path / "parallel" / row["network"])
        for x, y in zip(a.layers, b.layers):
            np.testing.assert_array_equal(x.weights, y.weights)


def test_an_interrupted_parallel_run_resumes_without_recounting(tmp_path, data, monkeypatch):
    original = reproduce._run_one
    started = []

    def interrupted_at_the_third(out, key, *args):
        started.append(key)
        if len(started) == 3:
            raise KeyboardInterrupt
        return original(out, key, *args)

    monkeypatch.setattr(reproduce, "_run_one", interrupted_at_the_third)
    with ThreadPoolExecutor(1) as pool, pytest.raises(KeyboardInterrupt):
        run(tmp_path, data, executor=pool)
    monkeypatch.setattr(reproduce, "_run_one", original)
    rows = read_rows(tmp_path / "results.csv")[1]
    done_before = {(int(r["n1"]), int(r["n2"]), int(r["seed"])) for r in rows}
    assert done_before == set(started[:2])  # the largest networks first: n1 = 2
    counted = []
    monkeypatch.setattr(reproduce, "_run_one", lambda out, key, *args: counted.append(key) or original(out, key, *args))
    with ThreadPoolExecutor(2) as pool:
        resumed = run(tmp_path, data, executor=pool)
    assert (resumed.counted, resumed.reused) == (2, 2)
    assert not done_before & set(counted)


def test_a_lost_worker_loses_no_network(tmp_path, data, monkeypatch):
    original = reproduce._run_one
    lost = set()

    def lost_once(out, key, *args):
        if key not in lost:
            lost.add(key)
            raise RuntimeError("worker lost")
        return original(out, key, *args)

    monkeypatch.setattr(reproduce, "_run_one", lost_once)
    with ThreadPoolExecutor(2) as pool:
        done = run(tmp_path, data, executor=pool)
    assert done.counted == 4 and len(lost) == 4
    serial = run(tmp_path / "serial", data)
    assert _without_seconds(done.rows) == _without_seconds(serial.rows)


def test_the_summary_tabulates_every_configuration_and_logs_every_run(tmp_path, data, monkeypatch):
    done = run(tmp_path, data, seeds=[0])
    original = reproduce._run_one
    monkeypatch.setattr(reproduce, "_run_one", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, data, seeds=[0, 1])
    monkeypatch.setattr(reproduce, "_run_one", original)
    run(tmp_path, data, seeds=[0, 1])
    summary = (tmp_path / "SUMMARY.md").read_text()
    assert "**4 of 4 networks counted.**" in summary
    for n1, n2 in [(1, 2), (2, 1)]:
        rows = [
            r for r in read_rows(tmp_path / "results.csv")[1] if (int(r["n1"]), int(r["n2"])) == (n1, n2)
        ]
        group = [int(r["regions"]) for r in rows]
        mean = f"{np.mean(group):,.0f}"
        (line,) = [line for line in summary.splitlines() if line.startswith(f"| {n1}-{n2} |")]
        assert line.startswith(f"| {n1}-{n2} | 2 | {mean} | {min(group):,} | {max(group):,} |")
        rate = sum(group) / sum(float(r["seconds"]) for r in rows)
        assert line.endswith(f"| {rate:,.0f} |")
    runs = read_rows(tmp_path / "runs.csv")[1]
    assert [int(r["counted"]) for r in runs] == [done.counted, 0, 2]
    assert all(float(r["wall_seconds"]) > 0 and float(r["cpu_seconds"]) > 0 for r in runs[::2])
    assert "3 run(s)" in summary


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([1, 2, 3, 4], [10, 20, 30, 40], 1.0), ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
     ([1, 2, 2, 3], [1, 3, 2, 4], 3 / np.sqrt(10)), ([1, 2], [2, 1], float("nan"))],
)
def test_spearman_against_hand_computed_values(a, b, expected):
    from pyregions.paper.report import spearman

    np.testing.assert_allclose(spearman(a, b), expected)


def test_a_broken_local_pool_is_replaced_and_loses_no_network(tmp_path, data, monkeypatch):
    pools = []

    class FirstPoolBreaks(ThreadPoolExecutor):
        def __init__(self, jobs):
            super().__init__(jobs)
            pools.append(self)

        def submit(self, fn, *args):
            if self is pools[0]:
                lost = Future()
                lost.set_exception(BrokenProcessPool("a worker died"))
                return lost
            return super().submit(fn, *args)

    monkeypatch.setattr(reproduce, "WorkerPool", FirstPoolBreaks)
    done = run(tmp_path, data, jobs=2)
    assert done.counted == 4 and len(pools) == 2
    assert _without_seconds(done.rows) == _without_seconds(run(tmp_path / "serial", data).rows)
