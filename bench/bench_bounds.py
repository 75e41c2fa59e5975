"""The bound recurrences in the C++ core against the same recurrence in plain Python."""

from __future__ import annotations

import math

import pytest

from pyregions import bounds

from .conftest import compare


def python_serra2018(n_inputs, widths, log10=False):
    """The dynamic program of src/cpp/bounds.cpp, line for line in Python."""
    if log10:
        zero, one = -math.inf, 0.0

        def add(a, b):
            if a == -math.inf:
                return b
            if b == -math.inf:
                return a
            high = max(a, b)
            return high + math.log1p(math.exp(-abs(a - b)))

        def mul(a, b):
            return a + b

        def comb(n, k):
            return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    else:
        zero, one = 0, 1

        def add(a, b):
            return a + b

        def mul(a, b):
            return a * b

        comb = math.comb
    top = n_inputs
    count = [zero] * (top + 1)
    count[top] = one
    for n in widths:
        binomials = [comb(n, j) for j in range(min(n, top) + 1)]
        prefix, running = [], zero
        for value in binomials:
            running = add(running, value)
            prefix.append(running)
        suffix = [zero] * (top + 2)
        for d in range(top, -1, -1):
            suffix[d] = add(suffix[d + 1], count[d])
        next_top = min(top, n)
        following = [zero] * (next_top + 1)
        for d in range(next_top + 1):
            following[d] = add(following[d], mul(prefix[min(d, n - d)], count[d]))
        for e in range(min(n, top - 1) + 1):
            start = max(e + 1, n - e)
            if start <= top:
                following[e] = add(following[e], mul(binomials[e], suffix[start]))
        count, top = following, next_top
    total = zero
    for value in count:
        total = add(total, value)
    return total / math.log(10) if log10 else total


compare("Theorem 1 log10, 784-1000x100: C++ vs plain Python", "test_log10_python", "test_log10_cpp")
compare("Theorem 1 exact, 784-200x10: C++ vs plain Python", "test_exact_python", "test_exact_cpp")

HUGE = (784, [1000] * 100)
EXACT = (784, [200] * 10)


def test_python_reference_agrees():
    assert python_serra2018(*EXACT) == bounds.serra2018(*EXACT)
    assert python_serra2018(*HUGE, log10=True) == pytest.approx(bounds.serra2018(*HUGE, log10=True))


def test_log10_cpp(record):
    record(lambda: bounds.serra2018(*HUGE, log10=True))


def test_log10_python(record):
    record(lambda: python_serra2018(*HUGE, log10=True), rounds=3)


def test_exact_cpp(record):
    record(bounds.serra2018, *EXACT)


def test_exact_python(record):
    record(python_serra2018, *EXACT, rounds=5)
