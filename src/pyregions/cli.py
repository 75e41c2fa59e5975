"""The ``pyregions`` command line.

``bound`` prints the bounds of an architecture or a model; ``count`` counts
(or estimates) the regions of a network over a box or a slice of it;
``plot`` draws the regions of a slice; ``local`` counts the regions around
each of many points; ``design`` ranks architectures by
their bounds; ``reproduce serra2018`` reruns the paper's MNIST experiment.
Bad input ends with one line on stderr and exit code 2, never a traceback;
an incomplete result is printed, then ends with exit code 3 (a time limit)
or 130 (Ctrl-C).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import bounds, plots
from .counting import (
    COLD_COMPILE_SECONDS,
    DEFAULT_THIN_TOL,
    DEFAULT_TOL,
    METHODS,
    Progress,
    count_regions,
    kernels_compiled,
)
from .domain import Box
from .estimation import DEFAULT_PROBES, EstimateProgress, estimate_regions
from .exceptions import DatasetError, ModelFormatError, PyRegionsError, ShapeError
from .io import load_array
from .local import count_local
from .datasets import mnist_test_images
from .network import Network, example_cnn, example_network
from .reproduce import reproduce_serra2018

# Bundled models and points, by the names the command line takes for files.
EXAMPLE_MODELS = {"mnist-mlp": example_network, "mnist-cnn": example_cnn}
EXAMPLE_IMAGES = "mnist-test-images"
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # stopped by --time-limit; the partial result was printed
EXIT_INTERRUPTED = 130  # the shell's code for a SIGINT
EXIT_BROKEN_PIPE = 141  # the shell's code for a SIGPIPE, as Unix tools end
SCHEDULER_TIMEOUT = 10  # seconds to reach a Dask scheduler before giving up

DESCRIPTION = "Bound and count the linear regions of piecewise-linear (ReLU, maxout) networks."
EPILOG = f"""\
exit codes:
  0    done; the result is complete
  1    an internal error
  {EXIT_USAGE}    bad input or usage: one line on stderr, nothing on stdout
  {EXIT_INCOMPLETE}    stopped by --time-limit: the partial result is printed (complete: false)
  {EXIT_INTERRUPTED}  stopped by Ctrl-C: the partial result is printed (complete: false)
  {EXIT_BROKEN_PIPE}  the reader of the output went away (| head): a quiet stop, as Unix tools
