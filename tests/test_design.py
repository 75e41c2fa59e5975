"""Ranking architectures by their bounds, the design command and figure."""

from __future__ import annotations

import itertools
import json
import math
import sys

import pytest

from pyregions import bounds
from pyregions.cli import main

BOUNDS = {"serra2018": bounds.serra2018, "montufar2017": bounds.montufar2017}


def compositions(total, depths):
    """Every (n1, ..., nL) with n_l >= 1 summing to ``total``, L in ``depths``."""
    for depth in depths:
        for cuts in itertools.combinations(range(1, total), depth - 1):
            ends = (0, *cuts, total)
            yield tuple(b - a for a, b in zip(ends, ends[1:]))


def brute_force(n_inputs, total, depths, bound, top):
    scored = [(BOUNDS[bound](n_inputs, w), w) for w in compositions(total, depths)]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [(widths, value) for value, widths in scored[:top]]


def as_pairs(ranking):
    return [(widths, b.value) for widths, b in ranking]


@pytest.mark.parametrize("bound", sorted(BOUNDS))
@pytest.mark.parametrize("n_inputs", [1, 2, 3, 5, 12])
def test_ranking_equals_brute_force_over_all_compositions(bound, n_inputs):
    for total in range(1, 13):
        modes = [({"depth": d}, [d]) for d in range(1, min(total, 4) + 1)]
        modes += [({"max_depth": d}, range(1, d + 1)) for d in range(1, min(total, 4) + 1)]
        if total <= 9:
            modes.append(({}, range(1, total + 1)))
        for options, depths in modes:
            for top in (1, 6, 10_000):
                ranking = bounds.rank_architectures(
                    n_inputs, total, bound=bound, top=top, **options
                )
                expected = brute_force(n_inputs, total, depths, bound, top)
                assert as_pairs(ranking) == expected, (total, options, top)
                assert ranking.exact
                assert ranking.n_compositions == sum(1 for _ in compositions(total, depths))


def test_ranking_reads_as_a_list_of_widths_and_bounds():
    ranking = bounds.rank_architectures(3, 6, max_depth=2, top=3)
    assert len(ranking) == 3 and ranking[0] == ranking.entries[0]
    for widths, bound in ranking:
        assert bound == bounds.all_bounds(3, widths)["serra2018"]
    assert ranking.n_compositions == 6 and ranking.nodes >= 1


def test_node_limit_returns_an_unproven_ranking():
    ranking = bounds.rank_architectures(8, 60, max_depth=4, node_limit=1)
    assert not ranking.exact and ranking.nodes == 1
    assert bounds.rank_architectures(8, 60, max_depth=4).exact


def test_large_input_dimension_ranks_the_widest_first_layer_first():
    # n0 >= units: the shallow network reaches 2^300, and any second layer
    # costs exactly the patterns the first layer's budget cannot pass on.
    ranking = bounds.rank_architectures(784, 300, max_depth=6)
    assert ranking.exact
    assert [widths for widths, _ in ranking] == [(300,)] + [(300 - k, k) for k in range(1, 10)]
    assert ranking[0][1].value == 2**300 and ranking[1][1].value == 2**300 - 1


def test_small_input_dimension_prefers_depth():
    ranking = bounds.rank_architectures(8, 200, max_depth=10, top=3)
    assert ranking.exact
    assert ranking[0][0] == (20,) * 10
    assert ranking[0][1].log10 > bounds.serra2018(8, [200], log10=True) + 40


@pytest.mark.parametrize("n_inputs", [30, 100])
def test_bottleneck_moving_a_unit_to_the_second_layer_lowers_theorem_1(n_inputs):
    total = 30
    values = [bounds.serra2018(n_inputs, [n1, total - n1]) for n1 in range(1, total)]
    assert all(before < after for before, after in zip(values, values[1:]))
    ranking = bounds.rank_architectures(n_inputs, total, depth=2, top=total)
    assert [widths for widths, _ in ranking] == [(n1, total - n1) for n1 in range(total - 1, 0, -1)]


def test_one_input_ranks_by_the_exact_maximum():
    ranking = bounds.rank_architectures(1, 12, depth=4, top=10_000)
    assert ranking[0][0] == (3, 3, 3, 3) and ranking[0][1].value == 256
    for widths, bound in ranking:
        if min(widths) >= 3:
            assert bound.value == bounds.one_input_maximum(widths)
        if min(widths[:-1]) >= 2:
            assert bound.value == math.prod(w + 1 for w in widths)
        else:
            # A width-1 layer with an active unit passes no direction on.
            assert bound.value < math.prod(w + 1 for w in widths)
    at_least_three = [(w, b.value) for w, b in ranking if min(w) >= 3]
    by_maximum = sorted(
        ((w, bounds.one_input_maximum(w)) for w in compositions(12, [4]) if min(w) >= 3),
        key=lambda item: (-item[1], item[0]),
    )
    assert at_least_three == by_maximum


