"""Spill files: Arrow tables appended to a file on disk and read back in order (mixing and shuffling
hold data larger than memory here, in the output's temporary folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa


class SpillFile:
    """An Arrow IPC stream on disk: `append` tables (one schema), `close`, then `read` them back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.bytes = 0
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None

    def append(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self._writer is None:
            self._schema = table.schema
            self._writer = pa.ipc.new_stream(str(self.path), table.schema)
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        self._writer.write_table(table)
        self.rows += table.num_rows
        self.bytes += table.nbytes

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def read(self) -> Iterator[pa.RecordBatch]:
        """The batches appended, in order (after `close`); the file is removed once read."""
        self.close()
        if self._schema is None:
            return
        with pa.OSFile(str(self.path)) as source:  # read into memory: the file goes after
            yield from pa.ipc.open_stream(source)
        self.path.unlink(missing_ok=True)

    def read_all(self) -> pa.Table | None:
        """Everything appended, as one table (None when nothing was)."""
        self.close()
        if self._schema is None:
            return None
        with pa.OSFile(str(self.path)) as source:  # read into memory: the file goes after
            table = pa.ipc.open_stream(source).read_all()
        self.path.unlink(missing_ok=True)
        return table
