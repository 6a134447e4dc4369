"""Input readers: JSONL / JSON arrays / CSV / TSV (optionally .gz / .zst, or stdin), Parquet and
Arrow files and `datasets` folders -> Arrow record batches.

Each record keeps its file and its line (text files) or row (tables, JSON arrays, counted from 0),
so errors and rejects point at the exact record.
"""

from __future__ import annotations

import copy
import csv
import functools
import glob
import gzip
import io
import logging
import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sftmask import reasons
from sftmask.errors import ConfigError, InputDataError, SftmaskError, closest
from sftmask.io import remote
from sftmask.io.formats import SAMPLE_FIELDS, DataFormat, classify, mixed_message
from sftmask.io.writer import HOLD_ROWS
from sftmask.limits import MemoryBudget

log = logging.getLogger(__name__)

FILE_COLUMN = "_sftmask_file"
LINE_COLUMN = "_sftmask_line"
"""Where each record came from: the line (text files) or row from 0 (tables, JSON arrays)."""
KEEP_PREFIX = "_sftmask_keep:"
"""Batch column holding a kept field's original value when the data kind reads it as JSON text."""
STDIN = "-"

SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".json": "json",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}
COMPRESSIONS = (".gz", ".zst")
TABLE_FORMATS = ("parquet", "arrow", "dataset")
"""Formats read as Arrow record batches (no compression suffix, not from stdin)."""
ROW_FORMATS = (*TABLE_FORMATS, "json")
"""Formats whose records are numbered by row (from 0) instead of by line."""

JSON_BYTES_PER_CHAR = 12
"""The most bytes JSON spends on one character of a string (an escaped surrogate pair,
``\\ud83d\\ude00``): a JSON line longer than this per --max-chars character (plus
`LINE_SLACK_BYTES`) is rejected `too-long` unparsed, whatever fields fill it."""
LINE_SLACK_BYTES = 1 << 16
LONG_LINE_HEAD = 1000
"""Bytes of a line rejected unparsed kept in its reject."""
MAX_BATCH_CHARS = 32 << 20
"""A batch also ends once its records hold this much text, so a huge --batch-size (or huge
records) cannot hold gigabytes in flight: memory is bounded by bytes, not only records."""


@dataclass(frozen=True)
class Reject:
    """One record that was not written, with where it came from and why."""

    file: str
    line: int
    """The record's line, or its row (from 0) when `unit` is ``row``."""
    reason: str
    message: str
    record: Any
    unit: str = "line"


@dataclass
class ReadBatch:
    """Up to `batch_size` records as columns, plus the records of the same span that failed."""

    table: pa.RecordBatch
    rejects: list[Reject] = field(default_factory=list)
    bytes_read: int = 0
    """Bytes of input consumed so far, over all files (compressed size for .gz/.zst)."""


@dataclass(frozen=True)
class InputFile:
    """One input: a file, stdin, or a `save_to_disk` folder (its Arrow files in `parts`)."""

    name: str
    format: str
    size: int | None
    parts: tuple[str, ...] = ()
    """For a `datasets` folder: its Arrow files in order."""

    @property
    def unit(self) -> str:
        """``line`` for text files, ``row`` (counted from 0) for tables and JSON arrays."""
        return "row" if self.format in ROW_FORMATS else "line"

    def where(self, position: int) -> str:
        """``data.jsonl:12`` or ``data.parquet row 11``."""
        return f"{self.name}:{position}" if self.unit == "line" else f"{self.name} row {position}"

    def reject(self, position: int, reason: str, message: str, record: Any) -> Reject:
        """A reject of the record at `position` of this input."""
        return Reject(self.name, position, reason, message, record, self.unit)

    def error(self, message: str, position: int) -> InputDataError:
        """An input error at `position` of this input."""
        if self.unit == "line":
            return InputDataError(message, file=self.name, line=position)
        return InputDataError(message, file=self.name, row=position)


def resolve_inputs(patterns: Iterable[str], input_format: str | None, split: str = "train") -> list[InputFile]:
    """Expand globs in the order given and decide each file's format.

    A pattern may be a URL of any filesystem fsspec reaches (``s3://bucket/chats/*.jsonl.zst``);
    its files keep their URLs as names, so rejects say which object they came from. A folder
    written by `Dataset.save_to_disk` is one input; of a `DatasetDict.save_to_disk` folder,
    `split` is read.

    Raises:
        InputDataError: a path or glob matches no file, a folder is not a `datasets` folder, or a
            remote filesystem refuses.
        ConfigError: a file's format cannot be told from its name, or the split does not exist.
    """
    files: list[InputFile] = []
    for pattern in patterns:
        if pattern == STDIN:
            if input_format in TABLE_FORMATS:
                raise ConfigError(f"--input-format {input_format} cannot be read from stdin; pass the file")
            files.append(InputFile(STDIN, input_format or "jsonl", None))
            continue
        if remote.is_remote(pattern):
            files += [_input_file(url, input_format, size) for url, size in remote.expand(pattern, InputDataError)]
            continue
        pattern = remote.local_path(pattern)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise InputDataError(f"no file matches {pattern!r}")
        for name in matches:
            path = Path(name)
            if path.is_dir():
                files.append(_dataset_folder(path, split))
                continue
            if not path.is_file():
                raise InputDataError("no such file" if not path.exists() else "not a file", file=name)
            files.append(_input_file(name, input_format, path.stat().st_size))
    return files


