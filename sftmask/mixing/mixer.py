"""The mixing stage: labelled rows of each source in, rows of each split out, in a fixed order.

For each source's rows, in input order: number them (`SEQ_COLUMN`), drop repeated records
(`dedup`), take the source's amount (`take`), decide the held-out split (`Splitter`); training
rows of weighted sources are spilled and interleaved at the end (`interleave`); with `shuffle`,
every split's rows are spilled into a `Shuffler` and come out in its seeded order. What comes out
depends on the rows and options only, never on the engine or the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from sftmask.arrays import from_numpy, to_numpy
from sftmask.io.keys import KEY_COLUMN, fractions, mix
from sftmask.io.spill import SpillFile
from sftmask.mixing.interleave import Mixed, interleave
from sftmask.mixing.shuffle import SEQ_COLUMN, Shuffler
from sftmask.mixing.splits import TRAIN, Splitter

SOURCE_SHIFT = 40
"""A row's sequence number is its source's index << 40 | its position among the source's rows."""
TAKE_SALT = 0x7A6B
"""Salt of the hash a `take` fraction compares (independent of the held-out split's)."""


@dataclass
class Plan:
    """How much of a source to take: a count (first N rows), a fraction (by record hash) or all."""

    take: int | float | None = None
    weight: float | None = None


@dataclass
class SourceCounts:
    """Rows of a source the mixing stage did not pass on once: repeated records, rows over its
    amount or left out by the mix (`left_out`), and rows the mix used again (`repeated`)."""

    duplicates: int = 0
    left_out: int = 0
    repeated: int = 0


class Mixer:
    """See the module's docstring. `push` and `finish` yield (split, rows) ready to write."""

    def __init__(
        self,
        directory: Path,
        plans: list[Plan],
        *,
        val_size: int | float | None = None,
        test_size: int | float | None = None,
        shuffle: bool = False,
        seed: int = 0,
        dedup: bool = False,
        stopping_strategy: str = "first_exhausted",
    ) -> None:
        self.directory = directory
        self.plans = plans
        self.counts = [SourceCounts() for _ in plans]
        self.splitter = Splitter(val_size, test_size)
        self.seed = seed
        self.stopping = stopping_strategy
        self._built = [0] * len(plans)
        self._taken = [0] * len(plans)
        self._seen: set[int] | None = set() if dedup else None
        weights = [plan.weight for plan in plans if plan.weight is not None]
        self.weights = weights if weights and len(weights) == len(plans) else None
        self._spills: list[SpillFile] = []
        if self.weights is not None or shuffle:
            directory.mkdir(parents=True, exist_ok=True)
        if self.weights is not None:
            self._spills = [SpillFile(directory / f"source-{i:03d}.arrow") for i in range(len(plans))]
        self._shufflers = (
            {name: Shuffler(directory / name, seed, name) for name in self.splitter.splits} if shuffle else None
        )

    @property
    def needs_keys(self) -> bool:
        """Whether rows must carry their record keys (`KEY_COLUMN`)."""
        fraction_taken = any(isinstance(plan.take, float) for plan in self.plans)
        return self._seen is not None or fraction_taken or len(self.splitter.splits) > 1

    @property
    def splits(self) -> list[str]:
        return self.splitter.splits

    def push(self, source: int, rows: pa.Table) -> Iterator[tuple[str, pa.Table]]:
        """A source's next labelled rows, in input order."""
        if not rows.num_rows:
            return
        start = self._built[source]
        self._built[source] += rows.num_rows
        seq = (np.uint64(source) << np.uint64(SOURCE_SHIFT)) + np.arange(start, start + rows.num_rows, dtype=np.uint64)
        rows = rows.append_column(SEQ_COLUMN, from_numpy(seq))
        rows = self._dedup(source, rows)
        rows = self._take(source, rows)
        for split, table in self.splitter.push(rows):
            yield from self._route(split, table)

    def _dedup(self, source: int, rows: pa.Table) -> pa.Table:
        if self._seen is None:
            return rows
        seen = self._seen
        first = np.ones(rows.num_rows, dtype=bool)
        for i, key in enumerate(to_numpy(rows.column(KEY_COLUMN)).tolist()):
            if key in seen:
                first[i] = False
            else:
                seen.add(key)
        self.counts[source].duplicates += int((~first).sum())
        return rows if first.all() else rows.filter(from_numpy(first))

    def _take(self, source: int, rows: pa.Table) -> pa.Table:
        take = self.plans[source].take
        before = rows.num_rows
        if isinstance(take, int):
            rows = rows.slice(0, max(0, take - self._taken[source]))
        elif isinstance(take, float):
            keys = to_numpy(rows.column(KEY_COLUMN))
            rows = rows.filter(from_numpy(fractions(mix(keys, TAKE_SALT)) < take))
        self._taken[source] += rows.num_rows
        self.counts[source].left_out += before - rows.num_rows
        return rows

    def _route(self, split: str, table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
        if not table.num_rows:
            return
        if split == TRAIN and self.weights is not None:
            sources = source_of(table)
            present = np.unique(sources).tolist()
            for i in present:
                self._spills[i].append(table if len(present) == 1 else table.filter(from_numpy(sources == i)))
            return
        yield from self._out(split, table)

    def _out(self, split: str, table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
        if self._shufflers is not None:
            self._shufflers[split].push(table)
        else:
            yield split, table

    def finish(self) -> Iterator[tuple[str, pa.Table]]:
        """What the held-out counts, the mix and the shuffle held back, by split."""
        for split, table in self.splitter.finish():
            yield from self._route(split, table)
        if self.weights is not None:
            mixed = Mixed([spill.rows for spill in self._spills])
            for table in interleave(self._spills, self.weights, self.seed, self.stopping, mixed):
                yield from self._out(TRAIN, table)
            for i, spill in enumerate(self._spills):
                self.counts[i].left_out += max(0, spill.rows - mixed.used[i])
                self.counts[i].repeated += max(0, mixed.used[i] - spill.rows)
        if self._shufflers is not None:
            for split, shuffler in self._shufflers.items():
                for table in shuffler.drain():
                    yield split, table


def source_of(table: pa.Table) -> np.ndarray:
    """Each row's source index (from its sequence number)."""
    return to_numpy(table.column(SEQ_COLUMN)) >> np.uint64(SOURCE_SHIFT)
