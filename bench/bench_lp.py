"""The Python tree search's LPs: its Numba dual simplex against HiGHS, on one sequence.

The LPs of the first RECORD_SECONDS of a count of the bundled MNIST example
by the Python search (the compiled loop calls the simplex directly, where
they cannot be recorded; its LPs start from other bases) are recorded
(rows, rhs and the path's row ids), then replayed through the search's own
LP (:class:`pyregions.counting.lp.FeasibilityLP`) and through one HiGHS model
kept in step with the path (rows deleted and appended, re-run from the last
basis, presolve off), which is how the search used HiGHS before it had its
own simplex: with HiGHS's default scaling, as the fallback for undecided
LPs runs it, and with scaling off. All must decide every LP alike.
"""

from __future__ import annotations

import time

import highspy
import numpy as np
import pytest

from pyregions import Box
from pyregions._highs import new_model
from pyregions.counting.lp import FeasibilityLP
from pyregions.counting.problem import TreeProblem
from pyregions.counting.search import TreeSearch
from pyregions.counting.settings import DEFAULT_TOL, SETTINGS
from pyregions.network import example_network
from pyregions.tightening import preactivation_bounds

from .conftest import compare

RECORD_SECONDS = 3.0

for scaling in ("default", "off"):
    compare(f"Python search's LPs, Numba simplex vs HiGHS warm-started, scaling {scaling} (same LPs)",
            f"test_highs_lps[scaling-{scaling}]", "test_simplex_lps")


@pytest.fixture(scope="module")
def recorded():
    """``(problem, lps)``: the LPs of the first RECORD_SECONDS of a count."""
    network = example_network()
    box = Box(0, 1)
    lower, upper = box.bounds(network.n_inputs)
    problem = TreeProblem.build(
        network, lower, upper, preactivation_bounds(network, box, method="lp"), DEFAULT_TOL
    )
    search = TreeSearch(
        problem, np.random.default_rng(0), deadline=time.time() + RECORD_SECONDS
    )
    # The Python search throughout: the compiled last layer calls the
    # simplex directly, past the LP object recorded here.
    search.compiled = None
    lps = []
    solve = search.lp.point_in

    def record(rows, rhs, row_ids):
        lps.append((rows.copy(), rhs.copy(), list(row_ids)))
        return solve(rows, rhs, row_ids)

    search.lp.point_in = record
    search.run()
    return problem, lps


def simplex_decisions(problem, lps) -> list[bool]:
    lp = FeasibilityLP(problem.lower, problem.upper, 0, problem.weights[0])
    return [lp.point_in(rows, rhs, ids) is not None for rows, rhs, ids in lps]


def highs_decisions(problem, lps, *, scaling: bool = True) -> list[bool]:
    n = problem.lower.shape[0]
    highs = new_model(0)
    for option, value in [
        ("primal_feasibility_tolerance", SETTINGS.lp_feasibility_tolerance),
        ("dual_feasibility_tolerance", SETTINGS.lp_feasibility_tolerance),
        ("presolve", "off"), ("simplex_strategy", 1),
    ]:
        highs.setOptionValue(option, value)
    if not scaling:
        highs.setOptionValue("simplex_scale_strategy", 0)
    empty = np.array([], dtype=np.int32)
    highs.addCols(n, np.zeros(n), problem.lower, problem.upper, 0, empty, empty, np.array([]))
    index = np.arange(n, dtype=np.int32)
    on_model: list[int] = []
    decisions = []
    for rows, rhs, ids in lps:
        keep = 0
        while keep < min(len(on_model), len(ids)) and on_model[keep] == ids[keep]:
            keep += 1
        if keep < len(on_model):
            highs.deleteRows(len(on_model) - keep, np.arange(keep, len(on_model), dtype=np.int32))
            del on_model[keep:]
        count = len(ids) - keep
        if count:
            highs.addRows(
                count, rhs[keep:], np.full(count, highspy.kHighsInf), count * n,
                np.arange(0, count * n, n, dtype=np.int32), np.tile(index, count),
                np.ascontiguousarray(rows[keep:]).ravel(),
            )
            on_model.extend(ids[keep:])
        highs.run()
        status = highs.getModelStatus()
        assert status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible)
        decisions.append(status == highspy.HighsModelStatus.kOptimal)
    return decisions


def test_simplex_lps(record, note, recorded):
    problem, lps = recorded
    decisions = record(lambda: simplex_decisions(problem, lps), rounds=3)
    note(lps=len(lps), feasible=sum(decisions))
    assert decisions == highs_decisions(problem, lps)


@pytest.mark.parametrize("scaling", [True, False], ids=["scaling-default", "scaling-off"])
def test_highs_lps(record, note, recorded, scaling):
    problem, lps = recorded
    record(lambda: highs_decisions(problem, lps, scaling=scaling), rounds=3)
    note(lps=len(lps))