"""


class _UsageError(Exception):
    """Bad input on the command line; its message is the one line shown."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, when it has one worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        shown = action.default not in (None, argparse.SUPPRESS) and action.default is not False
        if shown and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _positive_ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _parse_box(text: str) -> Box:
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return Box(float(low), float(high))
    except ValueError as err:
        detail = f": {err}" if str(err) else ""
        low, comma, high = text.partition(",")
        hint = f"; did you mean --box {low}:{high}?" if comma and not sep else ""
        msg = f"--box expects LO:HI with numbers, got {text!r}{detail}{hint}"
        raise argparse.ArgumentTypeError(msg) from None


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pyregions", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=_HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add_command(name, **kwargs):
        return commands.add_parser(name, formatter_class=_HelpFormatter, epilog=EPILOG, **kwargs)

    bound = add_command("bound", help="bounds on the number of regions of an architecture")
    bound.add_argument(
        "model", nargs="?",
        help="a network file: its architecture, plus the network-aware bound over --box",
    )
    bound.add_argument("--inputs", type=int, help="input dimension n0 (without a model)")
    bound.add_argument("--widths", type=_positive_ints, help="hidden widths n1,n2,... (without a model)")
    bound.add_argument("--maxout-rank", type=int, help="bound a maxout network of this rank")
    _add_box_options(bound)
    bound.add_argument("--json", action="store_true", help="print one JSON object")

    count = add_command("count", help="count the linear regions of a network over a box")
    count.add_argument(
        "model", nargs="?",
        help="network file: .npz (W0, b0, W1, b1, ...), .onnx, or .pt (a saved nn.Sequential), "
        "or a bundled example, mnist-mlp or mnist-cnn; "
        "default: the bundled MNIST example",
    )
    _add_box_options(count)
    count.add_argument("--method", choices=METHODS, default="tree",
                       help="tree: the fast exact search; milp: the paper's MILP, slow, the reference")
    workers = count.add_mutually_exclusive_group()
    workers.add_argument("--jobs", type=int, default=1,
                         help="local worker processes (tree search, or --estimate)")
    workers.add_argument("--scheduler", help="run subtrees on the Dask scheduler at this address")
    count.add_argument("--time-limit", type=float,
                       help=f"stop after this many seconds; print the partial result, exit {EXIT_INCOMPLETE}")
    count.add_argument("--checkpoint", help="keep finished work in this file; rerun to resume")
    count.add_argument("--patterns", metavar="FILE",
                       help="write every region's pattern to FILE (read with pyregions.read_patterns)")
    count.add_argument("--tol", type=float, default=DEFAULT_TOL, help="region margin in input units")
    count.add_argument("--thin-tol", type=float, default=DEFAULT_THIN_TOL,
                       help="report regions with no point this far from their walls as thin")
    count.add_argument("--seed", type=int, default=0,
                       help="seeds the witness points and LPs (the count does not depend on it) "
                       "and the --estimate probes")
    count.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    count.add_argument("--through", metavar="P.npy",
                       help="count in the line or plane through the 2 or 3 points (rows) of P.npy "
                       f"({EXAMPLE_IMAGES}: three bundled MNIST test images)")
    count.add_argument("--estimate", action="store_true",
                       help="estimate the count by random probes instead (Knuth's estimator)")
    count.add_argument("--samples", type=int, default=DEFAULT_PROBES, help="probes for --estimate")
    count.add_argument("--json", action="store_true", help="print one JSON object")

    reproduce = add_command("reproduce", help="rerun an experiment of the paper")
    reproduce.add_argument("experiment", choices=["serra2018"], help="the MNIST experiment")
    reproduce.add_argument("--quick", action="store_true", help="a subset that runs in minutes")
    reproduce.add_argument("--out", help="output directory (default serra2018 or serra2018-quick)")
    workers = reproduce.add_mutually_exclusive_group()
    workers.add_argument("--jobs", type=int, default=1, help="networks trained and counted at once")
    workers.add_argument("--scheduler", help="run the networks on the Dask scheduler at this address")
    reproduce.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    reproduce.add_argument("--data", metavar="DIR",
                           help="directory of the MNIST files (default: $PYREGIONS_DATA, else a "
                           "cache directory, downloading missing files)")

    design = add_command("design", help="rank the ways to split hidden units into layers")
    design.add_argument("--inputs", type=_positive_ints, required=True,
                        help="input dimension n0 (a comma list only with --plot: one curve each)")
    design.add_argument("--units", type=int, required=True, help="total hidden units")
    depth = design.add_mutually_exclusive_group()
    depth.add_argument("--depth", type=int, help="only networks of exactly this many layers")
    depth.add_argument("--max-depth", type=int, help="networks of 1 to this many layers")
    design.add_argument("--bound", choices=bounds.DESIGN_BOUNDS, default="serra2018",
                        help="the bound ranked by: Theorem 1 of Serra et al. 2018, or Montufar 2017")
    design.add_argument("--top", type=int, default=10, help="how many to rank")
    design.add_argument("--json", action="store_true", help="print one JSON object")
    design.add_argument("--plot", metavar="FILE", help="also write the design figure here (.png, .pdf, .svg, ...)")

    plot = add_command(
        "plot", help="draw the linear regions on the plane (or line) through given points",
    )
    plot.add_argument("model", nargs="?", help="network file, as for count; default: the bundled example")
    _add_box_options(plot)
    plot.add_argument("--through", metavar="NPY", required=True,
                      help=".npy of shape (3, n_inputs), points of a plane, or (2, n_inputs), a line "
                      f"({EXAMPLE_IMAGES}: three bundled MNIST test images)")
    plot.add_argument("--out", metavar="FILE", required=True,
                      help="where to write the figure, in the format its suffix names (.png, .pdf, .svg, ...)")
    plot.add_argument("--colour", choices=plots.COLOURS, default="pattern",
                      help="fill by a hash of the activation pattern or by the gradient norm")
    plot.add_argument("--tol", type=float, default=DEFAULT_TOL, help="thinnest region drawn")

    local = add_command("local", help="count the regions in a small box around each of many points")
    local.add_argument("model", nargs="?", help="network file, as for count; default: the bundled example")
    local.add_argument("--points", metavar="X.npy", required=True,
                       help=f".npy of shape (n_points, n_inputs) ({EXAMPLE_IMAGES}: three bundled MNIST test images)")
    local.add_argument("--radius", type=float, required=True, help="L-infinity radius of each box")
    _add_box_options(local)
    local.add_argument("--jobs", type=int, default=1, help="worker processes, one point at a time each")
    local.add_argument("--time-limit", type=float,
                       help=f"stop after this many seconds; print the partial result, exit {EXIT_INCOMPLETE}")
    local.add_argument("--tol", type=float, default=DEFAULT_TOL, help="region margin in input units")
    local.add_argument("--histogram", metavar="FILE", help="write a histogram of the counts here (.png, ...)")
    local.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    output = local.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--csv", metavar="FILE", help="write point, regions, complete rows to FILE")
    return parser


