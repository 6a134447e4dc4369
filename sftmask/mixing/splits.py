"""--val-size / --test-size: which rows are held out, decided by each row's record key.

A fraction holds out the rows whose key, read as a number in [0, 1), falls in its range
(validation first: [0, val), then test: [val, val + test)); the decision is the record's alone,
so more data never moves a held-out row back to train. A count holds out the rows with the
smallest keys among those no fraction took (validation the first `val`, test the next `test`):
they are kept in memory until the end; a row they push out goes to train. More data can then only
swap held-out rows for new ones with smaller keys; an old train row never becomes held out.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sftmask.arrays import from_numpy, to_numpy
from sftmask.io.keys import KEY_COLUMN, fractions
from sftmask.mixing.shuffle import SEQ_COLUMN

TRAIN = "train"
VALIDATION = "validation"
TEST = "test"


class Splitter:
    """Rows in, (split, rows) out: `push` as rows come, `finish` for what counts held back."""

    def __init__(self, val_size: int | float | None, test_size: int | float | None) -> None:
        sizes = [(VALIDATION, val_size), (TEST, test_size)]
        self.ranges: list[tuple[str, float, float]] = []
        low = 0.0
        for name, size in sizes:
            if isinstance(size, float):
                self.ranges.append((name, low, low + size))
                low += size
        self.counts = [(name, size) for name, size in sizes if isinstance(size, int)]
        self._held_rows = sum(size for _, size in self.counts)
        self._held: pa.Table | None = None

    @property
    def splits(self) -> list[str]:
        """The splits written, train first."""
        named = {name for name, _, _ in self.ranges} | {name for name, _ in self.counts}
        return [TRAIN, *(name for name in (VALIDATION, TEST) if name in named)]

    def push(self, table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
        """The rows of `table` whose split is known now, by split."""
        if not self.ranges and not self.counts:
            yield TRAIN, table
            return
        where = fractions(to_numpy(table.column(KEY_COLUMN)))
        rest = np.ones(table.num_rows, dtype=bool)
        for name, low, high in self.ranges:
            mine = (where >= low) & (where < high)
            rest &= ~mine
            if mine.any():
                yield name, table.filter(from_numpy(mine))
        if not rest.any():
            return
        table = table if rest.all() else table.filter(from_numpy(rest))
        if not self.counts:
            yield TRAIN, table
            return
        held = table if self._held is None else pa.concat_tables([self._held, table], promote_options="permissive")
        if held.num_rows <= self._held_rows:
            self._held = held
            return
        order = pc.sort_indices(held, sort_keys=[(KEY_COLUMN, "ascending"), (SEQ_COLUMN, "ascending")])
        ranks = np.empty(held.num_rows, dtype=np.int64)
        ranks[to_numpy(order)] = np.arange(held.num_rows)
        keep = ranks < self._held_rows
        self._held = held.filter(from_numpy(keep))
        yield TRAIN, held.filter(from_numpy(~keep))  # pushed out, in the order they came

    def finish(self) -> Iterator[tuple[str, pa.Table]]:
        """The rows the counts held out, by split, in key order."""
        if self._held is None:
            return
        held = self._held.take(
            pc.sort_indices(self._held, sort_keys=[(KEY_COLUMN, "ascending"), (SEQ_COLUMN, "ascending")])
        )
        start = 0
        for name, size in self.counts:
            yield name, held.slice(start, size)
            start += size
        self._held = None