def test_even_widths():
    assert bounds.even_widths(11, 3) == (4, 4, 3)
    assert bounds.even_widths(12, 4) == (3, 3, 3, 3)
    with pytest.raises(ValueError, match="depth=5 needs at least 5 units"):
        bounds.even_widths(4, 5)


@pytest.mark.parametrize(
    ("arguments", "options", "message"),
    [
        ((0, 5), {}, "n_inputs must be >= 1, got 0"),
        ((2, 0), {}, "total_units must be >= 1, got 0"),
        ((2, 2.5), {}, "total_units must be an integer"),
        ((2, bounds.MAX_DESIGN_UNITS + 1), {}, "total_units must be <= 1000"),
        ((2, 5), {"bound": "trivial"}, "bound must be one of serra2018, montufar2017"),
        ((2, 5), {"top": 0}, "top must be >= 1, got 0"),
        ((2, 5), {"node_limit": 0}, "node_limit must be >= 1, got 0"),
        ((2, 5), {"depth": 2, "max_depth": 3}, "give depth or max_depth, not both"),
        ((2, 5), {"depth": 0}, "depth must be >= 1, got 0"),
        ((2, 5), {"depth": 6}, "depth=6 needs at least 6 units, got total_units=5"),
        ((2, 5), {"max_depth": 0}, "max_depth must be >= 1, got 0"),
    ],
)
def test_rank_architectures_rejects_bad_input(arguments, options, message):
    with pytest.raises(ValueError, match=message):
        bounds.rank_architectures(*arguments, **options)


def test_design_json_has_the_ranking_the_shallow_and_equal_width_networks(capsys):
    assert main(["design", "--inputs", "784", "--units", "30", "--max-depth", "3",
                 "--top", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [entry["widths"] for entry in found["ranking"]] == [[30], [29, 1], [28, 2]]
    assert found["ranking"][1]["serra2018"]["value"] == 2**30 - 1
    assert found["ranking"][1]["serra2018"]["log10"] == pytest.approx(30 * math.log10(2))
    assert found["shallow"]["widths"] == [30]
    assert found["shallow"]["serra2018"]["value"] == bounds.serra2018(784, [30])
    assert [entry["widths"] for entry in found["equal_width"]] == [[15, 15], [10, 10, 10]]
    for entry in found["equal_width"]:
        assert entry["serra2018"]["value"] == bounds.serra2018(784, entry["widths"])
    assert found["exact"] is True and found["n_compositions"] == 1 + 29 + 406


def test_design_table(capsys):
    assert main(["design", "--inputs", "8", "--units", "40", "--depth", "4", "--top", "2",
                 "--bound", "montufar2017"]) == 0
    out = capsys.readouterr().out
    best = bounds.rank_architectures(8, 40, depth=4, top=1, bound="montufar2017")[0]
    assert "proven" in out and "10x4" in out and str(best[1].value) in out
    assert "shallow" in out and "equal width" in out


@pytest.mark.parametrize(
    "arguments",
    [
        ["--inputs", "1,2", "--units", "10"],
        ["--inputs", "1,2", "--units", "10", "--plot", "x.png", "--json"],
        ["--inputs", "3", "--units", "0"],
        ["--inputs", "3", "--units", "5", "--depth", "6"],
        ["--inputs", "3", "--units", "5", "--depth", "2", "--max-depth", "3"],
        ["--inputs", "3", "--units", "5", "--top", "0"],
        ["--inputs", "x", "--units", "5"],
        ["--inputs", "3", "--units", "5", "--bound", "trivial"],
    ],
)
def test_design_bad_input_is_one_line_and_exit_code_2(capsys, arguments):
    assert main(["design", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("pyregions: error:")


def test_design_without_matplotlib_is_a_usage_error(capsys, monkeypatch, tmp_path):
    # A None entry in sys.modules makes the import fail, as if not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(["design", "--inputs", "2", "--units", "5", "--plot", str(tmp_path / "f.png")]) == 2
    assert "pip install 'pyregions[plot]'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_design_figure_is_written_atomically(tmp_path, capsys):
    from pyregions import plots

    target = tmp_path / "design.png"
    target.write_bytes(b"old")
    assert plots.design_figure([1, 8, 64], 12, target, max_depth=3) == target
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["design.png"]  # no temporary left
    cli_target = tmp_path / "cli.png"
    arguments = ["--inputs", "1,2,8,784", "--units", "16", "--plot", str(cli_target)]
    assert main(["design", *arguments]) == 0
    assert cli_target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out == f"Figure written to {cli_target}\n"
