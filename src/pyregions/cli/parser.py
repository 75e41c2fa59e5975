"""The parser of the command line: its commands, their options and help."""

from __future__ import annotations

import argparse

from .. import bounds, plots
from ..counting import DEFAULT_THIN_TOL, DEFAULT_TOL, METHODS
from ..domain import Box
from ..estimation import DEFAULT_PROBES
from .inputs import EXAMPLE_IMAGES
from .output import EXIT_BROKEN_PIPE, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_USAGE

DESCRIPTION = "Bound and count the linear regions of piecewise-linear (ReLU, maxout) networks."
EPILOG = f"""\
exit codes:
  0    done; the result is complete
  1    an internal error
  {EXIT_USAGE}    bad input or usage: one line on stderr, nothing on stdout
  {EXIT_INCOMPLETE}    stopped by --time-limit: the partial result is printed (complete: false)
  {EXIT_INTERRUPTED}  stopped by Ctrl-C or SIGTERM: the partial result is printed (complete: false)
  {EXIT_BROKEN_PIPE}  the reader of the output went away (| head): a quiet stop, as Unix tools
"""


class UsageError(Exception):
    """Bad input on the command line; its message is the one line shown."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pyregions", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=_HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, summary, add_options in (
        ("bound", "bounds on the number of regions of an architecture", _add_bound_options),
        ("count", "count the linear regions of a network over a box", _add_count_options),
        ("reproduce", "rerun an experiment of the paper", _add_reproduce_options),
        ("design", "rank the ways to split hidden units into layers", _add_design_options),
        ("plot", "draw the linear regions on the plane (or line) through given points", _add_plot_options),
        ("local", "count the regions in a small box around each of many points", _add_local_options),
    ):
        add_options(commands.add_parser(name, help=summary, formatter_class=_HelpFormatter, epilog=EPILOG))
    return parser


def _add_bound_options(bound) -> None:
    bound.add_argument(
        "model", nargs="?",
        help="a network file: its architecture, plus the network-aware bound over --box",
    )
    bound.add_argument("--inputs", type=int, help="input dimension n0 (without a model)")
    bound.add_argument("--widths", type=_positive_ints, help="hidden widths n1,n2,... (without a model)")
    bound.add_argument("--maxout-rank", type=int, help="bound a maxout network of this rank")
    _add_box_options(bound)
    bound.add_argument("--json", action="store_true", help="print one JSON object")


def _add_count_options(count) -> None:
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


def _add_reproduce_options(reproduce) -> None:
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


def _add_design_options(design) -> None:
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


def _add_plot_options(plot) -> None:
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


def _add_local_options(local) -> None:
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


def _add_box_options(parser) -> None:
    domain = parser.add_mutually_exclusive_group()
    domain.add_argument("--box", type=_parse_box, help="input box LO:HI (default 0:1)")
    domain.add_argument("--box-file", help=".npy of shape (2, n_inputs): lower row, upper row")


def attach_negative_values(argv: list[str]) -> list[str]:
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
