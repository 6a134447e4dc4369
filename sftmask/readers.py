"""Input readers: JSONL / CSV / TSV (optionally .gz / .zst, or stdin) -> Arrow record batches.

Each record keeps its file and line, so errors and rejects point at the exact line.
"""

from __future__ import annotations

import copy
import csv
import glob
import gzip
import io
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa

from sftmask import reasons, remote
from sftmask.errors import ConfigError, InputDataError
from sftmask.output_writer import HOLD_ROWS

FILE_COLUMN = "_sftmask_file"
LINE_COLUMN = "_sftmask_line"
STDIN = "-"

SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
COMPRESSIONS = (".gz", ".zst")

MAX_BATCH_CHARS = 32 << 20
"""A batch also ends once its records hold this much text, so a huge --batch-size (or huge
records) cannot hold gigabytes in flight: memory is bounded by bytes, not only records."""


@dataclass(frozen=True)
class Reject:
    """One record that was not written, with where it came from and why."""

    file: str
    line: int
    reason: str
    message: str
    record: Any


@dataclass
class ReadBatch:
    """Up to `batch_size` records as columns, plus the records of the same span that failed."""

    table: pa.RecordBatch
    rejects: list[Reject] = field(default_factory=list)
    bytes_read: int = 0
    """Bytes of input consumed so far, over all files (compressed size for .gz/.zst)."""


@dataclass(frozen=True)
class InputFile:
    name: str
    format: str
    size: int | None


def resolve_inputs(patterns: Iterable[str], input_format: str | None) -> list[InputFile]:
    """Expand globs in the order given and decide each file's format.

    A pattern may be a URL of any filesystem fsspec reaches (``s3://bucket/chats/*.jsonl.zst``);
    its files keep their URLs as names, so rejects say which object they came from.

    Raises:
        InputDataError: a path or glob matches no file, or a remote filesystem refuses.
        ConfigError: a file's format cannot be told from its name.
    """
    files: list[InputFile] = []
    for pattern in patterns:
        if pattern == STDIN:
            files.append(InputFile(STDIN, input_format or "jsonl", None))
            continue
        if remote.is_remote(pattern):
            for url, size in remote.expand(pattern, InputDataError):
                files.append(InputFile(url, input_format or _format_of(url), size))
            continue
        pattern = remote.local_path(pattern)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise InputDataError(f"no file matches {pattern!r}")
        for name in matches:
            path = Path(name)
            if not path.is_file():
                raise InputDataError("no such file" if not path.exists() else "not a file", file=name)
            files.append(InputFile(name, input_format or _format_of(name), path.stat().st_size))
    return files


