"""The ``pyregions`` command line.

``pyregions bound`` prints the bounds of an architecture; ``pyregions count``
counts the regions of a saved network over a box.  Bad input ends with one
line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from . import bounds
from .counting import METHODS, Progress, count_regions
from .domain import Box
from .exceptions import PyRegionsError
from .network import Network

EXIT_USAGE = 2


class _UsageError(Exception):
    """Bad input on the command line; its message is the one line shown."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


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
        msg = f"--box expects LO:HI with numbers, got {text!r}{detail}"
        raise argparse.ArgumentTypeError(msg) from None


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pyregions", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    bound = commands.add_parser("bound", help="bounds on the number of regions of an architecture")
    bound.add_argument("--inputs", type=int, required=True, help="input dimension n0")
    bound.add_argument("--widths", type=_positive_ints, required=True, help="hidden widths n1,n2,...")
    bound.add_argument("--maxout-rank", type=int, help="bound a maxout network of this rank")
    bound.add_argument("--json", action="store_true", help="print one JSON object")

    count = commands.add_parser("count", help="count the linear regions of a network over a box")
    count.add_argument("model", help="network saved as .npz (W0, b0, W1, b1, ...)")
    count.add_argument("--box", type=_parse_box, default=Box(0.0, 1.0), help="input box LO:HI (default 0:1)")
    count.add_argument("--method", choices=METHODS, default="tree")
    count.add_argument("--jobs", type=int, default=1, help="worker processes (tree)")
    count.add_argument("--time-limit", type=float, help="stop after this many seconds")
    count.add_argument("--tol", type=float, default=1e-6, help="region margin in input units")
    count.add_argument("--seed", type=int, default=0)
    count.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    count.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


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
    found = bounds.all_bounds(args.inputs, args.widths, maxout_rank=args.maxout_rank)
    if args.json:
        print(json.dumps({name: {"value": b.value, "log10": b.log10} for name, b in found.items()}))
        return
    print(f"Bounds on the linear regions of {args.inputs}-{'-'.join(map(str, args.widths))}")
    for name, b in found.items():
        shown = str(b.value) if b.value is not None and b.log10 < 30 else f"10^{b.log10:.3f}"
        print(f"  {name:<20} {shown}")


def _show_progress(update: Progress) -> None:
    rate = update.regions / max(update.seconds, 1e-9)
    print(
        f"\r{update.regions} regions  {update.nodes} nodes  {rate:,.0f} regions/s  "
        f"{update.seconds:.0f} s",
        end="", file=sys.stderr, flush=True,
    )


def _run_count(args) -> None:
    network = Network.load(args.model)
    show = not args.no_progress and sys.stderr.isatty()
    result = count_regions(
        network, args.box, method=args.method, tol=args.tol, time_limit=args.time_limit,
        seed=args.seed, jobs=args.jobs, progress=_show_progress if show else None,
    )
    if show:
        print(file=sys.stderr)
    summary = {
        "regions": result.regions,
        "complete": result.complete,
        "seconds": round(result.seconds, 3),
        "lp_solves": result.lp_solves,
        "method": result.method,
    }
    if args.json:
        print(json.dumps(summary))
        return
    state = "" if result.complete else " (incomplete: a lower bound)"
    print(f"{result.regions} regions{state} in {result.seconds:.2f} s, "
          f"{result.lp_solves} solver calls, method {result.method}")
    bound = bounds.serra2018(network.n_inputs, network.widths, log10=True)
    print(f"Theorem 1 bound for {network.n_inputs}-{'-'.join(map(str, network.widths))}: "
          f"10^{bound:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    # Exact bounds can have up to bounds.MAX_EXACT_DIGITS digits.
    sys.set_int_max_str_digits(0)
    argv = _attach_negative_values(sys.argv[1:] if argv is None else list(argv))
    try:
        args = _build_parser().parse_args(argv)
        if args.command == "bound":
            _run_bound(args)
        else:
            _run_count(args)
    except (_UsageError, PyRegionsError, ValueError, OSError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"pyregions: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