def _add_box_options(parser) -> None:
    domain = parser.add_mutually_exclusive_group()
    domain.add_argument("--box", type=_parse_box, help="input box LO:HI (default 0:1)")
    domain.add_argument("--box-file", help=".npy of shape (2, n_inputs): lower row, upper row")


def _attach_negative_values(argv: list[str]) -> list[str]:
    """Turn ``--box -1:1`` into ``--box=-1:1``: argparse would read ``-1:1``
    as an option, since it only knows plain negative numbers."""
    fixed, i = [], 0
    while i < len(argv):
        if argv[i] == "--box" and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            fixed.append(f"--box={argv[i + 1]}")
            i += 2
        else:
            fixed.append(argv[i])
            i += 1
    return fixed


def _run_bound(args) -> None:
    if args.model is not None:
        network = _load_model(args.model)
        n_inputs, widths, rank = network.n_inputs, network.widths, network.maxout_rank
        found = bounds.all_bounds(n_inputs, widths, maxout_rank=rank)
        if rank is None:
            value = bounds.network_bound(network, _load_box(args))
            found["network"] = bounds.Bound(value, math.log10(value))
    elif args.inputs is None or args.widths is None:
        raise _UsageError("give a MODEL, or --inputs and --widths")
    else:
        n_inputs, widths = args.inputs, args.widths
        found = bounds.all_bounds(n_inputs, widths, maxout_rank=args.maxout_rank)
    if args.json:
        print(json.dumps(_bounds_json(found)))
        return
    print(f"Bounds on the linear regions of {'-'.join(map(str, (n_inputs, *widths)))}")
    _print_bounds(found)


def _bounds_json(found: dict[str, bounds.Bound]) -> dict:
    return {name: {"value": b.value, "log10": b.log10} for name, b in found.items()}


def _print_bounds(found: dict[str, bounds.Bound]) -> None:
    for name, b in found.items():
        shown = str(b.value) if b.value is not None and b.log10 < 30 else f"10^{b.log10:.3f}"
        print(f"  {name:<20} {shown}")


