"""Checks of one record, shared by every input format (see `RecordChecks`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from sftmask import reasons
from sftmask.arrays import from_numpy, from_strings, to_numpy
from sftmask.errors import InputDataError, closest
from sftmask.io.formats import DataFormat, classify, mixed_message
from sftmask.io.inputs import KEEP_PREFIX, InputFile, Reject
from sftmask.io.readers.hints import flag_hint, suggest_data_kind
from sftmask.io.writer import HOLD_ROWS
from sftmask.limits import MemoryBudget

log = logging.getLogger("sftmask.io.readers")


class RecordChecks:
    """What every reader checks of a record, whatever its format: the fields the build reads are
    there and of the right type, its size (--max-chars, the memory budget), and the kept columns
    keep one Arrow type. `RecordReader` reads; the format modules call these checks.

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
        self._reset()

    def _reset(self) -> None:
        self._keep_types: dict[str, pa.DataType] = {}
        self._null_rows: dict[str, int] = {}
        self.seen_keep: set[str] = set()
        """Not empty once the first record was checked for the kept fields."""

    def keep_column(self, name: str) -> str:
        """The batch column holding kept field `name`'s original values."""
        return KEEP_PREFIX + name if name in self.json_fields else name

    def keep_type(self, name: str) -> pa.DataType:
        """The Arrow type of kept field `name` (null while no record had a value)."""
        if name in self.text_fields:
            return pa.large_string()
        return self._keep_types.get(name, pa.null())

    def too_long(self, size: int, utf8_size: Callable[[], int]) -> str | None:
        """Why a record of `size` characters (`utf8_size()` bytes) is not tokenized, or None."""
        if self.max_chars is not None and size > self.max_chars:
            return (
                f"{size:,} characters, more than --max-chars {self.max_chars:,} (checked before "
                "tokenizing); raise --max-chars, or split the record"
            )
        return None if self.memory_budget is None else self.memory_budget.problem(size, utf8_size)

    def _keep_array(self, name: str, values: list[Any], files: list[int], lines: list[int]) -> pa.Array:
        """A kept column's values with the type of its earlier batches (already written).

        A type can only widen while the column has been all null (the shard writer holds such
        rows until the type is known, for up to `output_writer.HOLD_ROWS` records); a value that
        does not fit the type written so far (a string after ints, a struct gaining a key) fails
        with its file and line instead of being converted or dropped.
        """
        try:
            array = _simple_array(values)
            if array is None:
                array = pa.array(values)  # nested or mixed values: pyarrow's inference (imports pandas)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            raise self._type_change(name, values, files, lines, self._keep_types.get(name)) from None
        return self.conform(name, array, values, files, lines)

    def conform(
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
                row = int(np.flatnonzero(to_numpy(array.is_valid()))[0])
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
            fits = unified(known, array.type) == known
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
                if isinstance(value, int):  # past int64, where Arrow's type inference stops (as `datasets`')
                    return self._input(files[row]).error(
                        f"kept column {name!r} holds {value}, past the signed 64-bit integers a kept "
                        "column can hold; write it as a string",
                        lines[row],
                    )
                here, merged = type(value).__name__, None
            else:
                try:
                    merged = here if so_far is None else unified(so_far, here)
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

    def check(self, record: Any, inp: InputFile, line: int, fields: list[str] | None = None) -> Reject | None:
        """Validate one parsed record; a Reject when it is unusable (raised unless skipping).

        `fields` lists the record's fields for messages, when `record` holds only some of them.
        """
        if isinstance(record, Reject):
            return self.reject_or_raise(record)
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
            return self.reject_or_raise(
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
                return self.reject_or_raise(inp.reject(line, reasons.MISSING_FIELD, message, record))
        for name in self.text_fields:
            value = record[name]
            if not isinstance(value, str):
                kind = "null" if value is None else type(value).__name__
                return self.reject_or_raise(
                    inp.reject(line, reasons.NOT_A_STRING, f"field {name!r} is {kind}, not a string", record)
                )
        if not self.seen_keep:
            missing = [name for name in self.keep_fields if name not in present]
            if missing:
                names = ", ".join(map(str, present))
                raise inp.error(f"--keep-columns {','.join(missing)} not found; fields are {names}", line)
            self.seen_keep.add("checked")
        return None

    def warn_unused(self, record: dict[str, Any], inp: InputFile, position: int) -> None:
        for name, warning in list(self.unused_fields.items()):
            value = record.get(name)
            if (isinstance(value, str) and value.strip()) or (isinstance(value, list) and value):
                # `input_position`: a part task's driver makes it the file's line (engines.ray)
                extra = {"input_position": position, "once": f"unused field {name}"}
                log.warning("%s: field %r is not empty: %s", inp.where(position), name, warning, extra=extra)
                del self.unused_fields[name]

    def _hint(self, name: str, present: list[str], record: dict[str, Any], close: str | None = None) -> str:
        """How to read the record: another data kind's options, or the option naming the field
        (with the close field name, when there is one)."""
        if self.field_hints is None:
            return suggest_data_kind(present, record) or flag_hint(name, self.text_fields, close)
        hint = self.field_hints.get(name, "")
        return hint.replace("NAME", close) if close else hint

    def reject_or_raise(self, reject: Reject) -> Reject:
        if not self.skip_errors:
            message = reject.message + "; fix the record or pass --on-error skip"
            if reject.unit == "line":
                raise InputDataError(message, file=reject.file, line=reject.line)
            raise InputDataError(message, file=reject.file, row=reject.line)
        return reject


def utf8_message(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} is not valid UTF-8; re-encode the file as UTF-8"
    return "not valid UTF-8"


def utf8_size(texts: Iterable[str | int | None]) -> int:
    """UTF-8 bytes of the texts (an int: bytes counted already)."""
    return sum(t if isinstance(t, int) else len(t.encode("utf-8", "surrogatepass")) for t in texts if t)


def json_text(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as JSON text (orjson's): numpy scalars and arrays as their values, as records given
    from Python hold them (`sftmask.label` over a `datasets` row: ``ner_tags`` of numpy ints), and
    integers past 64 bits, which orjson refuses, through the standard library. Raises TypeError for
    a value JSON has no form for, unless `default` gives one."""
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, or a type it has no form for

        def plain(item: Any) -> Any:
            if isinstance(item, np.generic | np.ndarray):
                return item.tolist()
            if default is None:
                raise TypeError(f"{type(item).__name__} has no JSON form")
            return default(item)

        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=plain)


def _simple_array(values: list[Any]) -> pa.Array | None:
    """`pa.array(values)` of JSON values that are all null, all strings (or null), all integers
    in the int64 range, all floats or all bools, or None for other values."""
    kinds = set(map(type, values))
    if kinds <= {type(None)}:
        return pa.nulls(len(values))
    if kinds <= {str, type(None)}:
        return from_strings(values, large=False)
    dtypes = {int: np.int64, float: np.float64, bool: np.bool_}
    if len(kinds) != 1 or next(iter(kinds)) not in dtypes:
        return None
    try:
        return from_numpy(np.array(values, dtype=dtypes[next(iter(kinds))]))
    except OverflowError:  # an integer past int64: pyarrow's inference
        return None


def unified(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type holding values of both (struct keys merged, ints widened); raises if none does."""
    schemas = [pa.schema([pa.field("x", a)]), pa.schema([pa.field("x", b)])]
    return pa.unify_schemas(schemas, promote_options="permissive").field("x").type
