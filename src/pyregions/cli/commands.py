"""The commands that bound, count or draw the regions of one network, and
``reproduce``: each reads its inputs, runs, prints, and returns its exit code."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from .. import bounds, plots
from ..counting import count_regions
from ..domain import Box
from ..estimation import estimate_regions
from ..exceptions import DatasetError, ShapeError
from ..local import count_local
from ..network import Network
from ..reproduce import reproduce_serra2018
from .inputs import connect, load_box, load_model, load_points
from .output import (
    EXIT_INTERRUPTED,
    ProgressBar,
    bounds_json,
    exit_code,
    print_bounds,
    say_if_compiling,
    stop_reason,
)
from .parser import UsageError


def run_bound(args) -> None:
    if args.model is not None:
        network = load_model(args.model)
        n_inputs, widths, rank = network.n_inputs, network.widths, network.maxout_rank
        found = bounds.all_bounds(n_inputs, widths, maxout_rank=rank)
        if rank is None:
            value = bounds.network_bound(network, load_box(args))
            found["network"] = bounds.Bound(value, math.log10(value))
    elif args.inputs is None or args.widths is None:
        raise UsageError("give a MODEL, or --inputs and --widths")
    else:
        n_inputs, widths = args.inputs, args.widths
        found = bounds.all_bounds(n_inputs, widths, maxout_rank=args.maxout_rank)
    if args.json:
        print(json.dumps(bounds_json(found)))
        return
    print(f"Bounds on the linear regions of {'-'.join(map(str, (n_inputs, *widths)))}")
    print_bounds(found)


def run_count(args) -> int:
    network = load_model(args.model)
    box = load_box(args)
    through = None if args.through is None else load_points(args.through)
    free = network.n_inputs if through is None else (through.shape[0] - 1 if through.ndim == 2 else 0)
    say_if_compiling(
        planar=free == 2 and network.maxout_rank is None and args.method == "tree" and not args.estimate
    )
    if args.estimate:
        return _run_estimate(args, network, box)
    if args.method != "tree" and (args.jobs != 1 or args.scheduler is not None):
        msg = f"--method {args.method} runs in one process: --jobs and --scheduler are for the tree search"
        raise UsageError(msg)
    client = None if args.scheduler is None else connect(args.scheduler)
    jobs = args.jobs if client is None else max(len(client.scheduler_info()["workers"]), 1)
    bar = ProgressBar(args, unit=" regions")
    started = time.perf_counter()
    try:
        result = count_regions(
            network, box, method=args.method, tol=args.tol, thin_tol=args.thin_tol,
            time_limit=args.time_limit,
            seed=args.seed, jobs=jobs, progress=None if bar.bar is None else bar.count,
            checkpoint=args.checkpoint, patterns=args.patterns,
            executor=None if client is None else client.get_executor(),
            through=through,
        )
    finally:
        bar.close()
        if client is not None:
            client.close()
    code = exit_code(result.complete, started, args.time_limit)
    found = bounds.all_bounds(network.n_inputs, network.widths, maxout_rank=network.maxout_rank)
    if args.json:
        print(json.dumps({
            "regions": result.regions,
            "complete": result.complete,
            "thin": result.thin,
            "seconds": round(result.seconds, 3),
            "lp_solves": result.lp_solves,
            "method": result.method,
            "bounds": bounds_json(found),
        }))
        return code
    name = "the bundled example" if args.model is None else args.model
    architecture = "-".join(map(str, (network.n_inputs, *network.widths)))
    state = "" if result.complete else f" (incomplete: a lower bound; {stop_reason(code)})"
    print(f"{name}: {architecture} network, {network.n_hidden} hidden units "
          f"({result.n_stable} stable over the box)")
    print(f"  regions              {result.regions}{state}")
    print(f"  thin                 {result.thin} (no point {result.thin_tol:g} from their walls; "
          f"margin {result.tol:g})")
    print_bounds(found)
    print(f"  {result.seconds:.2f} s, {result.lp_solves} solver calls "
          f"({result.lp_solves_per_region:.2f} per region), method {result.method}")
    return code


def _run_estimate(args, network: Network, box: Box) -> int:
    refused = [flag for flag, given in (
        (f"--method {args.method}", args.method != "tree"), ("--checkpoint", args.checkpoint is not None),
        ("--scheduler", args.scheduler is not None), ("--patterns", args.patterns is not None),
    ) if given]
    if refused:
        raise UsageError(f"--estimate does not combine with {', '.join(refused)}")
    bar = ProgressBar(args, unit=" probes", total=args.samples)
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
    code = exit_code(complete, started, args.time_limit)
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
            "bounds": bounds_json(found),
        }))
        return code
    low, high = result.ci95
    state = "" if complete else f" of {args.samples} asked, {stop_reason(code)}"
    print(f"estimate ~ {result.estimate:.6g} regions (95% CI {low:.6g} to {high:.6g}, "
          f"{result.samples} probes{state}; at least {result.regions_seen} regions seen)")
    print_bounds(found)
    return code


def run_reproduce(args) -> int:
    out = args.out or ("serra2018-quick" if args.quick else "serra2018")
    client = None if args.scheduler is None else connect(args.scheduler)
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


def run_plot(args) -> None:
    network = load_model(args.model)
    box = load_box(args)
    points = load_points(args.through)
    if points.ndim != 2 or points.shape[0] not in (2, 3) or points.shape[1] != network.n_inputs:
        msg = (f"{args.through}: expected an array of shape (3, {network.n_inputs}) for a plane "
               f"or (2, {network.n_inputs}) for a line, got {points.shape}")
        raise ShapeError(msg)
    say_if_compiling(planar=points.shape[0] == 3)
    written = plots.plot_regions(network, box, points, args.out, colour=args.colour, tol=args.tol)
    print(f"Figure written to {written}")


def run_local(args) -> int:
    network = load_model(args.model)
    box = load_box(args)
    lower, upper = box.bounds(network.n_inputs)
    points = load_points(args.points)
    if points.ndim != 2 or points.shape[1] != network.n_inputs:
        msg = f"{args.points}: expected an array of shape (n_points, {network.n_inputs}), got {points.shape}"
        raise ShapeError(msg)
    say_if_compiling()
    bar = ProgressBar(args, unit=" points", total=points.shape[0])
    started = time.perf_counter()
    try:
        result = count_local(
            network, points, args.radius, clip=(lower, upper), tol=args.tol, jobs=args.jobs,
            time_limit=args.time_limit, progress=None if bar.bar is None else bar.points,
        )
    finally:
        bar.close()
    code = exit_code(result.all_complete, started, args.time_limit)
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
    state = "" if result.all_complete else f" (incomplete: {stop_reason(code)})"
    print(f"{counted.size} of {points.shape[0]} points counted, radius {result.radius:g}{state}")
    if counted.size:
        print(f"  regions: mean {counted.mean():.2f}, median {np.median(counted):g}, "
              f"min {counted.min()}, max {counted.max()}")
    print(f"  {result.seconds:.2f} s, {result.lp_solves} solver calls")
    for written in (args.histogram, args.csv):
        if written is not None:
            print(f"written: {written}")
    return code
