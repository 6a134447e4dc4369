"""Weighted interleaving of the sources' training rows (a recipe's `weight:`), seeded.

Each next row comes from source i with probability w_i / sum(w): a NumPy PCG64 generator seeded
by --seed draws the sources, in chunks, so the result is the same on every run and engine. The
sources' rows are taken in their order. `first_exhausted` stops at the first draw of a source
that has no row left; `all_exhausted` starts a source that ran out again from its first row, and
stops after the row that completes the last source's first pass (every row used at least once).
A source with no training row takes no part (its weight is dropped).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from sftmask.arrays import from_numpy
from sftmask.io.spill import SpillFile

CHUNK = 1000
"""Draws per step (rows per table yielded, at most)."""


class _Cursor:
    """Rows of one spilled source, taken in order; `restart` begins again at the first."""

    def __init__(self, spill: SpillFile) -> None:
        self.spill = spill
        self._batches: Iterator[pa.RecordBatch] = iter(())
        self._table: pa.Table | None = None
        self._offset = 0
        self.restart()

    def restart(self) -> None:
        self._batches = _batches_of(self.spill)
        self._table, self._offset = None, 0

    def take(self, n: int) -> pa.Table | None:
        """Up to `n` next rows (fewer at the end; None when none is left)."""
        parts: list[pa.Table] = []
        while n > 0:
            if self._table is None or self._offset >= self._table.num_rows:
                batch = next(self._batches, None)
                if batch is None:
                    break
                self._table, self._offset = pa.Table.from_batches([batch]), 0
            part = self._table.slice(self._offset, n)
            self._offset += part.num_rows
            n -= part.num_rows
            parts.append(part)
        return pa.concat_tables(parts, promote_options="permissive") if parts else None


def _batches_of(spill: SpillFile) -> Iterator[pa.RecordBatch]:
    return spill.read(remove=False) if spill.rows else iter(())


@dataclass
class Mixed:
    """Rows each source gave the mix: `used` (repeats included) of its `rows`."""

    rows: list[int]
    used: list[int] = field(default_factory=list)


def interleave(
    spills: list[SpillFile], weights: list[float], seed: int, stopping: str, mixed: Mixed
) -> Iterator[pa.Table]:
    """The sources' rows interleaved by weight (see the module's docstring); `mixed.used` gets
    the rows each source gave."""
    mixed.used = [0] * len(spills)
    live = [i for i, spill in enumerate(spills) if spill.rows]
    if not live:
        return
    probabilities = np.array([weights[i] for i in live], dtype=np.float64)
    with np.errstate(over="ignore"):
        if not np.isfinite(probabilities.sum()):  # weights near the float maximum: their sum overflows
            probabilities /= probabilities.max()
    probabilities /= probabilities.sum()
    rng = np.random.Generator(np.random.PCG64(seed))
    cursors = {i: _Cursor(spills[i]) for i in live}
    completed: set[int] = set()  # all_exhausted: sources whose every row has been used
    while True:
        draws = np.asarray(live)[rng.choice(len(live), size=CHUNK, p=probabilities)]
        cut, stop = CHUNK, False
        completed_here: list[int] = []
        for i in live:
            positions = np.flatnonzero(draws == i)
            rows, before = spills[i].rows, mixed.used[i]
            if stopping == "first_exhausted" and before + len(positions) > rows:
                cut, stop = min(cut, int(positions[rows - before])), True
            elif stopping == "all_exhausted" and i not in completed and before + len(positions) >= rows:
                completed.add(i)
                completed_here.append(int(positions[rows - before - 1]))
        if stopping == "all_exhausted" and len(completed) == len(live):
            cut, stop = max(completed_here) + 1, True
        draws = draws[:cut]
        parts = {}
        for i in live:
            wanted = int((draws == i).sum())
            if wanted:
                parts[i] = _rows(cursors[i], wanted)
                mixed.used[i] += wanted
        if len(draws):
            yield _assemble(draws, parts)
        if stop:
            return


def _rows(cursor: _Cursor, n: int) -> pa.Table:
    """The next `n` rows of a source, from its first again when it runs out (all_exhausted)."""
    parts = []
    while n:
        table = cursor.take(n)
        if table is None:
            cursor.restart()
            continue
        parts.append(table)
        n -= table.num_rows
    return pa.concat_tables(parts, promote_options="permissive")


def _assemble(draws: np.ndarray, parts: dict[int, pa.Table]) -> pa.Table:
    """The rows in draw order: the k-th draw of source i is row k of its part."""
    sources = sorted(parts)
    combined = pa.concat_tables([parts[i] for i in sources], promote_options="permissive")
    index = np.empty(len(draws), dtype=np.int64)
    start = 0
    for i in sources:
        positions = np.flatnonzero(draws == i)
        index[positions] = start + np.arange(len(positions))
        start += len(positions)
    return combined.take(from_numpy(index))
