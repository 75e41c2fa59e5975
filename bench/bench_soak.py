"""Long counts: regions per second and resident memory, sampled every 10 s.

A count that runs for hours must keep its memory flat and its rate steady.
Each benchmark counts one random network (never finished: its tree is far
too large) for ``PYREGIONS_SOAK_SECONDS`` (default 600) and prints both
curves; the figures note the rate of the first and last minute and the
memory growth from the 10th second to the end. The search's seed is fixed,
so that two runs on one process differ by the machine only.

Run with ``pytest bench/bench_soak.py -s``.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from pyregions import Box, count_regions

from .conftest import random_784, resident_mb

SECONDS = float(os.environ.get("PYREGIONS_SOAK_SECONDS", 600))
SAMPLE_SECONDS = 10.0


class Sampler:
    """Samples the latest progress and the resident memory every SAMPLE_SECONDS."""

    def __init__(self):
        self.regions = 0
        self.samples = [(0.0, 0, resident_mb())]  # (seconds, regions, MB)
        self.start = time.perf_counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def progress(self, update) -> None:
        self.regions = update.regions

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            self.samples.append((time.perf_counter() - self.start, self.regions, resident_mb()))

    def rate(self, first: float, last: float) -> float:
        """Regions per second between the samples nearest two times."""
        def nearest(t):
            return min(self.samples, key=lambda s: abs(s[0] - t))
        (t0, r0, _), (t1, r1, _) = nearest(first), nearest(last)
        return (r1 - r0) / max(t1 - t0, 1e-9)


@pytest.mark.parametrize(
    ("widths", "jobs"), [((24, 24), 1), ((24, 24), 2), ((32, 16), 1)],
    ids=["784-24-24", "784-24-24-jobs2", "784-32-16"],
)
def test_long_count(record, note, widths, jobs):
    network = random_784(widths)
    count_regions(random_784((3, 3)), Box(0, 1))  # kernels compiled before the clock starts
    sampler = Sampler()
    sampler.thread.start()
    try:
        result = record(
            lambda: count_regions(
                network, Box(0, 1), time_limit=SECONDS, jobs=jobs, seed=0,
                progress=sampler.progress,
            ),
            rounds=1,
        )
    finally:
        sampler.stop.set()
        sampler.thread.join()
    print(f"\n{'-'.join(map(str, (784, *widths)))}, jobs={jobs}: seconds, regions, resident MB")
    for seconds, regions, mb in sampler.samples:
        print(f"  {seconds:7.1f} {regions:12,d} {mb:9.1f}")
    memory = [mb for seconds, _, mb in sampler.samples if seconds >= SAMPLE_SECONDS]
    note(
        regions=result.regions,
        regions_per_second=result.regions / result.seconds,
        first_minute_rate=sampler.rate(0.0, min(60.0, SECONDS)),
        last_minute_rate=sampler.rate(max(SECONDS - 60.0, 0.0), SECONDS),
        memory_growth_mb=memory[-1] - memory[0] if memory else float("nan"),
    )
