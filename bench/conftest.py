"""Shared benchmark plumbing: ratios of fastest rounds measured in the same run.

The machine is shared and noisy, so a speed-up is only quoted between two
benchmarks of one session: ``record`` keeps each fastest round (the least disturbed by other load), and the summary
prints every ratio declared with ``compare``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_fastest: dict[str, float] = {}
_extra: dict[str, dict] = {}
_ratios: list[tuple[str, str, str, str | None]] = []

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


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