def _input_file(name: str, input_format: str | None, size: int | None) -> InputFile:
    """A file (local path or URL) with its format: given, or told from its name (a ``.json``
    file from its first character: one array, or JSON lines)."""
    fmt = input_format or _format_of(name)
    if fmt == "json" and input_format is None:
        fmt = _sniff_json(name)
    if fmt in TABLE_FORMATS and remote.file_part(name).endswith(COMPRESSIONS):
        raise ConfigError(f"{name}: {fmt} files are read uncompressed; decompress it first")
    return InputFile(name, fmt, size)


def _format_of(name: str) -> str:
    stem = remote.file_part(name)
    for suffix in COMPRESSIONS:
        stem = stem.removesuffix(suffix)
    fmt = SUFFIX_FORMATS.get(os.path.splitext(stem)[1].lower())
    if fmt is None:
        raise ConfigError(
            f"{name}: cannot tell the input format from the file name; "
            "pass --input-format jsonl|json|csv|tsv|parquet|arrow"
        )
    return fmt


def _sniff_json(name: str) -> str:
    """``json`` for a file holding one JSON array (its first character is ``[``), else ``jsonl``."""
    stream, _ = _open_binary(InputFile(name, "json", None))
    try:
        head = stream.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    except (OSError, EOFError, ValueError) as exc:
        raise InputDataError(f"cannot read input: {exc}", file=name) from exc
    finally:
        stream.close()
    return "json" if head.startswith(b"[") else "jsonl"


def _dataset_folder(path: Path, split: str) -> InputFile:
    """A `save_to_disk` folder as one input: a Dataset's Arrow files, or a DatasetDict split's."""
    if (path / "dataset_dict.json").is_file():
        try:
            splits = [str(s) for s in orjson.loads((path / "dataset_dict.json").read_bytes())["splits"]]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputDataError(f"cannot read dataset_dict.json: {exc}", file=str(path)) from exc
        if split not in splits:
            raise ConfigError(
                f"{path}: a DatasetDict without a {split!r} split; splits are {', '.join(splits)}; pass --split NAME"
            )
        path = path / split
    state = path / "state.json"
    if not state.is_file():
        raise InputDataError(
            "is a directory, not a folder written by Dataset.save_to_disk (no state.json); "
            f"pass its files instead (e.g. {path}/*.parquet)",
            file=str(path),
        )
    try:
        names = [str(f["filename"]) for f in orjson.loads(state.read_bytes())["_data_files"]]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputDataError(f"cannot read state.json: {exc}", file=str(path)) from exc
    parts = tuple(str(path / name) for name in names)
    for part in parts:
        if not Path(part).is_file():
            raise InputDataError("file listed in state.json is missing", file=part)
    return InputFile(str(path), "dataset", sum(Path(p).stat().st_size for p in parts), parts)


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
            for _, batch in _record_batches(inp, list(SAMPLE_FIELDS), count):
                found += enumerate(batch.slice(0, count - len(found)).to_pylist(), start=len(found))
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