def _format_of(name: str) -> str:
    stem = name
    for suffix in COMPRESSIONS:
        stem = stem.removesuffix(suffix)
    fmt = SUFFIX_FORMATS.get(os.path.splitext(stem)[1].lower())
    if fmt is None:
        raise ConfigError(f"{name}: cannot tell the input format from the file name; pass --input-format jsonl|csv|tsv")
    return fmt


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
    if inp.name.endswith(".gz"):
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    if inp.name.endswith(".zst"):
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
        keep_fields: fields passed through as they are (null where a record lacks them).
        batch_size: records per batch.
        skip_errors: send bad records to the batch's rejects instead of raising.
        optional_object_fields: like `object_fields`, but null where a record lacks them.
        field_hints: per text field, text appended to its missing-field message (how to fix);
            by default `--prompt-field` / `--response-field` hints.
        max_chars: a record whose fields hold more characters is rejected (`too-long`) before
            it is tokenized (a tokenizer allocates many times the text's size).
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
    ) -> None:
        self.files = files
        self.text_fields = text_fields
        self.object_fields = object_fields or []
        self.optional_object_fields = [
            f for f in optional_object_fields or [] if f not in text_fields and f not in self.object_fields
        ]
        self.field_hints = field_hints
        json_fields = [*self.object_fields, *self.optional_object_fields]
        self.keep_fields = [f for f in keep_fields if f not in text_fields and f not in json_fields]
        self.batch_size = batch_size
        self.skip_errors = skip_errors
        self.max_chars = max_chars
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

    def __iter__(self) -> Iterator[ReadBatch]:
        return self._batches(self._file_records())

    def read_records(self, records: Iterable[Any], name: str) -> Iterator[ReadBatch]:
        """Batches of in-memory records, checked like those of a file called `name`.

        A record's position (the "line" of errors and rejects) is its index, from 0.
        """
        return self._batches((name, 0, index, record) for index, record in enumerate(records))

    def _file_records(self) -> Iterator[tuple[str, int, int, Any]]:
        """(file name, file index, line, parsed record or Reject) over the input files."""
        for file_index, inp in enumerate(self.files):
            if self._only is not None and file_index != self._only:
                continue
            stream, self._counter = _open_binary(inp)
            try:
                parse = self._jsonl if inp.format == "jsonl" else self._delimited
                for line, record in parse(inp, stream):
                    yield inp.name, file_index, line, record
            except InputDataError:
                raise
            except TruncatedInput as exc:
                raise InputDataError(f"{exc}; the file was cut short (check it with zstd -t)", file=inp.name) from exc
            except EOFError as exc:  # gzip: "Compressed file ended before the end-of-stream marker"
                raise InputDataError(f"truncated: {exc}; the file was cut short (gzip -t)", file=inp.name) from exc
            except (OSError, ValueError) as exc:  # gzip/zstd corruption, I/O errors
                raise InputDataError(f"cannot read input: {exc}", file=inp.name) from exc
            except Exception as exc:  # a remote filesystem's own errors (botocore, aiohttp...) mid-read
                if not remote.is_remote(inp.name):
                    raise
                raise InputDataError(f"cannot read input: {type(exc).__name__}: {exc}", file=inp.name) from exc
            finally:
                self._done_bytes += self._counter.count
                self._counter = None
                if inp.name != STDIN:
                    stream.close()

    def _batches(self, records: Iterator[tuple[str, int, int, Any]]) -> Iterator[ReadBatch]:
        columns: dict[str, list[Any]] = self._empty()
        rejects: list[Reject] = []
        chars = 0  # text held by this batch: a batch ends at `batch_size` records or MAX_BATCH_CHARS
        for name, file_index, line, record in records:
            self.records_read += 1
            problem = self._check(record, name, line)
            if problem is not None:
                rejects.append(problem)
            else:
                assert isinstance(record, dict)
                texts = [record[field_name] for field_name in self.text_fields]
                objects = [orjson.dumps(record[field_name]).decode() for field_name in self.object_fields]
                optional = [record.get(field_name) for field_name in self.optional_object_fields]
                optional = [None if v is None else orjson.dumps(v).decode() for v in optional]
                size = sum(map(len, texts)) + sum(map(len, objects)) + sum(len(v or "") for v in optional)
                if self.max_chars is not None and size > self.max_chars:
                    message = (
                        f"{size:,} characters, more than --max-chars {self.max_chars:,} (checked before "
                        "tokenizing); raise --max-chars, or split the record"
                    )
                    rejects.append(self._reject_or_raise(Reject(name, line, "too-long", message, record)))
                else:
                    chars += size
                    self._append(columns, record, texts, objects, optional, file_index, line)
            if len(columns[LINE_COLUMN]) + len(rejects) >= self.batch_size or chars >= MAX_BATCH_CHARS:
                yield self._batch(columns, rejects, self._position())
                columns, rejects, chars = self._empty(), [], 0
        if columns[LINE_COLUMN] or rejects:
            yield self._batch(columns, rejects, self._done_bytes)

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
            columns[name].append(record.get(name))
        columns[FILE_COLUMN].append(file_index)
        columns[LINE_COLUMN].append(line)

    def _empty(self) -> dict[str, list[Any]]:
        names = [
            *self.text_fields,
            *self.object_fields,
            *self.optional_object_fields,
            *self.keep_fields,
            FILE_COLUMN,
            LINE_COLUMN,
        ]
        return {name: [] for name in names}

    def _batch(self, columns: dict[str, list[Any]], rejects: list[Reject], position: int) -> ReadBatch:
        arrays: dict[str, pa.Array] = {}
        for name in [*self.text_fields, *self.object_fields, *self.optional_object_fields]:
            arrays[name] = pa.array(columns[name], type=pa.large_string())
        for name in self.keep_fields:
            arrays[name] = self._keep_array(name, columns[name], columns[FILE_COLUMN], columns[LINE_COLUMN])
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
        known = self._keep_types.get(name)
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            raise self._type_change(name, values, files, lines, known) from None
        if pa.types.is_null(array.type):
            if known is not None:
                return pa.nulls(len(values), known)
            self._null_rows[name] = self._null_rows.get(name, 0) + len(values)
            return array
        if known is None:
            if self._null_rows.get(name, 0) > HOLD_ROWS:
                row = next(i for i, v in enumerate(values) if v is not None)
                raise InputDataError(
                    f"kept column {name!r} is null in the first {self._null_rows[name]:,} records and "
                    f"{array.type} here, after the null rows were written; keep only columns with one type",
                    file=self.files[files[row]].name,
                    line=lines[row],
                )
            self._keep_types[name] = array.type
            return array
        if array.type == known:
            return array
        try:
            fits = _unified(known, array.type) == known
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fits = False
        if fits:
            return pa.array(values, type=known)  # e.g. a struct lacking a key: null there
        raise self._type_change(name, values, files, lines, known)

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
                return InputDataError(
                    f"kept column {name!r} changes type: {here} here, {so_far or 'another type'} in earlier "
                    "records; keep only columns with one type (the same keys in every object)",
                    file=self.files[files[row]].name,
                    line=lines[row],
                )
            so_far = merged
        return InputDataError(f"kept column {name!r} changes type between records; keep only columns with one type")

    def keep_type(self, name: str) -> pa.DataType:
        """The type of a kept column so far (null while no record had a value)."""
        return self._keep_types.get(name, pa.null())

    def _check(self, record: Any, file: str, line: int) -> Reject | None:
        """Validate one parsed record; a Reject when it is unusable (raised unless skipping)."""
        if isinstance(record, Reject):
            return self._reject_or_raise(record)
        if not isinstance(record, dict):
            kind = "array" if isinstance(record, list) else type(record).__name__
            hint = " (a JSON array file? write one JSON object per line)" if kind == "array" else ""
            return self._reject_or_raise(
                Reject(file, line, reasons.NOT_AN_OBJECT, f"record is a JSON {kind}, not an object{hint}", record)
            )
        for name in [*self.text_fields, *self.object_fields]:
            if name not in record:
                fields = ", ".join(map(str, record)) or "none"
                message = f"field {name!r} not found; fields are {fields}{self._hint(name)}"
                return self._reject_or_raise(Reject(file, line, reasons.MISSING_FIELD, message, record))
        for name in self.text_fields:
            value = record[name]
            if not isinstance(value, str):
                kind = "null" if value is None else type(value).__name__
                return self._reject_or_raise(
                    Reject(file, line, reasons.NOT_A_STRING, f"field {name!r} is {kind}, not a string", record)
                )
        if not self._seen_keep:
            missing = [name for name in self.keep_fields if name not in record]
            if missing:
                fields = ", ".join(map(str, record))
                raise InputDataError(
                    f"--keep-columns {','.join(missing)} not found; fields are {fields}", file=file, line=line
                )
            self._seen_keep.add("checked")
        return None

    def _hint(self, name: str) -> str:
        if self.field_hints is None:
            return _flag_hint(name, self.text_fields)
        return self.field_hints.get(name, "")

    def _reject_or_raise(self, reject: Reject) -> Reject:
        if not self.skip_errors:
            raise InputDataError(
                reject.message + "; fix the record or pass --on-error skip", file=reject.file, line=reject.line
            )
        return reject

    def _jsonl(self, inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
        for line_no, raw in enumerate(stream, start=1):
            if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                yield line_no, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield line_no, _json_problem(inp.name, line_no, raw, exc)

    def _delimited(self, inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
        delimiter = "\t" if inp.format == "tsv" else ","
        lines = _decoded_lines(stream)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputDataError(f"malformed header: {exc}", file=inp.name, line=1) from exc
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
        end = reader.line_num
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                end = reader.line_num
                yield start, Reject(inp.name, start, reasons.MALFORMED_CSV, f"malformed CSV: {exc}", None)
                continue
            end = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                yield (
                    start,
                    Reject(
                        inp.name,
                        start,
                        reasons.RAGGED_ROW,
                        f"row has {len(row)} fields but the header has {len(header)}",
                        row,
                    ),
                )
                continue
            try:
                "".join(row).encode("utf-8")
            except UnicodeEncodeError:
                raw = "".join(row).encode("utf-8", "surrogateescape")
                bad = raw.decode("utf-8", "backslashreplace")
                yield start, Reject(inp.name, start, reasons.INVALID_UTF8, _utf8_message(raw), bad)
                continue
            yield start, dict(zip(header, row, strict=True))


def _unified(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type holding values of both (struct keys merged, ints widened); raises if none does."""
    schemas = [pa.schema([pa.field("x", a)]), pa.schema([pa.field("x", b)])]
    return pa.unify_schemas(schemas, promote_options="permissive").field("x").type


def _flag_hint(name: str, text_fields: list[str]) -> str:
    flags = {0: "--prompt-field", 1: "--response-field"}
    flag = flags.get(text_fields.index(name)) if name in text_fields else None
    return f"; pass {flag} NAME" if flag else ""


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    # Undecodable bytes survive as surrogates so the CSV parser keeps its line count; the
    # record holding them is reported (see `_delimited`) instead of failing the whole file.
    for raw in stream:
        yield raw.decode("utf-8", "surrogateescape")


def _utf8_message(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} is not valid UTF-8; re-encode the file as UTF-8"
    return "not valid UTF-8"


def _json_problem(name: str, line_no: int, raw: bytes, exc: orjson.JSONDecodeError) -> Reject:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Reject(name, line_no, reasons.INVALID_UTF8, _utf8_message(raw), raw.decode("utf-8", "backslashreplace"))
    return Reject(
        name, line_no, reasons.INVALID_JSON, f"not valid JSON ({exc.msg} at column {exc.colno})", text.rstrip("\r\n")
    )