def _load_model(path: str | None) -> Network:
    if path is None:
        return example_network()
    if path in EXAMPLE_MODELS:
        return EXAMPLE_MODELS[path]()
    suffix = Path(path).suffix.lower()
    if suffix not in (".npz", ".onnx", ".pt", ".pth"):
        msg = f"{path}: unknown model type {suffix or '(no suffix)'!r}; expected .npz, .onnx or .pt"
        raise ModelFormatError(msg)
    if not Path(path).is_file():
        msg = f"{path}: No such file; give a network file, or no MODEL for the bundled example"
        raise ModelFormatError(msg)
    if suffix == ".npz":
        return Network.load(path)
    if suffix == ".onnx":
        return Network.from_onnx(path)
    return Network.from_torch(path)


def _load_points(path: str):
    """The points of a ``.npy`` file, or the bundled test images by name."""
    return mnist_test_images() if path == EXAMPLE_IMAGES else load_array(path)


def _load_box(args) -> Box:
    if args.box_file is None:
        return args.box or Box(0.0, 1.0)
    corners = load_array(args.box_file)
    if corners.ndim != 2 or corners.shape[0] != 2:
        msg = f"{args.box_file}: expected an array of shape (2, n_inputs), lower then upper"
        raise ShapeError(msg)
    return Box(corners[0], corners[1])