class _CountingReader(io.RawIOBase):
    """Counts bytes pulled from the underlying (compressed) file, for progress."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        return n or 0


def _open_binary(inp: InputFile) -> tuple[IO[bytes], _CountingReader]:
    raw: IO[bytes]
    if inp.name == STDIN:
        raw = sys.stdin.buffer
    elif remote.is_remote(inp.name):
        raw = remote.open_input(inp.name, InputDataError)
    else:
        raw = open(inp.name, "rb")  # noqa: SIM115
    counter = _CountingReader(raw)
    buffered: IO[bytes] = io.BufferedReader(counter, buffer_size=1 << 20)
    if remote.file_part(inp.name).endswith(".gz"):
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    if remote.file_part(inp.name).endswith(".zst"):
        return io.BufferedReader(_ZstdReader(buffered), buffer_size=1 << 20), counter
    return buffered, counter


class TruncatedInput(EOFError):
    """A compressed input ends inside a frame: it was cut short (an interrupted copy or download)."""


class _ZstdReader(io.RawIOBase):
    """Decompresses every zstd frame of a stream and fails when the last frame is not complete.

    `zstandard`'s `stream_reader` reports end of file when its input ends, even in the middle of a
    frame (a file cut at a block boundary reads as complete), and stops after the first frame;
    this checks what `zstd -t` checks. Input is fed in small pieces so that highly compressed
    data cannot expand into one huge buffer.
    """

    PIECE = 4096

    def __init__(self, source: IO[bytes]) -> None:
        import zstandard

        self._zstd = zstandard
        self._source = source
        self._frame: Any = None
        self._input = b""
        self._output = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._output:
            if self._done:
                return 0
            if not self._input:
                self._input = self._source.read(1 << 16)
                if not self._input:
                    self._done = True
                    if self._frame is not None and not self._frame.eof:
                        raise TruncatedInput("truncated: the zstd data ends inside a frame")
                    return 0
            self._decompress_some()
        n = min(len(buffer), len(self._output))
        buffer[:n] = self._output[:n]
        self._output = self._output[n:]
        return n

    def _decompress_some(self) -> None:
        if self._frame is None or self._frame.eof:
            self._frame = self._zstd.ZstdDecompressor().decompressobj()
        piece, self._input = self._input[: self.PIECE], self._input[self.PIECE :]
        try:
            self._output = self._frame.decompress(piece)
        except self._zstd.ZstdError as exc:
            raise ValueError(f"corrupt zstd data ({exc})") from exc
        if self._frame.eof:  # the next frame starts in what this one did not use
            self._input = self._frame.unused_data + self._input


class RecordReader:
    """Streams records from input files as Arrow batches of the wanted fields.

    Args:
        files: resolved inputs, read in order.
        text_fields: fields every record must hold as strings (e.g. prompt and response).
        object_fields: fields every record must hold, of any JSON type; passed on as JSON text.
        keep_fields: fields passed through as they are (null where a record lacks them); nested
            values stay Arrow lists and structs.
        batch_size: records per batch.
        skip_errors: send bad records to the batch's rejects instead of raising.
        optional_object_fields: like `object_fields`, but null where a record lacks them.
        field_hints: per text field, text appended to its missing-field message (how to fix);
            by default `--prompt-field` / `--response-field` hints.
        max_chars: a record whose fields hold more characters is rejected (`too-long`) before
            it is tokenized (a tokenizer allocates many times the text's size).
        memory_budget: a record whose text would take more memory than this to tokenize whole
            is rejected (`too-long`) too (None: texts are not encoded whole, or no budget).
        unused_fields: fields the build leaves out, with a warning to log (once) when a record
            holds a non-empty string or list in one (e.g. Alpaca's ``input`` beside ``--prompt-field instruction``).
        data_format: the format the build reads (`sftmask.io.formats.detect`): a record lacking the
            fields that is a record of another format is an error, not a reject.
        delimiter: the field separator of CSV/TSV inputs (default: ``,``, tab for .tsv; a .csv
            header without a comma is split at ``;`` or tab when it holds one).
        warnings: log warnings about the inputs (off for a look at the first records before a build).
    """

    def __init__(
        self,
        files: list[InputFile],
        *,
        text_fields: list[str],
        object_fields: list[str] | None = None,
        keep_fields: list[str],
        batch_size: int,
        skip_errors: bool,
        optional_object_fields: list[str] | None = None,
        field_hints: dict[str, str] | None = None,
        max_chars: int | None = None,
        memory_budget: MemoryBudget | None = None,
        unused_fields: dict[str, str] | None = None,
        data_format: DataFormat | None = None,
        delimiter: str | None = None,
        warnings: bool = True,
    ) -> None:
        self.files = files
        self.data_format = data_format
        self.delimiter = delimiter
        self.warnings = warnings
        self.text_fields = text_fields
        self.object_fields = object_fields or []
        self.optional_object_fields = [
            f for f in optional_object_fields or [] if f not in text_fields and f not in self.object_fields
        ]
        self.field_hints = field_hints
        self.json_fields = [*self.object_fields, *self.optional_object_fields]
        # A text field is kept from its own column; any other kept field gets a column of its own
        # (under KEEP_PREFIX when the data kind reads it as JSON text).
        self.keep_fields = [f for f in dict.fromkeys(keep_fields) if f not in text_fields]
        self.batch_size = batch_size
        self.skip_errors = skip_errors
        self.max_chars = max_chars
        self.memory_budget = memory_budget
        self.unused_fields = dict(unused_fields or {})
        self._only: int | None = None
        self._reset()

    def _reset(self) -> None:
        self.records_read = 0
        self._done_bytes = 0
        self._counter: _CountingReader | None = None
        self._keep_types: dict[str, pa.DataType] = {}
        self._null_rows: dict[str, int] = {}
        self._seen_keep: set[str] = set()

    def for_file(self, index: int) -> RecordReader:
        """A new reader of ``files[index]`` alone, with these options (picklable: a read task of
        a distributed engine). Its records keep their file index, so its batches are this
        reader's records and rejects of that file, in order; they end at the file's end, and
        their `bytes_read` counts from the file's start."""
        reader = copy.copy(self)
        reader._only = index
        reader._reset()
        return reader

    @property
    def total_bytes(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def keep_column(self, name: str) -> str:
        """The batch column holding kept field `name`'s original values."""
        return KEEP_PREFIX + name if name in self.json_fields else name

    def keep_type(self, name: str) -> pa.DataType:
        """The Arrow type of kept field `name` (null while no record had a value)."""
        if name in self.text_fields:
            return pa.large_string()
        return self._keep_types.get(name, pa.null())

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
            stream, self._counter = _open_binary(inp)
            try:
                parse = {"jsonl": self._jsonl, "json": self._json_array}.get(inp.format, self._delimited)
                for line, record in parse(inp, stream):
                    yield inp, file_index, line, record
            except InputDataError:
                raise
            except TruncatedInput as exc:
                raise InputDataError(f"{exc}; the file was cut short (check it with zstd -t)", file=inp.name) from exc
            except EOFError as exc:  # gzip: "Compressed file ended before the end-of-stream marker"
                raise InputDataError(f"truncated: {exc}; the file was cut short (gzip -t)", file=inp.name) from exc
            except (OSError, ValueError) as exc:  # gzip/zstd corruption, I/O errors (remote ones too)
                raise InputDataError(f"cannot read input: {exc}", file=inp.name) from exc
            finally:
                self._done_bytes += self._counter.count
                self._counter = None
                if inp.name != STDIN:
                    stream.close()

    def _batches(self, records: Iterator[tuple[InputFile, int, int, Any]]) -> Iterator[ReadBatch]:
        columns: dict[str, list[Any]] = self._empty()
        rejects: list[Reject] = []
        chars = 0  # text held by this batch: a batch ends at `batch_size` records or MAX_BATCH_CHARS
        for inp, file_index, line, record in records:
            self.records_read += 1
            problem = self._check(record, inp, line)
            if problem is not None:
                rejects.append(problem)
            else:
                assert isinstance(record, dict)
                texts = [record[field_name] for field_name in self.text_fields]
                objects = [orjson.dumps(record[field_name]).decode() for field_name in self.object_fields]
                optional = [record.get(field_name) for field_name in self.optional_object_fields]
                optional = [None if v is None else orjson.dumps(v).decode() for v in optional]
                size = sum(map(len, texts)) + sum(map(len, objects)) + sum(len(v or "") for v in optional)
                too_long = self._too_long(size, functools.partial(_utf8_size, [*texts, *objects, *optional]))
                if too_long is not None:
                    rejects.append(self._reject_or_raise(inp.reject(line, reasons.TOO_LONG, too_long, record)))
                else:
                    chars += size
                    self._append(columns, record, texts, objects, optional, file_index, line)
                    if self.unused_fields and self.warnings:
                        self._warn_unused(record, inp, line)
            if len(columns[LINE_COLUMN]) + len(rejects) >= self.batch_size or chars >= MAX_BATCH_CHARS:
                yield self._batch(columns, rejects, self._position())
                columns, rejects, chars = self._empty(), [], 0
        if columns[LINE_COLUMN] or rejects:
            yield self._batch(columns, rejects, self._done_bytes)

    def _too_long(self, size: int, utf8_size: Callable[[], int]) -> str | None:
        """Why a record of `size` characters (`utf8_size()` bytes) is not tokenized, or None."""
        if self.max_chars is not None and size > self.max_chars:
            return (
                f"{size:,} characters, more than --max-chars {self.max_chars:,} (checked before "
                "tokenizing); raise --max-chars, or split the record"
            )
        return None if self.memory_budget is None else self.memory_budget.problem(size, utf8_size)

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
            arrays[name] = pa.array(columns[name], type=pa.large_string())
        for name in self.keep_fields:
            column = self.keep_column(name)
            arrays[column] = self._keep_array(name, columns[column], columns[FILE_COLUMN], columns[LINE_COLUMN])
        arrays[FILE_COLUMN] = pa.array(columns[FILE_COLUMN], type=pa.int32())
        arrays[LINE_COLUMN] = pa.array(columns[LINE_COLUMN], type=pa.int64())
        return ReadBatch(pa.RecordBatch.from_pydict(arrays), rejects, position)

    def _keep_array(self, name: str, values: list[Any], files: list[int], lines: list[int]) -> pa.Array:
        """A kept column's values with the type of its earlier batches (already written).

        A type can only widen while the column has been all null (the shard writer holds such
        rows until the type is known, for up to `output_writer.HOLD_ROWS` records); a value that
        does not fit the type written so far (a string after ints, a struct gaining a key) fails
        with its file and line instead of being converted or dropped.
        """
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            raise self._type_change(name, values, files, lines, self._keep_types.get(name)) from None
        return self._conform(name, array, values, files, lines)

    def _conform(
        self, name: str, array: pa.Array, values: list[Any] | None, files: list[int], lines: list[int]
    ) -> pa.Array:
        """`array` (kept column `name`'s values) in the column's type so far (see `_keep_array`);
        `values` are its Python values when at hand."""
        known = self._keep_types.get(name)
        if pa.types.is_null(array.type):
            if known is not None:
                return pa.nulls(len(array), known)
            self._null_rows[name] = self._null_rows.get(name, 0) + len(array)
            return array
        if known is None:
            if self._null_rows.get(name, 0) > HOLD_ROWS:
                row = int(np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False))[0])
                raise self._input(files[row]).error(
                    f"kept column {name!r} is null in the first {self._null_rows[name]:,} records and "
                    f"{array.type} here, after the null rows were written; keep only columns with one type",
                    lines[row],
                )
            self._keep_types[name] = array.type
            return array
        if array.type == known:
            return array
        try:
            fits = _unified(known, array.type) == known
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fits = False
        if fits:  # e.g. a struct lacking a key: null there
            return pa.array(array.to_pylist() if values is None else values, type=known)
        raise self._type_change(name, array.to_pylist() if values is None else values, files, lines, known)

    def _input(self, file_index: int) -> InputFile:
        return self.files[file_index] if self.files else InputFile("records", "records", None)

    def _type_change(
        self, name: str, values: list[Any], files: list[int], lines: list[int], known: pa.DataType | None
    ) -> InputDataError:
        """The error naming the first record whose kept value does not fit the column's type."""
        so_far = known
        for row, value in enumerate(values):
            if value is None:
                continue
            here: pa.DataType | str
            try:
                here = pa.array([value]).type
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                here, merged = type(value).__name__, None
            else:
                try:
                    merged = here if so_far is None else _unified(so_far, here)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    merged = None
            if merged is None or (known is not None and merged != known):
                return self._input(files[row]).error(
                    f"kept column {name!r} changes type: {here} here, {so_far or 'another type'} in earlier "
                    "records; keep only columns with one type (the same keys in every object)",
                    lines[row],
                )
            so_far = merged
        return InputDataError(f"kept column {name!r} changes type between records; keep only columns with one type")

    def _check(self, record: Any, inp: InputFile, line: int, fields: list[str] | None = None) -> Reject | None:
        """Validate one parsed record; a Reject when it is unusable (raised unless skipping).

        `fields` lists the record's fields for messages, when `record` holds only some of them.
        """
        if isinstance(record, Reject):
            return self._reject_or_raise(record)
        if not isinstance(record, dict):
            kind = "array" if isinstance(record, list) else type(record).__name__
            hint = ""
            if kind == "array":
                hint = (
                    " (a JSON array file? name it .json or pass --input-format json)"
                    if inp.format == "jsonl"
                    else " (a JSON array file? write one JSON object per line)"
                    if inp.format == "records"
                    else ""
                )
            return self._reject_or_raise(
                inp.reject(line, reasons.NOT_AN_OBJECT, f"record is a JSON {kind}, not an object{hint}", record)
            )
        present = list(record if fields is None else fields)
        for name in [*self.text_fields, *self.object_fields]:
            if name not in record:
                if self.data_format is not None:
                    other = classify(record)
                    if other is not None and other.key != self.data_format.key:
                        raise inp.error(mixed_message(other, record, self.data_format), line)
                names = ", ".join(map(str, present)) or "none"
                close = closest(name, map(str, present))
                mean = f" (did you mean {close!r}?)" if close else ""
                message = (
                    f"field {name!r} not found{mean}; fields are {names}{self._hint(name, present, record, close)}"
                )
                return self._reject_or_raise(inp.reject(line, reasons.MISSING_FIELD, message, record))
        for name in self.text_fields:
            value = record[name]
            if not isinstance(value, str):
                kind = "null" if value is None else type(value).__name__
                return self._reject_or_raise(
                    inp.reject(line, reasons.NOT_A_STRING, f"field {name!r} is {kind}, not a string", record)
                )
        if not self._seen_keep:
            missing = [name for name in self.keep_fields if name not in present]
            if missing:
                names = ", ".join(map(str, present))
                raise inp.error(f"--keep-columns {','.join(missing)} not found; fields are {names}", line)
            self._seen_keep.add("checked")
        return None

    def _warn_unused(self, record: dict[str, Any], inp: InputFile, position: int) -> None:
        for name, warning in list(self.unused_fields.items()):
            value = record.get(name)
            if (isinstance(value, str) and value.strip()) or (isinstance(value, list) and value):
                log.warning("%s: field %r is not empty: %s", inp.where(position), name, warning)
                del self.unused_fields[name]

    def _hint(self, name: str, present: list[str], record: dict[str, Any], close: str | None = None) -> str:
        """How to read the record: another data kind's options, or the option naming the field
        (with the close field name, when there is one)."""
        if self.field_hints is None:
            return suggest_data_kind(present, record) or _flag_hint(name, self.text_fields, close)
        hint = self.field_hints.get(name, "")
        return hint.replace("NAME", close) if close else hint

    def _reject_or_raise(self, reject: Reject) -> Reject:
        if not self.skip_errors:
            message = reject.message + "; fix the record or pass --on-error skip"
            if reject.unit == "line":
                raise InputDataError(message, file=reject.file, line=reject.line)
            raise InputDataError(message, file=reject.file, row=reject.line)
        return reject

    # --- tables: Parquet, Arrow, `datasets` folders --------------------------------------------

    def _table_batches(self, file_index: int, inp: InputFile) -> Iterator[ReadBatch]:
        """The records of a table input, `batch_size` rows at a time, checked like JSON records."""
        # Chat columns are read too when the records might be chat data, for `suggest_data_kind`.
        hinted = CHAT_FIELDS if self.field_hints is None else ()
        if self.data_format is not None:  # a record of another format is told by these
            hinted = (*hinted, *SAMPLE_FIELDS)
        wanted = [*self.text_fields, *self.json_fields, *self.keep_fields, *self.unused_fields, *hinted]
        wanted = list(dict.fromkeys(wanted))
        row = 0
        try:
            for schema_names, source in _record_batches(inp, wanted, self.batch_size):
                for start in range(0, source.num_rows, self.batch_size):
                    part = source.slice(start, self.batch_size)
                    batch = self._from_arrow(part, file_index, inp, row, schema_names)
                    row += part.num_rows
                    self.records_read += part.num_rows
                    yield batch
        except InputDataError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise InputDataError(f"cannot read input: {exc}", file=inp.name) from exc
        except Exception as exc:  # a remote filesystem's own errors (botocore, aiohttp...) mid-read
            if not remote.is_remote(inp.name):
                raise
            raise InputDataError(f"cannot read input: {type(exc).__name__}: {exc}", file=inp.name) from exc
        finally:
            self._done_bytes += inp.size or 0

    def _from_arrow(
        self, source: pa.RecordBatch, file_index: int, inp: InputFile, first_row: int, schema_names: list[str]
    ) -> ReadBatch:
        names = set(source.schema.names)
        n_rows = source.num_rows
        bad = np.zeros(n_rows, dtype=np.bool_)
        for name in [*self.text_fields, *self.object_fields]:
            if name not in names:
                bad[:] = True
            elif name in self.text_fields:
                column = source.column(name)
                if _is_string(column.type):
                    bad |= column.is_null().to_numpy(zero_copy_only=False)
                else:
                    bad[:] = True
        rejects: dict[int, Reject] = {}
        if not self._seen_keep or bad.any():
            # The first record checks the kept fields; bad records get the JSON reader's rejects.
            check_rows = sorted({*np.flatnonzero(bad).tolist(), *([0] if n_rows and not self._seen_keep else [])})
            for index in check_rows:
                record = source.slice(index, 1).to_pylist()[0]
                problem = self._check(record, inp, first_row + index, schema_names)
                if problem is not None:
                    rejects[index] = problem
                else:
                    bad[index] = False
        # Fields read as JSON text, and each record's size for --max-chars (as the JSON reader counts it).
        json_texts: dict[str, list[str | None]] = {}
        for name in self.json_fields:
            values = source.column(name).to_pylist() if name in names else [None] * n_rows
            required = name in self.object_fields
            json_texts[name] = [None if v is None and not required else orjson.dumps(v).decode() for v in values]
        if self.max_chars is not None or self.memory_budget is not None:
            sizes = np.zeros(n_rows, dtype=np.int64)
            utf8_sizes = np.zeros(n_rows, dtype=np.int64)
            for name in self.text_fields:
                if name in names and _is_string(source.column(name).type):
                    column = source.column(name)
                    if pa.types.is_string_view(column.type):  # the length kernels take no views
                        column = column.cast(pa.large_string())
                    sizes += pc.fill_null(pc.utf8_length(column), 0).to_numpy(zero_copy_only=False)
                    utf8_sizes += pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
            for texts in json_texts.values():
                sizes += np.array([len(t or "") for t in texts], dtype=np.int64)
            flagged = np.zeros(n_rows, dtype=np.bool_)  # worth a closer look
            if self.max_chars is not None:
                flagged |= sizes > self.max_chars
            if self.memory_budget is not None:
                flagged |= 4 * sizes > self.memory_budget.text_bytes
            for index in np.flatnonzero(~bad & flagged).tolist():
                here = [int(utf8_sizes[index]), *(t[index] for t in json_texts.values())]
                too_long = self._too_long(int(sizes[index]), functools.partial(_utf8_size, here))
                if too_long is None:
                    continue
                record = source.slice(index, 1).to_pylist()[0]
                reject = inp.reject(first_row + index, reasons.TOO_LONG, too_long, record)
                rejects[index] = self._reject_or_raise(reject)
                bad[index] = True
        good_rows = np.flatnonzero(~bad)
        rows = source.take(pa.array(good_rows))
        for name in [name for name in self.unused_fields if name in names]:
            values = rows.column(name)
            lengths = None
            if _is_string(values.type):
                lengths = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
            elif pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
                lengths = pc.fill_null(pc.list_value_length(values), 0)
            if lengths is not None:
                filled = np.flatnonzero(lengths.to_numpy(zero_copy_only=False) > 0)
                if len(filled):
                    record = {name: values[int(filled[0])].as_py()}
                    self._warn_unused(record, inp, first_row + int(good_rows[filled[0]]))
        arrays: dict[str, pa.Array] = {}
        for name in self.text_fields:
            arrays[name] = rows.column(name).cast(pa.large_string())
        for name, texts in json_texts.items():
            arrays[name] = pa.array([texts[i] for i in good_rows.tolist()], type=pa.large_string())
        files = [file_index] * rows.num_rows
        lines = (good_rows + first_row).tolist()
        for name in self.keep_fields:
            array = rows.column(name) if name in names else pa.nulls(rows.num_rows)
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            arrays[self.keep_column(name)] = self._conform(name, array, None, files, lines)
        arrays[FILE_COLUMN] = pa.array(np.full(rows.num_rows, file_index, dtype=np.int32))
        arrays[LINE_COLUMN] = pa.array(good_rows + first_row, type=pa.int64())
        ordered = [rejects[i] for i in sorted(rejects)]
        return ReadBatch(pa.RecordBatch.from_pydict(arrays), ordered, self._done_bytes)

    # --- text formats --------------------------------------------------------------------------

    def _jsonl(self, inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
        limit = None if self.max_chars is None else JSON_BYTES_PER_CHAR * self.max_chars + LINE_SLACK_BYTES
        for line_no, raw in enumerate(_lines(stream, limit), start=1):
            if isinstance(raw, _LongLine):
                message = (
                    f"line of {raw.size:,} bytes, longer than any record of --max-chars {self.max_chars:,} characters "
                    f"can be ({JSON_BYTES_PER_CHAR} bytes a character at most); not parsed; raise --max-chars, "
                    "or split the record"
                )
                yield line_no, inp.reject(line_no, reasons.TOO_LONG, message, raw.head)
                continue
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                yield line_no, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                if raw.strip() == b"[":
                    raise inp.error(
                        "this is a JSON array file (it starts with '['), not JSON lines; "
                        "name it .json or pass --input-format json",
                        line_no,
                    ) from exc
                yield line_no, _json_problem(inp, line_no, raw, exc)

    def _json_array(self, inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
        """The items of one top-level JSON array, parsed incrementally (ijson), numbered from 0."""
        import ijson

        count = 0
        try:
            for item in ijson.items(stream, "item", use_float=True):
                yield count, item
                count += 1
        except ijson.JSONError as exc:
            after = f" after row {count - 1}" if count else ""
            raise InputDataError(
                f"not a valid JSON array ({' '.join(str(exc).split())}){after}; "
                "a .json input holds one array of objects, or one object per line",
                file=inp.name,
            ) from exc

    def _delimited(self, inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
        """CSV/TSV records as dicts by header, numbered by the line each starts on.

        A record the CSV parser refuses is a ``malformed-csv`` reject holding its raw text; when
        its quotes are left open, the lines that follow belong to it until they close (a CSV
        reader reads them as the quoted field's text), so no text from inside it becomes a row.
        """
        delimiter = self.delimiter or ("\t" if inp.format == "tsv" else ",")
        lines = _RawLines(stream)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputDataError(f"malformed header: {exc}", file=inp.name, line=1) from exc
        header_text = lines.take()
        if self.delimiter is None and inp.format == "csv" and len(header) == 1:
            sniffed = max(SNIFFED_DELIMITERS, key=header_text.count)
            if header_text.count(sniffed):
                delimiter = sniffed
                header = next(csv.reader([header_text], delimiter=delimiter, strict=True))
                reader = csv.reader(lines, delimiter=delimiter, strict=True)
                if self.warnings:
                    log.warning(
                        "%s: the header has no ',' but %r: reading columns split at %r; pass --delimiter to choose",
                        inp.name,
                        sniffed,
                        sniffed,
                    )
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise InputDataError(
                f"the header names column(s) {', '.join(map(repr, duplicates))} more than once; "
                "rename them so each column has its own name",
                file=inp.name,
                line=1,
            )
        end = lines.count
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raw = lines.take()
                while raw.count('"') % 2 and lines.more():  # a quoted field left open takes the next lines
                    raw += lines.take()
                end = lines.count
                extent = f"lines {start}-{end}" if end > start else f"line {start}"
                fix = (
                    "its quoted field is never closed"
                    if "unexpected end of data" in str(exc)
                    else 'a quote inside a quoted field is written twice ("")'
                )
                message = f"malformed CSV ({extent}): {exc}; {fix}"
                yield start, inp.reject(start, reasons.MALFORMED_CSV, message, raw.rstrip("\r\n"))
                continue
            end = lines.count
            lines.forget()
            if not row:
                continue
            if len(row) != len(header):
                message = f"row has {len(row)} fields but the header has {len(header)}"
                yield start, inp.reject(start, reasons.RAGGED_ROW, message, row)
                continue
            try:
                "".join(row).encode("utf-8")
            except UnicodeEncodeError:
                raw_bytes = "".join(row).encode("utf-8", "surrogateescape")
                bad = raw_bytes.decode("utf-8", "backslashreplace")
                yield start, inp.reject(start, reasons.INVALID_UTF8, _utf8_message(raw_bytes), bad)
                continue
            yield start, dict(zip(header, row, strict=True))


SNIFFED_DELIMITERS = (";", "\t")
"""What a .csv file's header is split at when it holds no comma (and no --delimiter is given)."""


class _RawLines:
    """A text stream's lines for the CSV parser, keeping those it took since the last record.

    Undecodable bytes survive as surrogates so the parser keeps its line count; the record
    holding them is reported (see `_delimited`) instead of failing the whole file.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._taken: list[str] = []
        self._ahead: str | None = None
        self.count = 0
        """Lines read so far."""

    def __iter__(self) -> _RawLines:
        return self

    def __next__(self) -> str:
        if self._ahead is not None:
            line, self._ahead = self._ahead, None
        else:
            line = next(self._stream).decode("utf-8", "surrogateescape")
        self._taken.append(line)
        self.count += 1
        return line

    def more(self) -> bool:
        """Whether a line follows (read ahead, not yet taken)."""
        if self._ahead is None:
            raw = next(self._stream, None)
            if raw is None:
                return False
            self._ahead = raw.decode("utf-8", "surrogateescape")
        return True

    def take(self) -> str:
        """The text of the lines taken since the last `take` or `forget` (then the next line too
        when called after `more`)."""
        if self._ahead is not None:
            next(self)
        text = "".join(self._taken)
        self._taken.clear()
        return text

    def forget(self) -> None:
        self._taken.clear()


def _unified(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type holding values of both (struct keys merged, ints widened); raises if none does."""
    schemas = [pa.schema([pa.field("x", a)]), pa.schema([pa.field("x", b)])]
    return pa.unify_schemas(schemas, promote_options="permissive").field("x").type


CHAT_FIELDS = ("messages", "conversations")


def suggest_data_kind(fields: list[str], record: dict[str, Any]) -> str | None:
    """How to read a record that lacks the prompt/response fields but looks like another kind of
    data: chat messages (OpenAI or ShareGPT style) or Alpaca fields. None when nothing fits."""
    for name in CHAT_FIELDS:
        if name not in fields:
            continue
        value = record.get(name)
        first = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}
        sharegpt = "from" in first or (name == "conversations" and "role" not in first)
        flags = ["--strategy assistant-only"]
        if sharegpt:
            flags.append("--messages-format sharegpt")
        if name != ("conversations" if sharegpt else "messages"):
            flags.append(f"--messages-field {name}")
        style = "ShareGPT (from/value)" if sharegpt else "OpenAI (role/content)"
        return f"; this looks like chat data ({style} messages in {name!r}): pass {' '.join(flags)}"
    if {"instruction", "output"} <= set(fields):
        return "; this looks like Alpaca data (instruction, input, output): pass --template alpaca"
    if "completion" in fields and "response" not in fields:
        return "; this looks like TRL prompt/completion data: pass --response-field completion"
    if "text" in fields and not {"prompt", "response"} & set(fields):
        return "; this looks like text data (TRL language modeling): pass --data-kind text"
    return None


def _flag_hint(name: str, text_fields: list[str], close: str | None = None) -> str:
    flags = {0: "--prompt-field", 1: "--response-field"}
    flag = flags.get(text_fields.index(name)) if name in text_fields else None
    return f"; pass {flag} {close or 'NAME'}" if flag else ""


def _utf8_message(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} is not valid UTF-8; re-encode the file as UTF-8"
    return "not valid UTF-8"


def _utf8_size(texts: Iterable[str | int | None]) -> int:
    """UTF-8 bytes of the texts (an int: bytes counted already)."""
    return sum(t if isinstance(t, int) else len(t.encode("utf-8", "surrogatepass")) for t in texts if t)


@dataclass(frozen=True)
class _LongLine:
    """A line longer than the reader's limit: its start (for the reject) and its size."""

    head: str
    size: int


def _lines(stream: IO[bytes], limit: int | None) -> Iterator[bytes | _LongLine]:
    """The lines of `stream`; one longer than `limit` bytes is skipped in pieces, never held whole
    (a 1 GB line without a newline took 5 GB and minutes to reject as invalid JSON)."""
    if limit is None:
        yield from stream
        return
    while raw := stream.readline(limit + 1):
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw
            continue
        head, size = raw[:LONG_LINE_HEAD], len(raw)
        del raw
        while not (piece := stream.readline(1 << 20)).endswith(b"\n") and piece:
            size += len(piece)
        size += len(piece.rstrip(b"\r\n"))
        yield _LongLine(head.decode("utf-8", "replace") + "...", size)


def _json_problem(inp: InputFile, line_no: int, raw: bytes, exc: orjson.JSONDecodeError) -> Reject:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return inp.reject(line_no, reasons.INVALID_UTF8, _utf8_message(raw), raw.decode("utf-8", "backslashreplace"))
    return inp.reject(
        line_no, reasons.INVALID_JSON, f"not valid JSON ({exc.msg} at column {exc.colno})", text.rstrip("\r\n")
    )


def _is_string(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


ARROW_FILE_MAGIC = b"ARROW1"


def _record_batches(inp: InputFile, wanted: list[str], batch_size: int) -> Iterator[tuple[list[str], pa.RecordBatch]]:
    """Stream a table input's record batches, reading only the `wanted` columns it has.

    Parquet and Arrow IPC files go through the pyarrow dataset API; the Arrow IPC *stream*
    files that `datasets` writes (which that API does not read) through a memory-mapped stream
    reader. Yields each batch with the names of all the file's columns.
    """
    import pyarrow.dataset as ds

    for part in inp.parts or (inp.name,):
        filesystem, path = _arrow_filesystem(part)
        if inp.format == "parquet" or _is_arrow_file(part):
            dataset = ds.dataset(path, format="parquet" if inp.format == "parquet" else "ipc", filesystem=filesystem)
            names = dataset.schema.names
            columns = [name for name in wanted if name in names]
            for batch in dataset.to_batches(columns=columns, batch_size=batch_size):
                if batch.num_rows:
                    yield names, batch
            continue
        opened = pa.memory_map(part) if filesystem is None else filesystem.open_input_stream(path)
        with opened as source:
            reader = pa.ipc.open_stream(source)
            names = reader.schema.names
            columns = [name for name in wanted if name in names]
            for batch in reader:
                if batch.num_rows:
                    yield names, batch.select(columns)


def _arrow_filesystem(name: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) for a remote URL (fsspec, wrapped for pyarrow); (None, name) locally."""
    if not remote.is_remote(name):
        return None, name
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs, path = remote.filesystem(name, InputDataError)
    return PyFileSystem(FSSpecHandler(fs)), path


def _is_arrow_file(name: str) -> bool:
    with remote.open_input(name, InputDataError) if remote.is_remote(name) else open(name, "rb") as f:
        return bool(f.read(len(ARROW_FILE_MAGIC)) == ARROW_FILE_MAGIC)
