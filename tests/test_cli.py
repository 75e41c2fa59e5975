"""The command line: output formats and one-line errors with exit code 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

from pyregions import Box, Network, bounds, count_regions, estimate_regions
from pyregions.cli import main

from .reference import random_maxout_network, random_network


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "pyregions.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_bound_json_matches_the_library(capsys):
    assert main(["bound", "--inputs", "784", "--widths", "11,11", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["serra2018"]["value"] == bounds.serra2018(784, [11, 11])
    assert set(found) == {"serra2018", "montufar2017", "trivial"}


def test_the_command_line_gives_sigterm_back(tmp_path, capsys):
    # main() takes SIGTERM as Ctrl-C while it runs, and only then: a program
    # calling it, or count_regions after it, keeps its own handler.
    def own(*_):
        pass

    previous = signal.signal(signal.SIGTERM, own)
    try:
        random_network(2, [4, 4], 0).save(tmp_path / "net.npz")
        assert main(["count", str(tmp_path / "net.npz"), "--box", "-1:1", "--json"]) == 0
        assert signal.getsignal(signal.SIGTERM) is own
        count_regions(random_network(2, [4, 4], 0), Box(-1, 1))
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert json.loads(capsys.readouterr().out)["complete"] is True


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
    for method in ("tree", "milp", "milp-resolve"):
        done = run("count", str(tmp_path / "net.npz"), "--box", "-1:1", "--method", method,
                   "--json", "--no-progress")
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)  # nothing else on stdout, not even HiGHS's banner
        assert out["regions"] == count_regions(net, Box(-1, 1)).regions
        assert out["complete"] is True and out["method"] == method
        assert {"regions", "complete", "thin", "seconds", "lp_solves", "method"} <= set(out)
        assert out["thin"] == 0
        assert out["bounds"]["serra2018"]["value"] == bounds.serra2018(2, [4, 3])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bound", "--inputs", "0", "--widths", "3"], "n_inputs must be >= 1"),
        (["bound", "--inputs", "2", "--widths", "3,x"], "comma-separated integers"),
        (["bound", "--inputs", "2", "--widths", "3", "--maxout-rank", "1"], "maxout_rank must be >= 2"),
        (["count", "missing.npz"], "No such file"),
        (["count", "NET", "--box", "0:1", "--box-file", "x.npy"], "not allowed with"),
        (["count", "NET", "--box-file", "missing.npy"], "No such file"),
        (["count", "NET", "--box-file", "CORRUPT"], "not a readable .npy"),
        (["count", "NET", "--box-file", "BOX3"], "dimension 3 but the network has 2"),
        (["count", "NET", "--box-file", "FLAT"], "shape (2, n_inputs)"),
        (["count", "model.h5"], "unknown model type '.h5'"),
        (["count", "NET", "--checkpoint", "CKPT"], "belongs to another"),
        (["count", "NET", "--jobs", "0"], "jobs must be >= 1"),
        (["count", "NET", "--time-limit", "-3"], "time_limit must be a positive"),
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
    np.save(tmp_path / "box3.npy", np.array([[0.0] * 3, [1.0] * 3]))
    np.save(tmp_path / "flat.npy", np.zeros(4))
    other = random_network(2, [4], 1)
    count_regions(other, Box(-1, 1), checkpoint=tmp_path / "other.ckpt")
    names = {
        "NET": "net.npz", "CORRUPT": "corrupt.npz", "BOX3": "box3.npy", "FLAT": "flat.npy",
        "CKPT": "other.ckpt",
    }
    args = [str(tmp_path / names[a]) if a in names else a for a in args]
    done = run(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyregions: error:")
    assert message in lines[0]


@pytest.mark.parametrize("box", [["--box", "-1:1"], ["--box=-1:1"], ["--box-file", "BOX"]])
def test_negative_box_bounds_work_as_typed(tmp_path, box):
    net = random_network(2, [4, 3], 0)
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "box.npy", np.array([[-1.0, -1.0], [1.0, 1.0]]))
    box = [str(tmp_path / "box.npy") if a == "BOX" else a for a in box]
    done = run("count", str(tmp_path / "net.npz"), *box, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["regions"] == count_regions(net, Box(-1, 1)).regions


def test_count_without_model_counts_the_bundled_example_exactly():
    done = run("count", "--json", "--no-progress")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert done.returncode == (0 if out["complete"] else 3), done.stderr
    assert out["bounds"]["serra2018"]["value"] == bounds.serra2018(784, [8, 8])
    assert out["complete"] is True and out["regions"] == 10_481


def test_count_options_reach_the_library(tmp_path, capsys):
    net = random_network(2, [6, 6, 4], 1)  # regions of width 0.05 to 1e-8: --tol changes the count
    net.save(tmp_path / "net.npz")
    thick = count_regions(net, Box(-4, 4), tol=0.05)
    assert thick.regions < count_regions(net, Box(-4, 4)).regions
    argv = ["count", str(tmp_path / "net.npz"), "--box=-4:4", "--tol", "0.05", "--json",
            "--no-progress"]
    assert main([*argv, "--jobs", "2", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complete"] is True and out["regions"] == thick.regions
    assert out["thin"] == 0  # thin_tol (1e-6) is below this tol: nothing is thin


def test_count_table_shows_the_count_beside_the_bounds(tmp_path):
    random_network(2, [4, 3], 0).save(tmp_path / "net.npz")
    done = run("count", str(tmp_path / "net.npz"), "--box", "-1:1")
    assert done.returncode == 0
    assert "regions" in done.stdout and "serra2018" in done.stdout and "trivial" in done.stdout


SLOW = random_network(5, [20, 20], 3)


def start_count(tmp_path, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "pyregions.cli", "count", str(tmp_path / "net.npz"), "--box", "-1:1",
         "--json", "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_a_killed_count_resumes_to_the_uninterrupted_total(tmp_path, checkpoint_killed_after):
    SLOW.save(tmp_path / "net.npz")
    killed, whole = checkpoint_killed_after(SLOW, Box(-1, 1), 3)
    assert whole.regions == count_regions(SLOW, Box(-1, 1)).regions
    with np.load(killed) as data:
        assert len(data["finished"]) == 3
    resumed = run("count", str(tmp_path / "net.npz"), "--box", "-1:1", "--json",
                  "--checkpoint", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["complete"] is True and out["regions"] == whole.regions


def test_torch_and_onnx_models_count_like_their_arrays(tmp_path):
    import torch
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4), torch.nn.ReLU(),
        torch.nn.Linear(4, 3),
    ).double()
    torch.save(module, tmp_path / "net.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(module, torch.zeros(1, 2, dtype=torch.float64), tmp_path / "net.onnx",
                          dynamo=False)
    expected = count_regions(Network.from_torch(module), Box(-1, 1)).regions
    for name in ("net.pt", "net.onnx"):
        done = run("count", str(tmp_path / name), "--box", "-1:1", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["regions"] == expected


def test_unsupported_onnx_operator_is_one_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"], name="squash")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "net.onnx")
    done = run("count", str(tmp_path / "net.onnx"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Sigmoid" in done.stderr


def test_bound_of_a_model_adds_the_network_aware_bound(tmp_path):
    net = random_network(2, [5, 4], 2)
    net.save(tmp_path / "net.npz")
    done = run("bound", str(tmp_path / "net.npz"), "--box", "-0.2:0.2", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    exact = count_regions(net, Box(-0.2, 0.2)).regions
    assert exact <= found["network"]["value"] <= found["serra2018"]["value"]


def test_estimate_is_the_library_estimate_of_its_seed(tmp_path, capsys):
    net = random_network(2, [5, 4], 2)
    net.save(tmp_path / "net.npz")
    exact = count_regions(net, Box(-1, 1)).regions
    estimates = {}
    for seed in (1, 2):
        argv = ["count", str(tmp_path / "net.npz"), "--box=-1:1", "--estimate", "--samples", "400",
                "--seed", str(seed), "--json"]
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        library = estimate_regions(net, Box(-1, 1), samples=400, seed=seed)
        assert out["estimate"] == library.estimate and out["ci95"] == list(library.ci95)
        assert out["samples"] == 400 and out["regions_seen"] == library.regions_seen <= exact
        low, high = out["ci95"]
        assert low <= exact <= high  # for these seeds; the interval is 95%
        estimates[seed] = out["estimate"]
    assert estimates[1] != estimates[2]


def test_bound_of_a_maxout_model_is_the_maxout_bound(tmp_path, capsys):
    random_maxout_network(3, [4, 3], 3, 0).save(tmp_path / "maxout.npz")
    assert main(["bound", str(tmp_path / "maxout.npz"), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert set(found) == {"maxout"}
    assert found["maxout"]["value"] == bounds.maxout(3, [4, 3], 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bound"], "give a MODEL, or --inputs and --widths"),
        (["count", "NET", "--estimate", "--method", "milp"], "does not combine with --method milp"),
        (["count", "NET", "--estimate", "--method", "milp-resolve"], "does not combine with --method milp-resolve"),
        (["count", "NET", "--estimate", "--checkpoint", "x.ckpt"], "does not combine with --checkpoint"),
        (["count", "NET", "--estimate", "--scheduler", "tcp://127.0.0.1:9"],
         "does not combine with --scheduler"),
    ],
)
def test_bad_bound_and_estimate_requests(tmp_path, args, message):
    random_network(2, [3], 0).save(tmp_path / "net.npz")
    done = run(*[str(tmp_path / "net.npz") if a == "NET" else a for a in args])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_count_through_points_of_a_file(tmp_path):
    net = random_network(4, [5, 4], 3)
    net.save(tmp_path / "net.npz")
    points = np.random.default_rng(0).uniform(-1, 1, size=(3, 4))
    np.save(tmp_path / "p.npy", points)
    done = run("count", str(tmp_path / "net.npz"), "--box", "-1:1", "--through",
               str(tmp_path / "p.npy"), "--json")
    assert done.returncode == 0, done.stderr
    expected = count_regions(net, Box(-1, 1), through=points).regions
    assert json.loads(done.stdout)["regions"] == expected
    np.save(tmp_path / "bad.npy", points[:1])
    done = run("count", str(tmp_path / "net.npz"), "--through", str(tmp_path / "bad.npy"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "2 points" in done.stderr
