"""Spill files: Arrow tables appended to disk and read back in order (mixing and shuffling hold
data larger than memory here, in the output's temporary folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

BUFFER_BYTES = 1 << 20
"""Appended rows are held until this many bytes, then written as one record batch (a shuffle
appends a few rows to each of 64 files per batch)."""


class SpillFile:
    """Arrow IPC streams on disk: `append` tables, then `read` them back in order.

    A table whose schema differs from the last one's (a kept column null so far, then typed)
    starts a new stream file (a segment), so any sequence of tables the writer accepts spills.
    """

    def __init__(self, path: Path, buffer_bytes: int = BUFFER_BYTES) -> None:
        self.path = path
        self.rows = 0
        self.bytes = 0
        self.buffer_bytes = buffer_bytes
        self._segments: list[Path] = []
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0

    def append(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self.rows += table.num_rows
        self.bytes += table.nbytes
        if self._pending and table.schema != self._pending[0].schema:
            self._flush()
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= self.buffer_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending).combine_chunks()
        self._pending, self._pending_bytes = [], 0
        if self._writer is None or table.schema != self._schema:
            self._close_writer()
            segment = self.path.with_name(f"{self.path.name}.{len(self._segments)}")
            self._segments.append(segment)
            self._schema = table.schema
            self._writer = pa.ipc.new_stream(str(segment), table.schema)
        self._writer.write_table(table)

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        """Write what is held; `read` may follow."""
        self._flush()
        self._close_writer()

    def read(self, *, remove: bool = True) -> Iterator[pa.RecordBatch]:
        """The rows appended, in order, as record batches; the files are removed once read
        (unless `remove` is False: read again)."""
        self.close()
        for segment in self._segments:
            with pa.OSFile(str(segment)) as source:  # read into memory: the file may go after
                yield from pa.ipc.open_stream(source)
        if remove:
            for segment in self._segments:
                segment.unlink(missing_ok=True)
            self._segments = []

    def read_all(self) -> pa.Table | None:
        """Everything appended, as one table (None when nothing was); the files are removed."""
        tables = [pa.Table.from_batches([batch]) for batch in self.read()]
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="permissive")
