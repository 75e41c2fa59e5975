"""The command line as a session sees it: Ctrl-C and time limits in every
mode (partial result, exit code), messages that say what to do, a closed
pipe, and the progress shown on a terminal."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import numpy as np
import pytest

from pyregions import Box, Progress, bounds
from pyregions.cli import EXIT_BROKEN_PIPE, EXIT_INCOMPLETE, EXIT_INTERRUPTED
from pyregions.cli.output import ProgressBar
from pyregions.estimation import estimate_regions
from pyregions.reproduce import reproduce_serra2018

from .reference import random_network

# Far more regions than any test waits for.
LONG = random_network(5, [40, 40], 3)
WAIT = 240  # seconds: only a hang reaches this


def pyregions(*args, **options):
    return subprocess.run(
        [sys.executable, "-m", "pyregions.cli", *args], capture_output=True, text=True, check=False,
        timeout=WAIT, **options,
    )


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True, scope="module")
def _ctrl_c_reaches_the_commands():
    # A script's `pytest &` runs with SIGINT ignored, which the commands
    # started here would inherit; a handled signal is reset to its default
    # by exec, as a shell's foreground job has it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    # A failed test leaves no count running to slow the tests after it, and
    # no pipe open to fail them as an unraisable ResourceWarning.
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def start_on_a_terminal(*args, env=None):
    """Start ``pyregions ARGS`` in a process group of its own, as a shell
    does for a foreground job, with stderr on a pseudo-terminal (so that it
    shows progress); return the process and the terminal's reading end."""
    reader, writer = pty.openpty()
    # A terminal of 0 columns would show an empty bar.
    fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "pyregions.cli", *args], stdout=subprocess.PIPE, stderr=writer,
        text=True, start_new_session=True, env=env,
    )
    os.close(writer)
    _started.append(process)
    return process, reader


def wait_for(reader, pattern: str, process) -> re.Match:
    """Read the terminal until ``pattern`` shows; fail if the process ends first."""
    seen = ""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([reader], [], [], 1.0)
        if ready:
            try:
                seen += os.read(reader, 4096).decode(errors="replace")
            except OSError:  # the process closed the terminal
                break
            found = re.search(pattern, seen)
            if found:
                return found
        elif process.poll() is not None:
            break
    pytest.fail(f"{pattern!r} never showed on stderr; it showed {seen[-500:]!r}")


def first_nonzero(reader, process, unit: str) -> int:
    """Wait for a progress bar to show a positive number of ``unit``."""
    found = wait_for(reader, rf"(?:^|[\r\n ])([1-9]\d*) {unit}", process)
    return int(found.group(1))


def _read_until_closed(reader, chunks: list) -> None:
    # The reader is closed here, once every process has let go of the
    # terminal: closed earlier, its number could name the next test's.
    try:
        while chunk := os.read(reader, 4096):
            chunks.append(chunk)
    except OSError:  # the process closed the terminal
        pass
    finally:
        os.close(reader)


def interrupt(process, reader, *, group: bool, number=signal.SIGINT) -> tuple[str, str]:
    """SIGINT (or signal ``number``) to the whole group (Ctrl-C at a
    terminal) or to the main process alone; return stdout and what stderr
    showed after."""
    # Read the terminal meanwhile, as a terminal does: a full one would
    # block the process's last progress reports, and so its exit.
    chunks = []
    reading = threading.Thread(target=_read_until_closed, args=(reader, chunks), daemon=True)
    reading.start()
    if group:
        os.killpg(process.pid, number)
    else:
        process.send_signal(number)
    out, _ = process.communicate(timeout=WAIT)
    reading.join(timeout=10)  # until the workers, which share the terminal, are gone
    shown = b"".join(chunks)
    return out, shown.decode(errors="replace")


