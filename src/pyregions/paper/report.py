"""The ``SUMMARY.md`` of a reproduction of Serra et al. (2018), Section 7.

Written from the rows of ``results.csv`` after every run, complete or not:
a table per configuration, the paper's claims checked with the numbers,
and what the run cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["summary_markdown", "spearman"]

# The paper's third claim is about networks with no narrow layer: both
# widths at least this.
WIDE_ENOUGH = 6

TRAINING = """\
Each network is trained with the project's own NumPy trainer
(`pyregions.training.train_relu_network`), not the paper's software:
minibatch Adam (batches of 64, step 3e-3 decaying linearly to 3e-4) for
{epochs} epochs over the 60,000 training images scaled to [0, 1], He-normal
hidden weights and zero biases, the seed fixing the initial weights and the
order of the samples. Another optimiser or initialisation gives other
weights, so the test errors and counts are comparable with the paper's in
their trends, not digit for digit; the counts are exact for the networks
trained here, which are published beside the results so that any row can
be recounted (`pyregions count networks/n1-N_seed-S.npz`). A seed gives
the same weights on one machine; another CPU or BLAS may round them
differently in their last digits, so the saved networks, not the seeds,
are what the counts are exact for."""


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties share their mean rank); nan for
    fewer than three pairs or a constant side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 3:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0.0 or rb.std() == 0.0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(values.size, dtype=float)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def summary_markdown(rows: Sequence[dict], planned: int, settings: dict, runs: Sequence[dict]) -> str:
    """The summary of the counted ``rows`` of a plan of ``planned``
    networks, made with ``settings`` (``run.json``), over the ``runs``
    logged so far (each with ``wall_seconds`` and ``cpu_seconds``)."""
    lines = [
        "# Serra et al. (2018), Section 7, reproduced",
        "",
        "Rectifier networks 784-n1-n2-10 with n1 + n2 = 22 trained on MNIST, their linear",
        "regions counted exactly over [0, 1]^784 by pyregions' tree search (margin "
        f"`tol` = {settings.get('tol')}),",
        "set beside the upper bounds and the test error.",
        "",
        f"**{len(rows)} of {planned} networks counted.**"
        + ("" if len(rows) >= planned else " The run is resumable: the rest follow in later runs."),
        "",
    ]
    if not rows:
        return "\n".join(lines) + "\n"
    lines += _table(rows) + [""] + _claims(rows) + [""]
    lines += ["## Training", "", TRAINING.format(epochs=settings.get("epochs")), ""]
    lines += _cost(rows, runs)
    return "\n".join(lines) + "\n"


def _by_configuration(rows):
    groups: dict[tuple[int, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["n1"], row["n2"]), []).append(row)
    return dict(sorted(groups.items()))


def _table(rows) -> list[str]:
    thin = any("thin" in row for row in rows)
    lines = [
        "## Per configuration",
        "",
        "| n1-n2 | networks | regions: mean | min | max |"
        + (" thin |" if thin else "")
        + " Theorem 1 | Montufar 2017 | 2^22 | train error | test error | regions/s |",
        "|---|---|---|---|---|" + ("---|" if thin else "") + "---|---|---|---|---|---|",
    ]
    for (n1, n2), group in _by_configuration(rows).items():
        regions = np.array([row["regions"] for row in group])
        cells = [
            f"{n1}-{n2}", str(len(group)), f"{regions.mean():,.0f}", f"{regions.min():,}",
            f"{regions.max():,}",
        ]
        if thin:
            cells.append(f"{sum(row.get('thin', 0) for row in group):,}")
        cells += [
            f"{group[0]['serra2018']:,}", f"{group[0]['montufar2017']:,}", f"{group[0]['trivial']:,}",
            f"{np.mean([row['train_error'] for row in group]):.4f}",
            f"{np.mean([row['test_error'] for row in group]):.4f}",
            f"{regions.sum() / sum(row['seconds'] for row in group):,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [
        "",
        "Regions/s: the configuration's regions over its counts' seconds, each count on one "
        "process (a count resumed from a checkpoint records only its last part).",
    ]


def _claims(rows) -> list[str]:
    groups = _by_configuration(rows)
    means = {key: np.mean([row["regions"] for row in group]) for key, group in groups.items()}
    ratios = {key: means[key] / group[0]["serra2018"] for key, group in groups.items()}
    below = all(row["regions"] <= row["serra2018"] for row in rows)
    closest = max(ratios, key=ratios.get)
    largest = max(means, key=means.get)
    lines = [
        "## The paper's claims, checked",
        "",
        "1. **The counts are below the bounds, and far below for narrow first layers.** "
        + ("Every count is at most Theorem 1" if below else "SOME COUNT EXCEEDS THEOREM 1")
        + f"; the mean count is {min(ratios.values()):.2%} to {max(ratios.values()):.2%} of it "
        f"by configuration, closest at {closest[0]}-{closest[1]}.",
        f"2. **Where the maximum lies.** The largest mean count, {means[largest]:,.0f}, is at "
        f"{largest[0]}-{largest[1]}; the largest single count, "
        f"{max(row['regions'] for row in rows):,}.",
    ]
    wide = [row for row in rows if min(row["n1"], row["n2"]) >= WIDE_ENOUGH]
    rho = spearman([row["regions"] for row in wide], [row["test_error"] for row in wide])
    n1s = sorted({row["n1"] for row in wide})
    n1_range = f"n1 = {n1s[0]}..{n1s[-1]}" if n1s else "no configuration yet"
    lines.append(
        "3. **Where no layer is narrow, more regions go with lower test error.** Over the "
        f"{len(wide)} networks with both widths at least {WIDE_ENOUGH} ({n1_range}), Spearman's "
        f"rank correlation of regions with test error is {rho:.2f}"
        + (" (negative: the claim holds)." if rho < 0 else "." if np.isnan(rho) else
           " (not negative: the claim does not hold here).")
    )
    within = {
        key: spearman([row["regions"] for row in group], [row["test_error"] for row in group])
        for key, group in groups.items() if min(key) >= WIDE_ENOUGH
    }
    holds = [key[0] for key, value in within.items() if value < 0]
    if within:
        lines.append(
            "   Within one configuration, across its seeds, the correlation is negative for n1 = "
            + (", ".join(map(str, holds)) if holds else "none")
            + " of " + ", ".join(map(str, (key[0] for key in within))) + " ("
            + ", ".join(f"{value:.2f}" for value in within.values()) + ")."
        )
    return lines


def _cost(rows, runs) -> list[str]:
    wall = sum(run["wall_seconds"] for run in runs)
    cpu = sum(run["cpu_seconds"] for run in runs)
    counting = sum(row["seconds"] for row in rows)
    return [
        "## What it cost",
        "",
        f"{len(runs)} run(s) of `pyregions reproduce serra2018`, resumes included: "
        f"{wall / 3600:.2f} h of wall time and {cpu / 3600:.2f} h of CPU time in all "
        f"(training, counting and figures; {counting / 3600:.2f} h of counting as the rows "
        "record it, the last part of each count). Per run (`runs.csv`):",
        "",
        "| started (UTC) | jobs | networks counted | wall | CPU |",
        "|---|---|---|---|---|",
        *(
            f"| {run['started']} | {run['jobs']} | {run['counted']} | "
            f"{run['wall_seconds'] / 60:.1f} min | {run['cpu_seconds'] / 60:.1f} min |"
            for run in runs
        ),
    ]
