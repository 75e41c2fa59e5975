"""Shared benchmark plumbing: ratios of fastest rounds measured in the same run.

The machine is shared and noisy, so a speed-up is only quoted between two
benchmarks of one session: ``record`` keeps each fastest round (the least disturbed by other load), and the summary
prints every ratio declared with ``compare``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pyregions import Network

_fastest: dict[str, float] = {}
_extra: dict[str, dict] = {}
_ratios: list[tuple[str, str, str, str | None]] = []

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def random_784(widths: tuple[int, ...], seed: int = 5) -> Network:
    """A random-init 784-input network whose first layer's hyperplanes cut
    [0, 1]^784: a network of MNIST's shape, untrained, as users try one."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(widths[0], 784)) / np.sqrt(784) * 3]
    biases = [rng.normal(size=widths[0]) * 0.3]
    for n_in, n_out in zip(widths, widths[1:]):
        weights.append(rng.normal(size=(n_out, n_in)) / np.sqrt(n_in))
        biases.append(rng.normal(size=n_out) * 0.3)
    return Network(weights, biases)


@pytest.fixture(scope="session")
def mnist_11_11() -> Network:
    """The paper's middle configuration, trained with a fixed seed (its
    count takes about 30 s on one core)."""
    if not MNIST.is_dir():
        pytest.skip(f"MNIST files not found at {MNIST}")
    from pyregions.datasets import mnist
    from pyregions.training import train_relu_network

    x_train, y_train, _, _ = mnist(MNIST)
    return train_relu_network(x_train, y_train, [11, 11], epochs=20, seed=0)


def resident_mb(pid: int | None = None) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    pid = os.getpid() if pid is None else pid
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total = int(line.split()[1]) / 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += resident_mb(int(child))
    except OSError:  # a worker that ended meanwhile
        pass
    return total


def compare(label: str, slow: str, fast: str, key: str | None = None) -> None:
    """Declare that the summary should show min(slow) / min(fast), or with
    ``key`` the ratio fast / slow of that figure noted by both (a rate)."""
    _ratios.append((label, slow, fast, key))


@pytest.fixture
def record(benchmark, request):
    """Run ``benchmark`` and keep its fastest round under the test's name."""

    def run(function, *args, rounds=None, **info):
        if rounds is None:
            result = benchmark(function, *args)
        else:
            result = benchmark.pedantic(function, args=args, rounds=rounds, iterations=1)
        _fastest[request.node.name] = benchmark.stats.stats.min
        if info:
            benchmark.extra_info.update(info)
            _extra[request.node.name] = info
        return result

    return run


@pytest.fixture
def note(benchmark, request):
    """Attach figures (regions per second, LPs per region...) to a benchmark."""

    def add(**info):
        benchmark.extra_info.update(info)
        _extra.setdefault(request.node.name, {}).update(info)

    return add


def pytest_terminal_summary(terminalreporter):
    if not _fastest:
        return
    terminalreporter.section("pyregions figures (one run)")
    for label, slow, fast, key in _ratios:
        if key is not None and key in _extra.get(slow, {}) and key in _extra.get(fast, {}):
            ratio = _extra[fast][key] / _extra[slow][key]
        elif key is None and slow in _fastest and fast in _fastest:
            ratio = _fastest[slow] / _fastest[fast]
        else:
            continue
        terminalreporter.write_line(f"{label}: {ratio:,.1f}x  ({slow} / {fast})")
    for name, info in _extra.items():
        shown = ", ".join(f"{k}={v:,.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        terminalreporter.write_line(f"{name}: {shown}")
