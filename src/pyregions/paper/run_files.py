"""The files a run of the experiment keeps in its directory: the settings
(``run.json``), the rows (``results.csv``) and the log of runs
(``runs.csv``), each rewritten whole under a temporary name and renamed, so
that an interrupted run never leaves a half-written file."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..exceptions import CheckpointError

COLUMNS = (
    "n1", "n2", "seed", "train_error", "test_error", "regions", "thin", "seconds",
    "serra2018", "montufar2017", "trivial", "network",
)
"""The columns of ``results.csv``, in order."""


def check_settings(path: Path, settings: dict) -> None:
    """Check the run's settings against those recorded, if any."""
    if not path.is_file():
        return
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        msg = f"{path}: unreadable run settings ({err})"
        raise CheckpointError(msg) from err
    if recorded != settings:
        msg = (
            f"{path.parent} holds a run made with {recorded}, not {settings}: "
            "use another directory"
        )
        raise CheckpointError(msg)


_INT_COLUMNS = ("n1", "n2", "seed", "regions", "thin", "serra2018", "montufar2017", "trivial")
_FLOAT_COLUMNS = ("train_error", "test_error", "seconds")


def read_results(path: Path) -> dict[tuple[int, int, int], dict]:
    """Rows of ``results.csv`` keyed by (n1, n2, seed); empty if absent."""
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            msg = f"{path}: expected columns {', '.join(COLUMNS)}, found {reader.fieldnames}"
            raise CheckpointError(msg)
        rows = {}
        try:
            for raw in reader:
                # DictReader files surplus fields under None and fills
                # missing ones with None.
                if None in raw or None in raw.values():
                    msg = f"expected {len(COLUMNS)} fields"
                    raise ValueError(msg)
                row = {name: int(raw[name]) for name in _INT_COLUMNS}
                row.update({name: float(raw[name]) for name in _FLOAT_COLUMNS})
                row["network"] = raw["network"]
                rows[(row["n1"], row["n2"], row["seed"])] = row
        except (ValueError, csv.Error) as err:
            msg = f"{path}, line {reader.line_num}: not a valid row ({err})"
            raise CheckpointError(msg) from err
    return rows


def write_results(path: Path, rows: dict) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for key in sorted(rows):
        writer.writerow({
            name: repr(value) if isinstance(value, float) else value
            for name, value in rows[key].items()
        })
    replace_text(path, text.getvalue())


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as handle:
        handle.write(text)
        handle.flush()
        # Durable before the rename, so that a crash cannot leave an
        # empty results.csv behind a completed rename.
        os.fsync(handle.fileno())
    os.replace(partial, path)


_RUN_COLUMNS = ("started", "jobs", "counted", "wall_seconds", "cpu_seconds")


def log_run(path: Path, run: dict) -> list[dict]:
    """Append ``run`` to the log of runs; return every run logged."""
    runs = []
    if path.is_file():
        with open(path, newline="") as handle:
            for raw in csv.DictReader(handle):
                runs.append({
                    "started": raw["started"], "jobs": int(raw["jobs"]), "counted": int(raw["counted"]),
                    "wall_seconds": float(raw["wall_seconds"]), "cpu_seconds": float(raw["cpu_seconds"]),
                })
    runs.append(run)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=_RUN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(runs)
    replace_text(path, text.getvalue())
    return runs
