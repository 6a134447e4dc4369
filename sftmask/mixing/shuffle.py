"""--shuffle: a seeded random permutation of rows, sorted on disk so data larger than memory fits.

Each row gets an order value, a 64-bit mix of (seed, its sequence number: source and position),
and the rows come out sorted by it (ties, which need a 64-bit collision, by sequence number). The
permutation is therefore uniform and determined by the seed and the rows alone: not by the
engine, the batch size or how batches were cut. The sort is a radix partition: rows go to 64
bucket files by their order's top 6 bits; each bucket is then sorted in memory, or partitioned
again by the next 6 bits while it is larger than `BUCKET_BYTES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sftmask.arrays import from_numpy, to_numpy
from sftmask.io.keys import mix
from sftmask.io.spill import SpillFile

SEQ_COLUMN = "_sftmask_seq"
"""A row's sequence number: its source's index << 40 | its position among the source's rows."""
ORDER_COLUMN = "_sftmask_order"
BITS = 6
BUCKETS = 1 << BITS
BUCKET_BYTES = 512 << 20
"""A bucket larger than this (in Arrow bytes) is partitioned again rather than sorted in memory."""
OUT_ROWS = 1000
"""Rows per table the shuffle yields."""


class Shuffler:
    """Rows in (`push`), the same rows in seeded random order out (`drain`)."""

    def __init__(self, directory: Path, seed: int, name: str) -> None:
        self.directory = directory
        self.seed = seed
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        self._buckets = [SpillFile(directory / f"{name}-{i:02d}.arrow") for i in range(BUCKETS)]

    def push(self, table: pa.Table) -> None:
        """Spill `table` (with `SEQ_COLUMN`) into its rows' buckets."""
        if not table.num_rows:
            return
        seq = to_numpy(table.column(SEQ_COLUMN))
        order = mix(seq, self.seed)
        table = table.append_column(ORDER_COLUMN, from_numpy(order))
        _partition(table, order >> np.uint64(64 - BITS), self._buckets)

    def drain(self) -> Iterator[pa.Table]:
        """Every row pushed, in the seeded order, `OUT_ROWS` at a time (order column dropped)."""
        for bucket in self._buckets:
            for table in _sorted(bucket, 64 - BITS, self.directory):
                table = table.drop_columns([ORDER_COLUMN])
                for start in range(0, table.num_rows, OUT_ROWS):
                    yield table.slice(start, OUT_ROWS)


def _partition(table: pa.Table, bucket_ids: np.ndarray, buckets: list[SpillFile]) -> None:
    order = np.argsort(bucket_ids, kind="stable")
    sorted_ids = bucket_ids[order]
    table = table.take(from_numpy(order))
    edges = np.searchsorted(sorted_ids, np.arange(len(buckets) + 1, dtype=np.uint64))
    for i, spill in enumerate(buckets):
        if edges[i + 1] > edges[i]:
            spill.append(table.slice(int(edges[i]), int(edges[i + 1] - edges[i])))


def _sorted(spill: SpillFile, shift: int, directory: Path) -> Iterator[pa.Table]:
    """The rows of `spill` sorted by order; partitioned again by the bits below `shift` while too large."""
    if spill.bytes > BUCKET_BYTES and shift >= BITS:
        shift -= BITS
        parts = [SpillFile(Path(f"{spill.path}.{i:02d}")) for i in range(BUCKETS)]
        for batch in spill.read():
            table = pa.Table.from_batches([batch])
            order = to_numpy(table.column(ORDER_COLUMN))
            _partition(table, (order >> np.uint64(shift)) & np.uint64(BUCKETS - 1), parts)
        for part in parts:
            yield from _sorted(part, shift, directory)
        return
    table = spill.read_all()
    if table is None:
        return
    yield table.take(pc.sort_indices(table, sort_keys=[(ORDER_COLUMN, "ascending"), (SEQ_COLUMN, "ascending")]))
