"""Parts of a big input that a distributed engine's tasks read alone: an uncompressed JSON lines
file in byte ranges that begin and end at line boundaries, a Parquet file in runs of row groups.

A part's records are the file's records of that span, in order, each exactly once over the file's
parts. Rows of a Parquet part are numbered from the file's start (its metadata says where each row
group begins); lines of a JSON lines part are numbered from the part's start, as only the lines
before it could say where it begins: the engine, which sees the parts' results in order, adds the
lines of the file's earlier parts (`LineRange.lines`, reported by each part's reader).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any

from sftmask.errors import InputDataError
from sftmask.io import remote
from sftmask.io.compression import STDIN, CountingReader
from sftmask.io.inputs import COMPRESSIONS, InputFile

PART_BATCHES = 8
"""About this many --batch-size batches of records make one part (a task's share of a big file)."""
MIN_PART_BYTES = 64 << 10
MAX_PART_BYTES = 64 << 20
"""A JSON lines part's size in bytes stays within these, whatever the records' size (at most: the
memory one task's batches can take; at least: a task is worth its scheduling)."""
SAMPLE_BYTES = 64 << 10
"""The head of a JSON lines file read to estimate its bytes per record."""


@dataclass(frozen=True)
class FilePart:
    """A span of input ``file`` (its index) that one task reads: bytes [start, end) of a JSON lines
    file (the lines that begin at 0, when start is 0, or right after a newline at a byte in
    [start, end)), or row groups [start, end) of a Parquet file, whose first row is ``first_row``.
    ``whole``: the entire file (any format), start and end unused."""

    file: int
    start: int = 0
    end: int = 0
    first_row: int = 0
    whole: bool = True


def plan_parts(files: list[InputFile], batch_size: int) -> list[FilePart]:
    """The parts of the inputs, in input order: each file whole, except uncompressed JSON lines
    files and Parquet files large enough for several parts of about `PART_BATCHES` batches. A file
    whose head or Parquet footer cannot be read stays whole: its reader reports why, in its turn
    and in its words, as the local engine's does."""
    parts: list[FilePart] = []
    for index, inp in enumerate(files):
        if inp.format == "jsonl" and splittable_text(inp) and inp.size:
            parts += _line_ranges(index, inp, batch_size)
        elif inp.format == "parquet" and not inp.parts:
            parts += _row_group_runs(index, inp, batch_size)
        else:
            parts.append(FilePart(index))
    return parts


def splittable_text(inp: InputFile) -> bool:
    """Whether a text input can be read from any byte: a plain file or URL (not stdin, not
    compressed, not inside an archive)."""
    name = remote.file_part(inp.name)
    return inp.name != STDIN and not name.endswith(COMPRESSIONS) and "::" not in inp.name


def part_bytes(size: int, head: bytes, batch_size: int) -> int:
    """Bytes per part of a JSON lines file of `size` bytes whose first bytes are `head`: about
    `PART_BATCHES` batches of records of the head's mean line size, within the bounds.

    >>> part_bytes(10 << 30, b'{"a": 1}\\n' * 100, 1000) == 8 * 1000 * 9
    True
    """
    lines = head.count(b"\n")
    per_line = len(head) / lines if lines else float(size)
    return int(min(MAX_PART_BYTES, max(MIN_PART_BYTES, PART_BATCHES * batch_size * per_line)))


def _line_ranges(index: int, inp: InputFile, batch_size: int) -> list[FilePart]:
    assert inp.size is not None
    try:
        with _open(inp.name) as f:
            head = f.read(SAMPLE_BYTES)
    except (OSError, InputDataError):
        return [FilePart(index)]
    step = part_bytes(inp.size, head, batch_size)
    if step >= inp.size:
        return [FilePart(index)]
    return [FilePart(index, start, min(start + step, inp.size), whole=False) for start in range(0, inp.size, step)]


def _row_group_runs(index: int, inp: InputFile, batch_size: int) -> list[FilePart]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with _open(inp.name) as f:
            metadata = pq.ParquetFile(f).metadata
    except (OSError, InputDataError, pa.ArrowException):
        return [FilePart(index)]
    rows = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    want = PART_BATCHES * batch_size
    parts: list[FilePart] = []
    start, first_row, held = 0, 0, 0
    for group, count in enumerate(rows):
        held += count
        if held >= want or group == len(rows) - 1:
            parts.append(FilePart(index, start, group + 1, first_row, whole=False))
            start, first_row, held = group + 1, first_row + held, 0
    return parts if len(parts) > 1 else [FilePart(index)]


def _open(name: str) -> IO[bytes]:
    """The file or URL `name` as seekable bytes."""
    if remote.is_remote(name):
        return remote.open_input(name, InputDataError)
    return open(name, "rb")


def open_part(name: str, part: FilePart) -> tuple[IO[bytes], CountingReader, LineRange]:
    """The lines of a JSON lines `part` of `name` as a stream (with the counter of bytes read, for
    progress, and the range, which counts the lines it passed on)."""
    raw = _open(name)
    lines = LineRange(raw, part.start, part.end)
    counter = CountingReader(lines)
    return io.BufferedReader(counter, buffer_size=1 << 20), counter, lines


class LineRange(io.RawIOBase):
    """The bytes of the lines of a seekable file that belong to the byte range [start, end): from
    the start of the file (start 0) or just after the first newline at or after `start`, through the
    first newline at or after `end` (or the end of the file). The range after it starts where this
    one stops, so a file's ranges give each line once, in order. `lines`: the newlines passed on."""

    SKIP_PIECE = 1 << 20

    def __init__(self, raw: IO[bytes], start: int, end: int) -> None:
        self._raw = raw
        self._end = end
        self.lines = 0
        self._done = False
        position = 0
        if start > 0:
            raw.seek(start)
            position = start
            # The line that began before `start` is the previous range's, whatever its length.
            while piece := raw.readline(self.SKIP_PIECE):
                position += len(piece)
                if piece.endswith(b"\n"):
                    break
            else:
                self._done = True
            self._done = self._done or position - 1 >= end  # that newline lies beyond this range
        self._position = position

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._done:
            return 0
        n = int(self._raw.readinto(buffer) or 0)  # type: ignore[attr-defined]
        if n == 0:
            self._done = True
            return 0
        view = memoryview(buffer).cast("B")[:n]
        if self._position + n > self._end:  # the range's last line ends in this piece, or later
            after = max(0, self._end - self._position)
            newline = view[after:].tobytes().find(b"\n")
            if newline >= 0:
                n = after + newline + 1
                self._done = True
        self.lines += view[:n].tobytes().count(b"\n")
        self._position += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()