@pytest.mark.parametrize(
    ("extra", "group", "number"),
    [
        ([], False, signal.SIGINT), (["--jobs", "2"], True, signal.SIGINT),
        (["--jobs", "2"], False, signal.SIGINT), ([], False, signal.SIGTERM),
        (["--jobs", "2"], False, signal.SIGTERM),
    ],
    ids=["serial", "jobs-ctrl-c", "jobs-sigint-to-main", "serial-sigterm", "jobs-sigterm-to-main"],
)
def test_ctrl_c_prints_the_partial_count_and_exits_130(tmp_path, extra, group, number):
    LONG.save(tmp_path / "net.npz")
    process, reader = start_on_a_terminal(
        "count", str(tmp_path / "net.npz"), "--box", "-1:1", "--json", *extra
    )
    shown = first_nonzero(reader, process, "regions")
    out, err = interrupt(process, reader, group=group, number=number)
    assert process.returncode == EXIT_INTERRUPTED, err
    result = json.loads(out)
    assert result["complete"] is False
    # At least what the bar showed, and a lower bound.
    assert shown <= result["regions"] <= bounds.network_bound(LONG, Box(-1, 1))
    assert "Traceback" not in err


def test_ctrl_c_stops_a_count_on_a_dask_scheduler(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    LONG.save(tmp_path / "net.npz")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
    ) as cluster:
        process, reader = start_on_a_terminal(
            "count", str(tmp_path / "net.npz"), "--box", "-1:1", "--json",
            "--scheduler", cluster.scheduler_address,
        )
        shown = first_nonzero(reader, process, "regions")
        out, err = interrupt(process, reader, group=True)
    assert process.returncode == EXIT_INTERRUPTED, err
    result = json.loads(out)
    assert result["complete"] is False and result["regions"] >= shown
    assert "Traceback" not in err


def test_ctrl_c_keeps_the_checkpoint_and_the_resumed_count_numbers_on(tmp_path):
    LONG.save(tmp_path / "net.npz")
    checkpoint = tmp_path / "run.ckpt"
    args = ("count", str(tmp_path / "net.npz"), "--box", "-1:1", "--json", "--jobs", "2",
            "--checkpoint", str(checkpoint))
    process, reader = start_on_a_terminal(*args)
    first_nonzero(reader, process, "regions")
    out, err = interrupt(process, reader, group=True)
    assert process.returncode == EXIT_INTERRUPTED, err
    with np.load(checkpoint) as saved:
        kept = int(saved["counts"].sum())  # the finished subtrees' regions
    assert kept <= json.loads(out)["regions"]
    # The resumed count's progress starts from the regions kept.
    process, reader = start_on_a_terminal(*args)
    assert first_nonzero(reader, process, "regions") >= kept
    out, err = interrupt(process, reader, group=True)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert json.loads(out)["regions"] >= kept


@pytest.mark.parametrize(
    ("extra", "group"), [([], False), (["--jobs", "2"], True), (["--jobs", "2"], False)],
    ids=["serial", "jobs-ctrl-c", "jobs-sigint-to-main"],
)
def test_ctrl_c_prints_the_estimate_so_far_and_exits_130(tmp_path, extra, group):
    LONG.save(tmp_path / "net.npz")
    process, reader = start_on_a_terminal(
        "count", str(tmp_path / "net.npz"), "--box", "-1:1", "--json", "--estimate",
        "--samples", "1000000", *extra,
    )
    wait_for(reader, r"estimate [0-9.e+]+ \(95% CI", process)
    out, err = interrupt(process, reader, group=group)
    assert process.returncode == EXIT_INTERRUPTED, err
    result = json.loads(out)
    assert result["complete"] is False and 2 <= result["samples"] < 1_000_000
    low, high = result["ci95"]
    assert low <= result["estimate"] <= high and result["regions_seen"] >= 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "extra",
    [["--json"], ["--json", "--jobs", "2"], ["--json", "--estimate", "--samples", "1000000"]],
    ids=["count", "jobs", "estimate"],
)
def test_a_time_limit_prints_the_partial_result_and_exits_3(tmp_path, extra):
    LONG.save(tmp_path / "net.npz")
    done = pyregions("count", str(tmp_path / "net.npz"), "--box", "-1:1", "--time-limit", "1",
                     *extra)
    assert done.returncode == EXIT_INCOMPLETE, done.stderr
    assert json.loads(done.stdout)["complete"] is False


