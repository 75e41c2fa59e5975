"""Checkpoints of a tree count cut into subtrees.

A count is cut into subtrees by pattern prefix; each finished subtree is an
exact part of the total, independent of the others.  A checkpoint holds the
prefixes of the cut and the result of every finished subtree, so a rerun
redoes only what was unfinished, and the total equals an uninterrupted run.
It is bound to one counting problem by a fingerprint of the network, box,
tolerance and way of keeping patterns (none, in memory, in a file), and always replaced atomically: a crash leaves the previous
checkpoint, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import unreadable_reason
from .exceptions import CheckpointError

# 2: each finished subtree's count of regions and of thin regions, its
# patterns only when the count keeps them.
FORMAT_VERSION = 2


def fingerprint(*arrays: np.ndarray, extra: str = "") -> str:
    """SHA-256 of the arrays' shapes and bytes, and of ``extra``."""
    digest = hashlib.sha256(f"pyregions-checkpoint-{FORMAT_VERSION}|{extra}".encode())
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def prefix_key(prefix: tuple[int, ...]) -> str:
    """A prefix as text, one character per unit: the key of its subtree.

    A ReLU's state is '1' (active) or '0'; a maxout unit's piece ``p`` is
    ``chr(48 + p)``: the digit for ``p < 10``, and a character after '9' for
    larger ranks.
    """
    return "".join(chr(48 + int(state)) for state in prefix)


def prefix_from_key(key: str) -> tuple[int, ...]:
    """The prefix of a :func:`prefix_key`, as ints (0/1 for a ReLU)."""
    return tuple(ord(c) - 48 for c in key)


@dataclass
class SubtreeResult:
    """The regions of one finished subtree, how many of them are thin,
    their packed patterns when the count keeps them in memory, and what
    finding them cost."""

    # uint8, np.packbits(axis=1) of bool (regions, n_hidden); int8 states with maxout
    patterns: np.ndarray | None
    regions: int
    lp_solves: int
    nodes: int
    thin: int


@dataclass
class CheckpointState:
    """Pending and finished subtrees of one count."""

    fingerprint: str
    n_hidden: int
    pending: list[tuple[int, ...]]
    finished: dict[str, SubtreeResult] = field(default_factory=dict)
    frontier_solves: int = 0
    packed: bool = True  # bit-packed bool patterns; False: int8 maxout states

    def save(self, path: str | os.PathLike) -> None:
        """Write the state to ``path`` atomically (write aside, then rename)."""
        path = Path(path)
        keys = sorted(self.finished)
        counts = np.array([self.finished[k].regions for k in keys], dtype=np.int64)
        width = (self.n_hidden + 7) // 8 if self.packed else self.n_hidden
        kept = [self.finished[k].patterns for k in keys if self.finished[k].patterns is not None]
        patterns = (
            np.concatenate(kept) if kept else np.empty((0, width), np.uint8 if self.packed else np.int8)
        )
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with open(partial, "wb") as handle:
                np.savez(
                    handle,
                    version=np.array(FORMAT_VERSION),
                    fingerprint=np.array(self.fingerprint),
                    n_hidden=np.array(self.n_hidden),
                    pending=np.array([prefix_key(p) for p in self.pending], dtype=str),
                    finished=np.array(keys, dtype=str),
                    counts=counts,
                    solves=np.array([self.finished[k].lp_solves for k in keys], dtype=np.int64),
                    nodes=np.array([self.finished[k].nodes for k in keys], dtype=np.int64),
                    thin=np.array([self.finished[k].thin for k in keys], dtype=np.int64),
                    patterns=patterns.reshape(-1, width),
                    frontier_solves=np.array(self.frontier_solves),
                    packed=np.array(self.packed),
                )
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            msg = f"{path}: cannot write the checkpoint there ({err.strerror})"
            raise CheckpointError(msg) from err
        os.replace(partial, path)

    @classmethod
    def load(cls, path: str | os.PathLike, expected_fingerprint: str) -> CheckpointState:
        """Read a checkpoint; refuse one of another problem or a damaged file.

        Raises
        ------
        CheckpointError
            When the file is unreadable or belongs to another network, box or
            tolerance.
        """
        try:
            # Our own handle: np.load leaks its file when the zip is damaged.
            with open(path, "rb") as handle:
                data = np.load(handle, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError("a single .npy array, not an .npz archive")
                if int(data["version"]) != FORMAT_VERSION:
                    msg = (
                        f"{path}: checkpoint format {int(data['version'])}, expected "
                        f"{FORMAT_VERSION} (format 1 has no thin-region counts); remove it "
                        "to count afresh"
                    )
                    raise CheckpointError(msg)
                if str(data["fingerprint"]) != expected_fingerprint:
                    msg = (
                        f"{path}: this checkpoint belongs to another model, box, "
                        "tolerance or way of keeping patterns; remove it or choose another file"
                    )
                    raise CheckpointError(msg)
                n_hidden = int(data["n_hidden"])
                pending = [prefix_from_key(key) for key in data["pending"].tolist()]
                counts = data["counts"]
                # The fingerprint says whether patterns were kept: all or none.
                kept = data["patterns"].shape[0] == counts.sum()
                offsets = np.concatenate([[0], np.cumsum(counts)])
                finished = {
                    key: SubtreeResult(
                        data["patterns"][offsets[i] : offsets[i + 1]] if kept else None,
                        int(counts[i]), int(data["solves"][i]), int(data["nodes"][i]),
                        int(data["thin"][i]),
                    )
                    for i, key in enumerate(data["finished"].tolist())
                }
                # A subtree interrupted as it was recorded may be in both.
                pending = [prefix for prefix in pending if prefix_key(prefix) not in finished]
                return cls(
                    expected_fingerprint, n_hidden, pending, finished,
                    int(data["frontier_solves"]), bool(data["packed"]),
                )
        except CheckpointError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            msg = (
                f"{path}: not a readable pyregions checkpoint ({unreadable_reason(err)}); "
                "remove it to count afresh"
            )
            raise CheckpointError(msg) from err
