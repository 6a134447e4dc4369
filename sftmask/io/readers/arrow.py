"""Tables: Parquet and Arrow files and `datasets` folders, read as Arrow record batches (only the
columns the build needs), numbered by row from 0 and checked like JSON records."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sftmask import reasons
from sftmask.arrays import fill_null, from_numpy, from_strings, to_numpy
from sftmask.errors import InputDataError
from sftmask.io import remote
from sftmask.io.formats import SAMPLE_FIELDS
from sftmask.io.inputs import FILE_COLUMN, LINE_COLUMN, InputFile, ReadBatch, Reject
from sftmask.io.readers.checks import RecordChecks, utf8_size
from sftmask.io.readers.hints import CHAT_FIELDS
from sftmask.io.readers.parts import FilePart


def table_batches(
    checks: RecordChecks, file_index: int, inp: InputFile, bytes_before: int, part: FilePart | None = None
) -> Iterator[ReadBatch]:
    """The records of a table input (of its row groups `part`, of a Parquet file: `readers.parts`),
    `batch_size` rows at a time, checked like JSON records."""
    # Chat columns are read too when the records might be chat data, for `suggest_data_kind`.
    hinted = CHAT_FIELDS if checks.field_hints is None else ()
    if checks.data_format is not None:  # a record of another format is told by these
        hinted = (*hinted, *SAMPLE_FIELDS)
    wanted = [*checks.text_fields, *checks.json_fields, *checks.keep_fields, *checks.unused_fields, *hinted]
    wanted = list(dict.fromkeys(wanted))
    row = 0 if part is None else part.first_row
    try:
        for schema_names, source in record_batches(inp, wanted, checks.batch_size, part):
            for start in range(0, source.num_rows, checks.batch_size):
                piece = source.slice(start, checks.batch_size)
                batch = from_arrow(checks, piece, file_index, inp, row, schema_names, bytes_before)
                row += piece.num_rows
                yield batch
    except InputDataError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise InputDataError(f"cannot read input: {remote.read_failure(exc)}", file=inp.name) from exc
    except Exception as exc:  # a remote filesystem's own errors (botocore, aiohttp...) mid-read
        if not remote.is_remote(inp.name):
            raise
        raise InputDataError(f"cannot read input: {type(exc).__name__}: {exc}", file=inp.name) from exc


def from_arrow(
    checks: RecordChecks,
    source: pa.RecordBatch,
    file_index: int,
    inp: InputFile,
    first_row: int,
    schema_names: list[str],
    bytes_before: int,
) -> ReadBatch:
    """One batch of a table's rows, checked: the good rows as columns, the others rejects."""
    source = _without_views(source)
    names = set(source.schema.names)
    n_rows = source.num_rows
    bad = np.zeros(n_rows, dtype=np.bool_)
    for name in [*checks.text_fields, *checks.object_fields]:
        if name not in names:
            bad[:] = True
        elif name in checks.text_fields:
            column = source.column(name)
            if is_string(column.type):
                bad |= to_numpy(column.is_null())
            else:
                bad[:] = True
    rejects: dict[int, Reject] = {}
    if not checks.seen_keep or bad.any():
        # The first record checks the kept fields; bad records get the JSON reader's rejects.
        check_rows = sorted({*np.flatnonzero(bad).tolist(), *([0] if n_rows and not checks.seen_keep else [])})
        for index in check_rows:
            record = python_rows(source.slice(index, 1))[0]
            problem = checks.check(record, inp, first_row + index, schema_names)
            if problem is not None:
                rejects[index] = problem
            else:
                bad[index] = False
    # Fields read as JSON text, and each record's size for --max-chars (as the JSON reader counts it).
    json_texts: dict[str, list[str | None]] = {}
    for name in checks.json_fields:
        values = python_values(source.column(name)) if name in names else [None] * n_rows
        required = name in checks.object_fields
        json_texts[name] = [None if v is None and not required else orjson.dumps(v).decode() for v in values]
    if checks.max_chars is not None or checks.memory_budget is not None:
        sizes = np.zeros(n_rows, dtype=np.int64)
        utf8_sizes = np.zeros(n_rows, dtype=np.int64)
        for name in checks.text_fields:
            if name in names and is_string(source.column(name).type):
                column = source.column(name)
                sizes += to_numpy(fill_null(pc.utf8_length(column), 0))
                utf8_sizes += to_numpy(fill_null(pc.binary_length(column), 0))
        for texts in json_texts.values():
            sizes += np.array([len(t or "") for t in texts], dtype=np.int64)
        flagged = np.zeros(n_rows, dtype=np.bool_)  # worth a closer look
        if checks.max_chars is not None:
            flagged |= sizes > checks.max_chars
        if checks.memory_budget is not None:
            flagged |= 4 * sizes > checks.memory_budget.text_bytes
        for index in np.flatnonzero(~bad & flagged).tolist():
            here = [int(utf8_sizes[index]), *(t[index] for t in json_texts.values())]
            too_long = checks.too_long(int(sizes[index]), functools.partial(utf8_size, here))
            if too_long is None:
                continue
            record = python_rows(source.slice(index, 1))[0]
            reject = inp.reject(first_row + index, reasons.TOO_LONG, too_long, record)
            rejects[index] = checks.reject_or_raise(reject)
            bad[index] = True
    good_rows = np.flatnonzero(~bad)
    rows = source.take(from_numpy(good_rows))
    for name in [name for name in checks.unused_fields if name in names]:
        values = rows.column(name)
        lengths = None
        if is_string(values.type):
            lengths = fill_null(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
        elif pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
            lengths = fill_null(pc.list_value_length(values), 0)
        if lengths is not None:
            filled = np.flatnonzero(to_numpy(lengths) > 0)
            if len(filled):
                record = {name: values[int(filled[0])].as_py()}
                checks.warn_unused(record, inp, first_row + int(good_rows[filled[0]]))
    arrays: dict[str, pa.Array] = {}
    for name in checks.text_fields:  # a field the file lacks: every row was rejected (--on-error skip)
        arrays[name] = (
            rows.column(name).cast(pa.large_string()) if name in names else pa.nulls(rows.num_rows, pa.large_string())
        )
    for name, texts in json_texts.items():
        arrays[name] = from_strings([texts[i] for i in good_rows.tolist()])
    files = [file_index] * rows.num_rows
    lines = (good_rows + first_row).tolist()
    for name in checks.keep_fields:
        array = rows.column(name) if name in names else pa.nulls(rows.num_rows)
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        arrays[checks.keep_column(name)] = checks.conform(name, array, None, files, lines)
    arrays[FILE_COLUMN] = from_numpy(np.full(rows.num_rows, file_index, dtype=np.int32))
    arrays[LINE_COLUMN] = from_numpy(good_rows + first_row)
    ordered = [rejects[i] for i in sorted(rejects)]
    return ReadBatch(pa.RecordBatch.from_pydict(arrays), ordered, bytes_before)


def python_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The batch's rows as Python values, with Arrow's JSON extension values (`datasets`' ``Json``
    feature: a column whose values differ in shape, such as messages whose content is text in some
    and a list of parts in others) parsed, as `datasets` reads them back."""
    rows: list[dict[str, Any]] = batch.to_pylist()
    for field in (f for f in batch.schema if _holds_json(f.type)):
        for row in rows:
            row[field.name] = _parsed(row[field.name], field.type)
    return rows


def python_values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """A column's values as Python values, JSON extension values parsed (see `python_rows`)."""
    values = column.to_pylist()
    return [_parsed(v, column.type) for v in values] if _holds_json(column.type) else values


def _holds_json(kind: pa.DataType) -> bool:
    if isinstance(kind, pa.JsonType):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _holds_json(kind.value_type)
    if pa.types.is_struct(kind):
        return any(_holds_json(field.type) for field in kind)
    return False


def _parsed(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if isinstance(kind, pa.JsonType):
        return orjson.loads(value)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return [_parsed(v, kind.value_type) for v in value]
    if pa.types.is_struct(kind):
        return {field.name: _parsed(value.get(field.name), field.type) for field in kind}
    return value


_UNVIEWED = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
"""The type each view column is read as: `take` and the length kernels take no views (pyarrow 26),
and a kept column is then what a Parquet string or binary column gives."""


def _without_views(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with its string and binary view columns (Polars writes them) cast to plain ones."""
    if not any(field.type in _UNVIEWED for field in batch.schema):
        return batch
    columns = [c.cast(_UNVIEWED[c.type]) if c.type in _UNVIEWED else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def is_string(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


ARROW_FILE_MAGIC = b"ARROW1"


def record_batches(
    inp: InputFile, wanted: list[str], batch_size: int, part: FilePart | None = None
) -> Iterator[tuple[list[str], pa.RecordBatch]]:
    """Stream a table input's record batches (of row groups `part` of a Parquet file), reading only
    the `wanted` columns it has.

    Parquet files are read a row group at a time and Arrow IPC files a record batch at a time, in
    batches of at most `batch_size` rows (the batches the pyarrow dataset API gives, without
    importing it: `pyarrow.dataset` imports pandas); the Arrow IPC *stream* files that `datasets`
    writes through a memory-mapped stream reader. Yields each batch with the names of all the
    file's columns.
    """
    if part is not None:
        yield from _row_groups(inp, wanted, batch_size, part)
        return
    for name in inp.parts or (inp.name,):
        filesystem, path = _arrow_filesystem(name)
        if inp.format == "parquet":
            yield from _parquet_batches(path, filesystem, wanted, batch_size)
            continue
        if _is_arrow_file(name):
            yield from _arrow_file_batches(name, path, filesystem, wanted, batch_size)
            continue
        opened = pa.memory_map(name) if filesystem is None else filesystem.open_input_stream(path)
        with opened as source:
            reader = pa.ipc.open_stream(source)
            names = reader.schema.names
            columns = [name for name in wanted if name in names]
            for batch in reader:
                if batch.num_rows:
                    yield names, batch.select(columns)


def _parquet_batches(
    path: str, filesystem: Any, wanted: list[str], batch_size: int
) -> Iterator[tuple[list[str], pa.RecordBatch]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path if filesystem is None else filesystem.open_input_file(path))
    with parquet:
        names = parquet.schema_arrow.names
        columns = [name for name in wanted if name in names]
        for group in range(parquet.num_row_groups):  # a batch never spans two row groups
            for batch in parquet.iter_batches(batch_size, row_groups=[group], columns=columns):
                if batch.num_rows:
                    yield names, batch


def _arrow_file_batches(
    name: str, path: str, filesystem: Any, wanted: list[str], batch_size: int
) -> Iterator[tuple[list[str], pa.RecordBatch]]:
    opened = pa.memory_map(name) if filesystem is None else filesystem.open_input_file(path)
    with opened as source:
        reader = pa.ipc.open_file(source)
        names = reader.schema.names
        columns = [name for name in wanted if name in names]
        for index in range(reader.num_record_batches):  # a batch never spans two of the file's
            batch = reader.get_batch(index).select(columns)
            for start in range(0, batch.num_rows, batch_size):
                yield names, batch.slice(start, batch_size)


def _row_groups(
    inp: InputFile, wanted: list[str], batch_size: int, part: FilePart
) -> Iterator[tuple[list[str], pa.RecordBatch]]:
    """The record batches of row groups [part.start, part.end) of a Parquet file."""
    import pyarrow.parquet as pq

    filesystem, path = _arrow_filesystem(inp.name)
    parquet = pq.ParquetFile(path if filesystem is None else filesystem.open_input_file(path))
    with parquet:
        names = parquet.schema_arrow.names
        columns = [name for name in wanted if name in names]
        for batch in parquet.iter_batches(batch_size, row_groups=range(part.start, part.end), columns=columns):
            if batch.num_rows:
                yield names, batch


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
