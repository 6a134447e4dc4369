"""`RecordReader`: the records of a build's inputs, in order, as Arrow batches of the fields the
build reads (each with its file and line or row) plus the rejects of the same span; the formats
are parsed by their own modules (jsonl, json_array, delimited, arrow)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Generator, Iterable, Iterator
from typing import IO, Any

import numpy as np
import pyarrow as pa

from sftmask import reasons
from sftmask.arrays import from_numpy, from_strings
from sftmask.errors import InputDataError, SftmaskError
from sftmask.io import remote
from sftmask.io.compression import STDIN, CountingReader, TruncatedInput, open_binary
from sftmask.io.formats import SAMPLE_FIELDS
from sftmask.io.inputs import FILE_COLUMN, LINE_COLUMN, TABLE_FORMATS, InputFile, ReadBatch, Reject
from sftmask.io.readers.arrow import python_rows, record_batches, table_batches
from sftmask.io.readers.checks import RecordChecks, json_text, utf8_size
from sftmask.io.readers.delimited import delimited_records
from sftmask.io.readers.json_array import json_array_records
from sftmask.io.readers.jsonl import jsonl_records
from sftmask.io.readers.parts import FilePart, LineRange, open_part

MAX_BATCH_CHARS = 32 << 20
"""A batch also ends once its records hold this much text, so a huge --batch-size (or huge
records) cannot hold gigabytes in flight: memory is bounded by bytes, not only records."""


class RecordReader(RecordChecks):
    """Streams records from input files as Arrow batches of the wanted fields (the options are
    `RecordChecks`'s)."""

    _only: int | None = None
    """The index of the one file this reader reads (`for_file`), or None: all of them."""
    _part: FilePart | None = None
    """The part of that file it reads (`for_part`), or None: all of it."""

    def _reset(self) -> None:
        super()._reset()
        self.records_read = 0
        self._done_bytes = 0
        self._counter: CountingReader | None = None
        self.part_lines = 0
        """The lines of the JSON lines part read (`for_part`): where the file's next part's lines start."""

    def for_file(self, index: int) -> RecordReader:
        """A new reader of ``files[index]`` alone, with these options (picklable: a task of a
        distributed engine). Its records keep their file index, so its batches are this
        reader's records and rejects of that file, in order; they end at the file's end, and
        their `bytes_read` counts from the file's start."""
        reader = copy.copy(self)
        reader._only = index
        reader._part = None
        reader._reset()
        return reader

    def for_part(self, part: FilePart) -> RecordReader:
        """A new reader of one part of a file (`parts.plan_parts`), as `for_file` reads a file: of a
        Parquet part its rows, numbered from the file's start; of a JSON lines part its lines,
        numbered from the part's start (line 1 is its first line), and `part_lines` counts them."""
        reader = self.for_file(part.file)
        reader._part = None if part.whole else part
        return reader

    @property
    def total_bytes(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def __iter__(self) -> Iterator[ReadBatch]:
        # Consecutive text inputs share batches (as one stream of records); a table input is
        # read in batches of its own.
        run: list[int] = []
        for file_index, inp in enumerate(self.files):
            if self._only is not None and file_index != self._only:
                continue
            if inp.format not in TABLE_FORMATS:
                run.append(file_index)
                continue
            if run:
                yield from self._batches(self._file_records(run))
                run = []
            yield from self._table_batches(file_index, inp)
        if run:
            yield from self._batches(self._file_records(run))

    def read_records(self, records: Iterable[Any], name: str) -> Iterator[ReadBatch]:
        """Batches of in-memory records, checked like those of a file called `name`.

        A record's position (the "line" of errors and rejects) is its index, from 0.
        """
        inp = InputFile(name, "records", None)
        return self._batches((inp, 0, index, record) for index, record in enumerate(records))

    def _file_records(self, file_indexes: list[int]) -> Generator[tuple[InputFile, int, int, Any], None, None]:
        """(input, file index, line, parsed record or Reject) over the text inputs given."""
        for file_index in file_indexes:
            inp = self.files[file_index]
            lines: LineRange | None = None
            if self._part is None:
                stream, self._counter = open_binary(inp.name)
            else:
                stream, self._counter, lines = open_part(inp.name, self._part)
                self._done_bytes = self._part.start
            try:
                for line, record in self._parse(inp, stream):
                    yield inp, file_index, line, record
            except InputDataError:
                raise
            except TruncatedInput as exc:
                raise InputDataError(f"{exc}; the file was cut short (check it with zstd -t)", file=inp.name) from exc
            except EOFError as exc:  # gzip: "Compressed file ended before the end-of-stream marker"
                raise InputDataError(f"truncated: {exc}; the file was cut short (gzip -t)", file=inp.name) from exc
            except (OSError, ValueError) as exc:  # gzip/zstd corruption, I/O errors (remote ones too)
                raise InputDataError(f"cannot read input: {remote.read_failure(exc)}", file=inp.name) from exc
            finally:
                self._done_bytes += self._counter.count
                self._counter = None
                if lines is not None:
                    self.part_lines = lines.lines
                if inp.name != STDIN:
                    stream.close()

    def _parse(self, inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
        """(line or row, parsed record or Reject) of a text input, by its format."""
        if inp.format == "jsonl":
            return jsonl_records(inp, stream, self.max_chars, at_start=self._part is None or self._part.start == 0)
        if inp.format == "json":
            return json_array_records(inp, stream)
        return delimited_records(inp, stream, self.delimiter, self.warnings)

    def _table_batches(self, file_index: int, inp: InputFile) -> Iterator[ReadBatch]:
        try:
            for batch in table_batches(self, file_index, inp, self._done_bytes, self._part):
                self.records_read += batch.table.num_rows + len(batch.rejects)
                yield batch
        finally:
            self._done_bytes += inp.size or 0

    def _batches(self, records: Iterator[tuple[InputFile, int, int, Any]]) -> Iterator[ReadBatch]:
        columns: dict[str, list[Any]] = self._empty()
        rejects: list[Reject] = []
        chars = 0  # text held by this batch: a batch ends at `batch_size` records or MAX_BATCH_CHARS
        for inp, file_index, line, record in records:
            self.records_read += 1
            problem = self.check(record, inp, line)
            if problem is None:
                assert isinstance(record, dict)
                as_json = self._json_fields(record)
                if isinstance(as_json, str):  # records from Python: a Decimal, a set...
                    problem = self.reject_or_raise(inp.reject(line, reasons.INVALID_JSON, as_json, record))
                else:
                    objects, optional = as_json
            if problem is not None:
                rejects.append(problem)
            else:
                texts = [record[field_name] for field_name in self.text_fields]
                size = sum(map(len, texts)) + sum(map(len, objects)) + sum(len(v or "") for v in optional)
                too_long = self.too_long(size, functools.partial(utf8_size, [*texts, *objects, *optional]))
                if too_long is not None:
                    rejects.append(self.reject_or_raise(inp.reject(line, reasons.TOO_LONG, too_long, record)))
                else:
                    chars += size
                    self._append(columns, record, texts, objects, optional, file_index, line)
                    if self.unused_fields and self.warnings:
                        self.warn_unused(record, inp, line)
            if len(columns[LINE_COLUMN]) + len(rejects) >= self.batch_size or chars >= MAX_BATCH_CHARS:
                yield self._batch(columns, rejects, self._position())
                columns, rejects, chars = self._empty(), [], 0
        if columns[LINE_COLUMN] or rejects:
            yield self._batch(columns, rejects, self._done_bytes)

    def _json_fields(self, record: dict[str, Any]) -> tuple[list[str], list[str | None]] | str:
        """The record's object fields and optional ones as JSON text, or what keeps one from it."""
        try:
            objects = [json_text(record[name]) for name in self.object_fields]
            optional = [
                None if (v := record.get(name)) is None else json_text(v) for name in self.optional_object_fields
            ]
        except (TypeError, ValueError) as exc:
            fields = [*self.object_fields, *self.optional_object_fields]
            bad = next((n for n in fields if _no_json(record.get(n))), fields[0])
            return f"field {bad!r} holds a value with no JSON form: {exc}"
        return objects, optional

    def _position(self) -> int:
        """Input bytes consumed so far (compressed size for .gz/.zst)."""
        return self._done_bytes + (self._counter.count if self._counter is not None else 0)

    def _append(
        self,
        columns: dict[str, list[Any]],
        record: dict[str, Any],
        texts: list[str],
        objects: list[str],
        optional: list[str | None],
        file_index: int,
        line: int,
    ) -> None:
        for name, text in zip(self.text_fields, texts, strict=True):
            columns[name].append(text)
        for name, value in zip(self.object_fields, objects, strict=True):
            columns[name].append(value)
        for name, maybe in zip(self.optional_object_fields, optional, strict=True):
            columns[name].append(maybe)
        for name in self.keep_fields:
            columns[self.keep_column(name)].append(record.get(name))
        columns[FILE_COLUMN].append(file_index)
        columns[LINE_COLUMN].append(line)

    def _empty(self) -> dict[str, list[Any]]:
        names = [
            *self.text_fields,
            *self.json_fields,
            *(self.keep_column(name) for name in self.keep_fields),
            FILE_COLUMN,
            LINE_COLUMN,
        ]
        return {name: [] for name in names}

    def _batch(self, columns: dict[str, list[Any]], rejects: list[Reject], position: int) -> ReadBatch:
        arrays: dict[str, pa.Array] = {}
        for name in [*self.text_fields, *self.json_fields]:
            arrays[name] = from_strings(columns[name])
        for name in self.keep_fields:
            column = self.keep_column(name)
            arrays[column] = self._keep_array(name, columns[column], columns[FILE_COLUMN], columns[LINE_COLUMN])
        arrays[FILE_COLUMN] = from_numpy(np.array(columns[FILE_COLUMN], dtype=np.int32))
        arrays[LINE_COLUMN] = from_numpy(np.array(columns[LINE_COLUMN], dtype=np.int64))
        return ReadBatch(pa.RecordBatch.from_pydict(arrays), rejects, position)


def sample_records(inp: InputFile, count: int, delimiter: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The first `count` records of an input that parse as objects, with their line or row (none
    from stdin, which can be read only once). Of a table, only the fields `formats.classify`
    looks at are read; a record or file that cannot be read ends the sample (the build reports it).
    """
    if inp.name == STDIN:
        return []
    found: list[tuple[int, dict[str, Any]]] = []
    try:
        if inp.format in TABLE_FORMATS:
            for _, batch in record_batches(inp, list(SAMPLE_FIELDS), count):
                found += enumerate(python_rows(batch.slice(0, count - len(found))), start=len(found))
                if len(found) >= count:
                    break
            return found
        reader = RecordReader(
            [inp],
            text_fields=[],
            keep_fields=[],
            batch_size=count,
            skip_errors=True,
            delimiter=delimiter,
            warnings=False,
        )
        records = reader._file_records([0])
        try:
            for _, _, position, record in records:
                if isinstance(record, dict):
                    found.append((position, record))
                if len(found) >= count:
                    break
        finally:
            records.close()
    except (SftmaskError, OSError, ValueError, pa.ArrowException):
        pass
    return found


def _no_json(value: Any) -> bool:
    try:
        json_text(value)
    except (TypeError, ValueError):
        return True
    return False