def _connect(address: str):
    """A Dask client of the scheduler at ``address``, or one clear error."""
    try:
        from distributed import Client
    except ImportError as err:
        msg = "--scheduler needs Dask: pip install 'pyregions[dask]'"
        raise ImportError(msg) from err
    try:
        return Client(address, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        msg = f"cannot reach a Dask scheduler at {address!r} within {SCHEDULER_TIMEOUT} s ({err})"
        raise OSError(msg) from err


class _ProgressBar:
    """A tqdm bar on stderr, shown only on a terminal; closed before results print."""

    def __init__(self, args, **options):
        self.bar = None
        if not args.no_progress and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(file=sys.stderr, dynamic_ncols=True, leave=False, **options)

    def count(self, update: Progress) -> None:
        # The postfix first: update() draws the bar with it.
        self.bar.set_postfix(nodes=update.nodes, lps=update.lp_solves, refresh=False)
        self._advance_to(update.regions)

    def points(self, done: int, total: int) -> None:
        self._advance_to(done)

    def estimate(self, update: EstimateProgress) -> None:
        low, high = update.ci95
        self.bar.set_postfix_str(f"estimate {update.estimate:.4g} (95% CI {low:.4g} to {high:.4g})",
                                 refresh=False)
        self._advance_to(update.samples)

    def _advance_to(self, n: int) -> None:
        # The postfix changes also when the count does not: draw it then too.
        if n == self.bar.n:
            self.bar.refresh()
        else:
            self.bar.update(n - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _say_if_compiling() -> None:
    """Say, before it starts, that a first run compiles the kernels."""
    if not kernels_compiled():
        print(
            f"pyregions: compiling the search kernels, once (about {COLD_COMPILE_SECONDS} s; "
            "later runs load them from the cache)", file=sys.stderr, flush=True,
        )


def _exit_code(complete: bool, started: float, time_limit: float | None) -> int:
    """0 for a complete result; else why it stopped: the time limit, or Ctrl-C
    (counts and estimates end cleanly on both, so only the clock tells)."""
    if complete:
        return 0
    if time_limit is not None and time.perf_counter() - started >= time_limit:
        return EXIT_INCOMPLETE
    return EXIT_INTERRUPTED


def _run_count(args) -> int:
    network = _load_model(args.model)
    box = _load_box(args)
    _say_if_compiling()
    if args.estimate:
        return _run_estimate(args, network, box)
    if args.method != "tree" and (args.jobs != 1 or args.scheduler is not None):
        msg = f"--method {args.method} runs in one process: --jobs and --scheduler are for the tree search"
        raise _UsageError(msg)
    client = None if args.scheduler is None else _connect(args.scheduler)
    jobs = args.jobs if client is None else max(len(client.scheduler_info()["workers"]), 1)
    bar = _ProgressBar(args, unit=" regions")
    started = time.perf_counter()
    try:
        result = count_regions(
            network, box, method=args.method, tol=args.tol, thin_tol=args.thin_tol,
            time_limit=args.time_limit,
            seed=args.seed, jobs=jobs, progress=None if bar.bar is None else bar.count,
            checkpoint=args.checkpoint, patterns=args.patterns,
            executor=None if client is None else client.get_executor(),
            through=None if args.through is None else _load_points(args.through),
        )
    finally:
        bar.close()
        if client is not None:
            client.close()
    code = _exit_code(result.complete, started, args.time_limit)
    found = bounds.all_bounds(network.n_inputs, network.widths, maxout_rank=network.maxout_rank)
    if args.json:
        print(json.dumps({
            "regions": result.regions,
            "complete": result.complete,
            "thin": result.thin,
            "seconds": round(result.seconds, 3),
            "lp_solves": result.lp_solves,
            "method": result.method,
            "bounds": _bounds_json(found),
        }))
        return code
    name = "the bundled example" if args.model is None else args.model
    architecture = "-".join(map(str, (network.n_inputs, *network.widths)))
    state = "" if result.complete else f" (incomplete: a lower bound; {_stop_reason(code)})"
    print(f"{name}: {architecture} network, {network.n_hidden} hidden units "
          f"({result.n_stable} stable over the box)")
    print(f"  regions              {result.regions}{state}")
    print(f"  thin                 {result.thin} (no point {result.thin_tol:g} from their walls; "
          f"margin {result.tol:g})")
    _print_bounds(found)
    print(f"  {result.seconds:.2f} s, {result.lp_solves} solver calls "
          f"({result.lp_solves_per_region:.2f} per region), method {result.method}")
    return code


def _stop_reason(code: int) -> str:
    return "stopped by the time limit" if code == EXIT_INCOMPLETE else "interrupted"


def _run_estimate(args, network: Network, box: Box) -> int:
    refused = [flag for flag, given in (
        (f"--method {args.method}", args.method != "tree"), ("--checkpoint", args.checkpoint is not None),
        ("--scheduler", args.scheduler is not None), ("--patterns", args.patterns is not None),
    ) if given]
    if refused:
        raise _UsageError(f"--estimate does not combine with {', '.join(refused)}")
    bar = _ProgressBar(args, unit=" probes", total=args.samples)
    started = time.perf_counter()
    try:
        result = estimate_regions(
            network, box, samples=args.samples, seed=args.seed, tol=args.tol,
            time_limit=args.time_limit, jobs=args.jobs,
            progress=None if bar.bar is None else bar.estimate,
        )
    finally:
        bar.close()
    complete = result.samples == args.samples
    code = _exit_code(complete, started, args.time_limit)
    found = bounds.all_bounds(network.n_inputs, network.widths, maxout_rank=network.maxout_rank)
    if args.json:
        print(json.dumps({
            "estimate": result.estimate,
            "ci95": list(result.ci95),
            "samples": result.samples,
            "complete": complete,
            "regions_seen": result.regions_seen,
            "seconds": round(result.seconds, 3),
            "lp_solves": result.lp_solves,
            "method": result.method,
            "bounds": _bounds_json(found),
        }))
        return code
    low, high = result.ci95
    state = "" if complete else f" of {args.samples} asked, {_stop_reason(code)}"
    print(f"estimate ~ {result.estimate:.6g} regions (95% CI {low:.6g} to {high:.6g}, "
          f"{result.samples} probes{state}; at least {result.regions_seen} regions seen)")
    _print_bounds(found)
    return code


def _run_reproduce(args) -> int:
    out = args.out or ("serra2018-quick" if args.quick else "serra2018")
    client = None if args.scheduler is None else _connect(args.scheduler)
    try:
        done = reproduce_serra2018(
            out, quick=args.quick, jobs=args.jobs, progress=not args.no_progress,
            data_path=args.data, executor=None if client is None else client.get_executor(),
        )
    except KeyboardInterrupt:
        print(f"pyregions: interrupted; rerun the same command to resume from {out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except DatasetError as err:
        msg = f"{err} (the command line takes the MNIST directory as --data DIR)"
        raise DatasetError(msg) from err
    finally:
        if client is not None:
            client.close()
    print(f"{done.counted} networks counted, {done.reused} already done: {done.results}")
    for figure in done.figures:
        print(f"figure: {figure}")
    return 0


def _run_plot(args) -> None:
    network = _load_model(args.model)
    box = _load_box(args)
    points = _load_points(args.through)
    if points.ndim != 2 or points.shape[0] not in (2, 3) or points.shape[1] != network.n_inputs:
        msg = (f"{args.through}: expected an array of shape (3, {network.n_inputs}) for a plane "
               f"or (2, {network.n_inputs}) for a line, got {points.shape}")
        raise ShapeError(msg)
    _say_if_compiling()
    written = plots.plot_regions(network, box, points, args.out, colour=args.colour, tol=args.tol)
    print(f"Figure written to {written}")


def _run_local(args) -> int:
    network = _load_model(args.model)
    box = _load_box(args)
    lower, upper = box.bounds(network.n_inputs)
    points = _load_points(args.points)
    if points.ndim != 2 or points.shape[1] != network.n_inputs:
        msg = f"{args.points}: expected an array of shape (n_points, {network.n_inputs}), got {points.shape}"
        raise ShapeError(msg)
    _say_if_compiling()
    bar = _ProgressBar(args, unit=" points", total=points.shape[0])
    started = time.perf_counter()
    try:
        result = count_local(
            network, points, args.radius, clip=(lower, upper), tol=args.tol, jobs=args.jobs,
            time_limit=args.time_limit, progress=None if bar.bar is None else bar.points,
        )
    finally:
        bar.close()
    code = _exit_code(result.all_complete, started, args.time_limit)
    counted = result.regions[result.regions >= 0]
    if args.histogram is not None:
        plots.plot_local_counts(result.regions, result.radius, args.histogram)
    if args.csv is not None:
        rows = "".join(f"{i},{n},{str(done).lower()}\n"
                       for i, (n, done) in enumerate(zip(result.regions, result.complete)))
        Path(args.csv).write_text("point,regions,complete\n" + rows)
    if args.json:
        print(json.dumps({
            "radius": result.radius, "regions": result.regions.tolist(),
            "complete": result.all_complete, "seconds": round(result.seconds, 3),
            "lp_solves": result.lp_solves,
        }))
        return code
    state = "" if result.all_complete else f" (incomplete: {_stop_reason(code)})"
    print(f"{counted.size} of {points.shape[0]} points counted, radius {result.radius:g}{state}")
    if counted.size:
        print(f"  regions: mean {counted.mean():.2f}, median {np.median(counted):g}, "
              f"min {counted.min()}, max {counted.max()}")
    print(f"  {result.seconds:.2f} s, {result.lp_solves} solver calls")
    for written in (args.histogram, args.csv):
        if written is not None:
            print(f"written: {written}")
    return code


def _run_design(args) -> None:
    if len(args.inputs) > 1 and (args.plot is None or args.json):
        msg = (f"--inputs {','.join(map(str, args.inputs))}: the ranking takes one input "
               "dimension; a comma list only with --plot and without --json")
        raise _UsageError(msg)
    # The figure first, so that a bad --plot fails before anything is printed.
    if args.plot is not None:
        deepest = args.depth or args.max_depth
        try:
            written = plots.design_figure(
                args.inputs, args.units, args.plot, bound=args.bound,
                **({"max_depth": deepest} if deepest else {}),
            )
        except ImportError as err:
            raise _UsageError(str(err)) from err
    if len(args.inputs) == 1:
        _show_design(args.inputs[0], args)
    if args.plot is not None and not args.json:
        print(f"Figure written to {written}")


def _show_design(n_inputs: int, args) -> None:
    ranking = bounds.rank_architectures(
        n_inputs, args.units, depth=args.depth, max_depth=args.max_depth, bound=args.bound,
        top=args.top,
    )
    # Equal widths at each depth asked for, else at each depth ranked.
    if args.depth:
        depths = [args.depth]
    elif args.max_depth:
        depths = range(2, min(args.max_depth, args.units) + 1)
    else:
        depths = sorted({2} | {len(widths) for widths, _ in ranking})
    shallow = (args.units,), bounds.all_bounds(n_inputs, [args.units])[args.bound]
    equal = [
        (widths, bounds.all_bounds(n_inputs, widths)[args.bound])
        for widths in (bounds.even_widths(args.units, d) for d in depths if 2 <= d <= args.units)
    ]
    if args.json:
        def entry(widths, bound):
            shown = {"value": bound.value, "log10": bound.log10}
            return {"widths": list(widths), args.bound: shown}

        print(json.dumps({
            "inputs": n_inputs, "units": args.units, "exact": ranking.exact,
            "n_compositions": ranking.n_compositions,
            "ranking": [entry(*item) for item in ranking],
            "shallow": entry(*shallow), "equal_width": [entry(*item) for item in equal],
        }))
        return
    proof = "proven" if ranking.exact else "best found, not proven: node limit reached"
    print(f"{len(ranking)} best of {ranking.n_compositions:.4g} architectures of {args.units} "
          f"units on {n_inputs} inputs by {args.bound} ({proof})")
    print(f"{'rank':<12}{'depth':>5}  {'log10':>10}  {'bound':<28}widths")
    rows = [(f"{rank}", item) for rank, item in enumerate(ranking, start=1)]
    rows += [("shallow", shallow)] + [("equal width", item) for item in equal]
    shown = _show_counts([bound for _, (_, bound) in rows], args.units)
    for (label, (widths, bound)), count in zip(rows, shown):
        print(f"{label:<12}{len(widths):>5}  {bound.log10:>10.4f}  {count:<28}{_show_widths(widths)}")


def _show_counts(found: list[bounds.Bound], units: int) -> list[str]:
    """The bounds of one table, all in one form: exact when all are short,
    else as distances below 2^units when all those are short (n0 >= units
    puts the best ones there), else as powers of ten."""
    if all(b.value is not None and b.log10 < 25 for b in found):
        return [str(b.value) for b in found]
    gaps = [None if b.value is None else (1 << units) - b.value for b in found]
    if all(gap is not None and gap < 10**15 for gap in gaps):
        return [f"2^{units} - {gap}" if gap else f"2^{units}" for gap in gaps]
    return [f"10^{b.log10:.4f}" for b in found]


def _show_widths(widths: tuple[int, ...]) -> str:
    """n1-n2-..., a run of k >= 4 equal widths w written wxk."""
    parts = []
    for width, run in itertools.groupby(widths):
        count = len(list(run))
        parts += [f"{width}x{count}"] if count >= 4 else [str(width)] * count
    return "-".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    # Exact bounds can have up to bounds.MAX_EXACT_DIGITS digits.
    sys.set_int_max_str_digits(0)
    argv = _attach_negative_values(sys.argv[1:] if argv is None else list(argv))
    commands = {
        "bound": _run_bound, "count": _run_count, "design": _run_design, "plot": _run_plot,
        "reproduce": _run_reproduce, "local": _run_local,
    }
    try:
        args = _build_parser().parse_args(argv)
        code = commands[args.command](args) or 0
        # Flushed here, so that a closed pipe is met here.
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader has gone (``| head``): end quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (_UsageError, PyRegionsError, ValueError, OSError, ImportError) as err:
        print(f"pyregions: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Counts and estimates stop cleanly on Ctrl-C by themselves; this is any other step.
        print("pyregions: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def _one_line(err: BaseException) -> str:
    """The first line of an error's message; an OS error as ``file: reason``."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err).splitlines()[0] if str(err) else type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
