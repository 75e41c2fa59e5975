"""The ``pyregions`` command line.

``bound`` prints the bounds of an architecture or a model; ``count`` counts
(or estimates) the regions of a network over a box or a slice of it;
``plot`` draws the regions of a slice; ``local`` counts the regions around
each of many points; ``design`` ranks architectures by
their bounds; ``reproduce serra2018`` reruns the paper's MNIST experiment.
Bad input ends with one line on stderr and exit code 2, never a traceback;
an incomplete result is printed, then ends with exit code 3 (a time limit)
or 130 (Ctrl-C, or SIGTERM to the main process: ``kill PID``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from ..exceptions import PyRegionsError
from .commands import run_bound, run_count, run_local, run_plot, run_reproduce
from .design import run_design
from .output import EXIT_BROKEN_PIPE, EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_USAGE
from .parser import UsageError, attach_negative_values, build_parser

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    # Exact bounds can have up to bounds.MAX_EXACT_DIGITS digits.
    sys.set_int_max_str_digits(0)
    argv = attach_negative_values(sys.argv[1:] if argv is None else list(argv))
    commands = {
        "bound": run_bound, "count": run_count, "design": run_design, "plot": run_plot,
        "reproduce": run_reproduce, "local": run_local,
    }
    on_sigterm = threading.current_thread() is threading.main_thread()
    if on_sigterm:
        # ``kill PID`` ends a command as Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        args = build_parser().parse_args(argv)
        code = commands[args.command](args) or 0
        # Flushed here, so that a closed pipe is met here.
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader has gone (``| head``): end quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (UsageError, PyRegionsError, ValueError, OSError, ImportError) as err:
        print(f"pyregions: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Counts and estimates stop cleanly on Ctrl-C by themselves; this is any other step.
        print("pyregions: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if on_sigterm:
            # None: a handler not set from Python, which the default stands for.
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return code


def _one_line(err: BaseException) -> str:
    """The first line of an error's message; an OS error as ``file: reason``."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err).splitlines()[0] if str(err) else type(err).__name__