def test_the_table_says_why_a_count_is_incomplete(tmp_path):
    LONG.save(tmp_path / "net.npz")
    done = pyregions("count", str(tmp_path / "net.npz"), "--box", "-1:1", "--time-limit", "1")
    assert done.returncode == EXIT_INCOMPLETE
    assert "(incomplete: a lower bound; stopped by the time limit)" in done.stdout


def test_ctrl_c_stops_reproduce_with_exit_130_and_keeps_its_directory(tmp_path):
    mnist = os.environ.get("PYREGIONS_DATA", "/work/shared/data/mnist")
    if not os.path.isdir(mnist):
        pytest.skip("no MNIST files here")
    out = tmp_path / "run"
    process, reader = start_on_a_terminal(
        "reproduce", "serra2018", "--quick", "--out", str(out), "--data", mnist
    )
    wait_for(reader, r"\[1/12\] 784-\d+-\d+-10 seed \d: training and counting", process)
    _, err = interrupt(process, reader, group=True)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "rerun the same command to resume" in err and "Traceback" not in err
    assert (out / "run.json").is_file()


def test_reproduce_numbers_its_progress_on_after_a_resume(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(120, 784)), rng.integers(10, size=120)
    data = (x[:100], y[:100], x[100:], y[100:])
    options = {"configurations": [(1, 21), (2, 20)], "epochs": 1, "data": data}
    reproduce_serra2018(tmp_path, seeds=[0], **options)
    capsys.readouterr()
    reproduce_serra2018(tmp_path, seeds=[0, 1], **options)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"2 of 4 networks already counted in {tmp_path / 'results.csv'}"
    numbers = [re.match(r"\[(\d)/4\]", line).group(1) for line in lines[1:]]
    assert numbers == ["3", "3", "4", "4"]  # starting, then counted
    assert all("regions/s" in line and "left" in line for line in lines[2::2])


