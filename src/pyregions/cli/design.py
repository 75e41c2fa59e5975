"""The ``design`` command: a ranking of architectures by their bounds, as a
table, JSON or a figure."""

from __future__ import annotations

import itertools
import json

from .. import bounds, plots
from .parser import UsageError


def run_design(args) -> None:
    if len(args.inputs) > 1 and (args.plot is None or args.json):
        msg = (f"--inputs {','.join(map(str, args.inputs))}: the ranking takes one input "
               "dimension; a comma list only with --plot and without --json")
        raise UsageError(msg)
    # The figure first, so that a bad --plot fails before anything is printed.
    if args.plot is not None:
        deepest = args.depth or args.max_depth
        try:
            written = plots.design_figure(
                args.inputs, args.units, args.plot, bound=args.bound,
                **({"max_depth": deepest} if deepest else {}),
            )
        except ImportError as err:
            raise UsageError(str(err)) from err
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
