"""What the commands share in showing a result: the progress bar, the
bounds, and the exit code that says how a run ended."""

from __future__ import annotations

import sys
import time

from .. import bounds
from ..counting import COLD_COMPILE_SECONDS, Progress, kernels_compiled
from ..estimation import EstimateProgress

# How a run ended, as the shell sees it; the help's epilog lists them.
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # stopped by --time-limit; the partial result was printed
EXIT_INTERRUPTED = 130  # the shell's code for a SIGINT
EXIT_BROKEN_PIPE = 141  # the shell's code for a SIGPIPE, as Unix tools end


class ProgressBar:
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


def say_if_compiling(*, planar: bool = False) -> None:
    """Say, before it starts, that a first run compiles the kernels (those
    of counts on two free coordinates if ``planar``)."""
    if not kernels_compiled(planar=planar):
        seconds = round(COLD_COMPILE_SECONDS / 5) if planar else COLD_COMPILE_SECONDS
        print(
            f"pyregions: compiling the search kernels, once (about {seconds} s; "
            "later runs load them from the cache)", file=sys.stderr, flush=True,
        )


def exit_code(complete: bool, started: float, time_limit: float | None) -> int:
    """0 for a complete result; else why it stopped: the time limit, or Ctrl-C
    or SIGTERM (counts and estimates end cleanly on each, so only the clock
    tells)."""
    if complete:
        return 0
    if time_limit is not None and time.perf_counter() - started >= time_limit:
        return EXIT_INCOMPLETE
    return EXIT_INTERRUPTED


def stop_reason(code: int) -> str:
    return "stopped by the time limit" if code == EXIT_INCOMPLETE else "interrupted"


def bounds_json(found: dict[str, bounds.Bound]) -> dict:
    return {name: {"value": b.value, "log10": b.log10} for name, b in found.items()}


def print_bounds(found: dict[str, bounds.Bound]) -> None:
    for name, b in found.items():
        shown = str(b.value) if b.value is not None and b.log10 < 30 else f"10^{b.log10:.3f}"
        print(f"  {name:<20} {shown}")