def test_reproduce_without_data_names_the_option_and_leaves_nothing(tmp_path):
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    env = {**os.environ, "PYREGIONS_DATA": str(empty),
           "PYREGIONS_MNIST_MIRROR": "http://127.0.0.1:9/"}  # nothing listens there
    done = pyregions("reproduce", "serra2018", "--quick", "--out", str(tmp_path / "run"), env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--data DIR" in done.stderr
    assert "PYREGIONS_DATA" in done.stderr and "mirror=" not in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "wanted", "unwanted"),
    [
        (["count", "FAKE"], "FAKE: not a readable .npz network (neither an .npy nor an .npz file)",
         "pickle"),
        (["count", "NET", "--checkpoint", "FAKE"], "remove it to count afresh", "pickle"),
        (["count", "NET", "--box-file", "FAKE"], "neither an .npy nor an .npz file", "pickle"),
        (["count", "OBJECTS"], "never loaded", "allow_pickle"),
        (["count", "GONE"], "GONE: No such file; give a network file, or no MODEL", "Errno"),
        (["count", "NET", "--checkpoint", "NODIR"], "NODIR: cannot write the checkpoint there",
         ".partial"),
        (["count", "NET", "--box", "0,1"], "did you mean --box 0:1?", None),
        (["count", "NET", "--method", "milp", "--jobs", "2"], "--method milp runs in one process",
         None),
        (["plot", "NET", "--through", "POINTS", "--out", "x.jpgg"], "unknown image suffix '.jpgg'",
         None),
    ],
)
def test_messages_name_the_file_and_the_fix(tmp_path, args, wanted, unwanted):
    random_network(2, [3], 0).save(tmp_path / "net.npz")
    (tmp_path / "fake.npz").write_text("a text file renamed\n")
    np.savez(tmp_path / "objects.npz", W0=np.array([{}], dtype=object))
    np.save(tmp_path / "points.npy", np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    names = {
        "NET": "net.npz", "FAKE": "fake.npz", "OBJECTS": "objects.npz", "GONE": "gone.npz",
        "NODIR": "missing/run.ckpt", "POINTS": "points.npy",
    }
    paths = {name: str(tmp_path / file) for name, file in names.items()}
    done = pyregions(*[paths.get(a, a) for a in args], cwd=tmp_path)
    wanted = re.sub("|".join(paths), lambda m: paths[m.group(0)], wanted)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and wanted in done.stderr
    assert unwanted is None or unwanted not in done.stderr
    assert not list(tmp_path.glob("*.jpgg"))


def test_plot_writes_the_format_its_suffix_names(tmp_path):
    random_network(2, [3], 0).save(tmp_path / "net.npz")
    np.save(tmp_path / "points.npy", np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    for suffix, magic in ((".pdf", b"%PDF"), (".svg", b"<?xml"), (".png", b"\x89PNG")):
        done = pyregions("plot", str(tmp_path / "net.npz"), "--through", str(tmp_path / "points.npy"),
                         "--out", str(tmp_path / f"regions{suffix}"))
        assert done.returncode == 0, done.stderr
        assert (tmp_path / f"regions{suffix}").read_bytes().startswith(magic)


@pytest.mark.parametrize(
    "args", [["design", "--inputs", "784", "--units", "300"], ["bound", "--inputs", "2", "--widths", "3"]]
)
def test_a_closed_pipe_ends_quietly(args):
    process = subprocess.Popen(
        [sys.executable, "-m", "pyregions.cli", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader has gone before the first line, as `| head -0`
    _, err = process.communicate(timeout=WAIT)
    assert process.returncode == EXIT_BROKEN_PIPE
    assert err == b""


def test_help_shows_defaults_and_exit_codes_without_markup():
    main_help = pyregions("--help").stdout
    assert "``" not in main_help and "exit codes:" in main_help
    for code in (EXIT_INCOMPLETE, EXIT_INTERRUPTED, 2):
        assert re.search(rf"^\s+{code}\s+\S", main_help, re.MULTILINE)
    options = help_of("count")
    for option, default in (("--tol", "1e-08"), ("--samples", "1000"), ("--jobs", "1"),
                            ("--seed", "0"), ("--method", "tree")):
        assert options[option].endswith(f"(default: {default})"), option
    assert "Theorem 1" in help_of("design")["--bound"]


def help_of(command: str) -> dict[str, str]:
    """Each option's help text in ``pyregions COMMAND --help``, on one line."""
    text = next(part for part in pyregions(command, "--help").stdout.split("\n\n")
                if part.startswith("options:"))
    entries = re.split(r"\n  (?=-)", text)
    return {entry.split()[0]: " ".join(entry.split()[2:]) for entry in entries[1:]}


@pytest.mark.parametrize("inputs", ["784", "10", "40"])
def test_the_design_table_shows_every_bound_in_one_form(inputs):
    done = pyregions("design", "--inputs", inputs, "--units", "40", "--max-depth", "6")
    assert done.returncode == 0, done.stderr
    shown = [line[31:59].strip() for line in done.stdout.splitlines()[2:]]
    forms = {"power" if s.startswith("10^") else "gap" if s.startswith("2^") else "exact"
             for s in shown}
    assert len(shown) >= 10 and len(forms) == 1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_tree_bar_shows_the_nodes_and_lps_of_the_same_update(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    class Args:
        no_progress = False

    bar = ProgressBar(Args, unit=" regions", mininterval=0)
    for update in (Progress(10, 20, 30, 1.0), Progress(10, 25, 31, 1.2)):  # no new region
        bar.count(update)
        last = terminal.getvalue().rsplit("\r", 1)[-1]
        assert f"nodes={update.nodes}" in last and f"lps={update.lp_solves}" in last
        assert "10 regions" in last
    bar.close()


def test_estimate_progress_ends_on_the_result(monkeypatch):
    from pyregions import estimation

    monkeypatch.setattr(estimation, "PROGRESS_INTERVAL", 0.0)
    net = random_network(3, [6, 5], 1)
    seen = []
    result = estimate_regions(net, Box(-1, 1), samples=50, seed=3, progress=seen.append)
    assert [update.samples for update in seen] == list(range(2, 51))
    assert seen[-1].estimate == result.estimate and seen[-1].ci95 == result.ci95
