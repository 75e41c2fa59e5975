"""Region patterns on disk, written as a count finds them.

A count of 10^8 regions cannot hold its patterns in memory:
``count_regions(..., patterns=FILE)`` streams them to ``FILE`` instead, and
:func:`read_patterns` reads them back.

The file is a 16-byte header, then one fixed-size record per region:

=======  ======  =========================================================
bytes    type    meaning
=======  ======  =========================================================
0-7      bytes   the magic ``b"PYRGPATS"``
8-11     uint32  the kind: 0 for ReLU patterns, each row bit-packed by
                 ``numpy.packbits`` (``ceil(n_hidden / 8)`` bytes); 1 with
                 maxout layers, one int8 state per unit (``n_hidden``
                 bytes)
12-15    uint32  ``n_hidden``
=======  ======  =========================================================

Integers are little-endian. Records are in no particular order (subtrees
are written as they finish) and each region appears once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .exceptions import PatternFileError

__all__ = ["read_patterns"]

MAGIC = b"PYRGPATS"
HEADER = np.dtype([("magic", "S8"), ("kind", "<u4"), ("n_hidden", "<u4")])
PACKED, STATES = 0, 1
# Rows buffered before a write: a search adds them one or a few at a time.
BUFFERED_ROWS = 65_536


def read_patterns(path: str | os.PathLike) -> np.ndarray:
    """The patterns of a file written by ``count_regions(..., patterns=path)``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    array of shape (regions, n_hidden)
        bool for a pure ReLU network; with maxout layers, int8 states (0 or
        1 for a ReLU unit, the winning piece for a maxout unit), as
        :meth:`pyregions.RegionCount.unpacked_patterns`.

    Raises
    ------
    PatternFileError
        When the file is missing, not a patterns file, or truncated.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from pyregions import Box, Network, count_regions, read_patterns
    >>> net = Network([np.array([[1.0], [-1.0]])], [np.array([0.0, 0.5])])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "patterns.bin"
    >>> count_regions(net, Box(-1, 1), patterns=path).regions
    3
    >>> read_patterns(path).shape
    (3, 2)
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        msg = f"{path}: cannot read patterns ({err.strerror or err})"
        raise PatternFileError(msg) from err
    kind, n_hidden = _header(path, data)
    width = _record_width(kind, n_hidden)
    body = data[HEADER.itemsize :]
    if body.size % width:
        msg = f"{path}: truncated: {body.size} bytes of records, not a multiple of {width}"
        raise PatternFileError(msg)
    records = body.reshape(-1, width)
    if kind == PACKED:
        return np.unpackbits(records, axis=1, count=n_hidden).astype(bool)
    return records.view(np.int8).copy()


def _header(path, data: np.ndarray) -> tuple[int, int]:
    if data.size < HEADER.itemsize:
        msg = f"{path}: not a pyregions patterns file (shorter than its header)"
        raise PatternFileError(msg)
    header = data[: HEADER.itemsize].view(HEADER)[0]
    if header["magic"] != MAGIC or int(header["kind"]) not in (PACKED, STATES):
        msg = f"{path}: not a pyregions patterns file"
        raise PatternFileError(msg)
    return int(header["kind"]), int(header["n_hidden"])


def _record_width(kind: int, n_hidden: int) -> int:
    return (n_hidden + 7) // 8 if kind == PACKED else n_hidden


class PatternWriter:
    """Appends patterns to a patterns file, buffered.

    ``rows`` counts the records written so far, buffered ones included.
    Opened with ``keep`` (a resumed count), the file must hold at least that
    many records of the same kind and width: it is cut back to them, so a
    subtree that was running when the count stopped is not written twice.
    """

    def __init__(self, path: str | os.PathLike, n_hidden: int, packed: bool, keep: int | None = None):
        self.path = Path(path)
        self.kind = PACKED if packed else STATES
        self.n_hidden = n_hidden
        self.width = _record_width(self.kind, n_hidden)
        try:
            if keep is None:
                self.handle = open(self.path, "wb")
                header = np.array([(MAGIC, self.kind, n_hidden)], dtype=HEADER)
                self.handle.write(header.tobytes())
                self.rows = 0
            else:
                self._reopen(keep)
        except OSError as err:
            msg = f"{path}: cannot write patterns ({err.strerror or err})"
            raise PatternFileError(msg) from err
        self.buffer: list[np.ndarray] = []
        self.buffered = 0

    def _reopen(self, keep: int) -> None:
        head = np.fromfile(self.path, dtype=np.uint8, count=HEADER.itemsize)
        if _header(self.path, head) != (self.kind, self.n_hidden):
            msg = f"{self.path}: holds the patterns of another network; remove it or choose another file"
            raise PatternFileError(msg)
        size = HEADER.itemsize + keep * self.width
        if self.path.stat().st_size < size:
            msg = f"{self.path}: holds fewer patterns than the checkpoint recorded; remove both to start again"
            raise PatternFileError(msg)
        self.handle = open(self.path, "r+b")
        self.handle.truncate(size)
        self.handle.seek(size)
        self.rows = keep

    def write(self, patterns: np.ndarray) -> None:
        """Append patterns, unpacked (bool, or int8 states), one row each."""
        if patterns.shape[0] == 0:
            return
        records = np.packbits(patterns, axis=1) if self.kind == PACKED else patterns.astype(np.int8)
        self.buffer.append(records)
        self.buffered += records.shape[0]
        self.rows += records.shape[0]
        if self.buffered >= BUFFERED_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records to the file."""
        if self.buffer:
            self.handle.write(np.concatenate(self.buffer).tobytes())
            self.buffer.clear()
            self.buffered = 0
        self.handle.flush()

    def close(self) -> None:
        self.flush()
        self.handle.close()
