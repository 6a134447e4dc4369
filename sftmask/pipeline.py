"""The one place that wires read -> tokenize -> mask -> write for `sftmask build`."""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import orjson
import pyarrow as pa

from sftmask import __version__
from sftmask.config import BuildConfig
from sftmask.errors import InputDataError, TokenizerError
from sftmask.formatting import DATA_KINDS, EncodingSession
from sftmask.masking import STRATEGIES, AssembledBatch, EncodedBatch, assemble
from sftmask.readers import FILE_COLUMN, LINE_COLUMN, ReadBatch, RecordReader, Reject, resolve_inputs
from sftmask.tokenization import LoadedTokenizer, describe, load_tokenizer
from sftmask.writers import OutputDir, RejectWriter, ShardWriter, write_manifest

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class BuildStats:
    """Counts of a build; `records_read == rows_written + sum(rejected.values())` always."""

    records_read: int = 0
    rows_written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    boundary_merges: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "records_read": self.records_read,
            "rows_written": self.rows_written,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "truncated": self.truncated,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "boundary_merges": self.boundary_merges,
        }


@dataclass(frozen=True)
class Progress:
    records: int
    tokens: int
    bytes_read: int
    total_bytes: int | None


@dataclass(frozen=True)
class BuildResult:
    output: str
    stats: BuildStats
    shards: list[dict[str, Any]]
    manifest: dict[str, Any]


def build(config: BuildConfig, on_progress: Callable[[Progress], None] | None = None) -> BuildResult:
    """Run a build: read the inputs, tokenize and mask in batches, write shards and manifest.

    Raises:
        SftmaskError: bad input (with `on_error=fail`), tokenizer or output problems; the output
            directory is then left untouched.
    """
    files = resolve_inputs(config.inputs, config.input_format)
    output = OutputDir(config.output, overwrite=config.overwrite)
    tok = load_tokenizer(config.tokenizer, trust_remote_code=config.trust_remote_code)
    kind = DATA_KINDS[config.resolved_data_kind]
    if config.add_eos and kind.appends_eos and tok.eos_id is None:
        raise TokenizerError(
            f"tokenizer {config.tokenizer!r} has no EOS token; pass --no-add-eos, or use a tokenizer with an eos_token"
        )
    session = kind.open(config, tok, files)
    reader = RecordReader(
        files,
        text_fields=kind.text_fields(config),
        object_fields=kind.object_fields(config),
        keep_fields=config.keep_columns,
        batch_size=config.batch_size,
        skip_errors=config.on_error == "skip",
    )
    stats = BuildStats()
    with output:
        shard_writer = ShardWriter(
            output.tmp, fmt=config.format, split=config.split, rows_per_shard=config.rows_per_shard
        )
        reject_writer = RejectWriter(output.tmp)
        try:
            for batch in _prefetch(iter(reader)):
                rows = _process(batch, config, session, stats, [f.name for f in files])
                reject_writer.write(rows.rejects)
                if rows.table.num_rows:
                    shard_writer.write(rows.table)
                if on_progress is not None:
                    on_progress(Progress(reader.records_read, stats.tokens, batch.bytes_read, reader.total_bytes))
        finally:
            reject_writer.close()
        stats.records_read = reader.records_read
        if stats.records_read == 0:
            raise InputDataError(f"no records found in {', '.join(f.name for f in files)}")
        shards = shard_writer.close(_output_schema(config, reader))
        manifest = _manifest(config, tok, stats, shards, session.manifest())
        write_manifest(output.tmp, manifest)
        output.commit()
    return BuildResult(str(output.path), stats, shards, manifest)


@dataclass(frozen=True)
class _Rows:
    table: pa.Table
    rejects: list[Reject]


def _process(
    batch: ReadBatch, config: BuildConfig, session: EncodingSession, stats: BuildStats, files: list[str]
) -> _Rows:
    table = batch.table
    rejects = list(batch.rejects)
    for reject in batch.rejects:
        stats.rejected[reject.reason] += 1
    if table.num_rows == 0:
        return _Rows(pa.table({}), rejects)
    encoded, extra = session.encode(table)
    if encoded.invalid and config.on_error == "fail":
        row = min(encoded.invalid)
        where = files[table.column(FILE_COLUMN)[row].as_py()], table.column(LINE_COLUMN)[row].as_py()
        raise InputDataError(
            encoded.invalid[row][1] + "; fix the record or pass --on-error skip", file=where[0], line=where[1]
        )
    labels = STRATEGIES[config.strategy].build_labels(encoded)
    assembled = assemble(encoded, labels, max_length=config.max_length, truncation=config.truncation)
    stats.boundary_merges += extra.get("boundary_merges", 0)
    stats.rows_written += len(assembled.input_ids)
    stats.tokens += len(assembled.input_ids.values)
    stats.trained_tokens += assembled.trained_tokens
    stats.truncated += assembled.truncated + extra.get("truncated", 0)
    rejects.extend(_assembly_rejects(assembled, encoded, table, config, files, stats))
    return _Rows(_output_table(assembled, table, config), rejects)


def _assembly_rejects(
    assembled: AssembledBatch,
    encoded: EncodedBatch,
    table: pa.RecordBatch,
    config: BuildConfig,
    files: list[str],
    stats: BuildStats,
) -> list[Reject]:
    if not assembled.reject_reasons:
        return []
    file_idx = table.column(FILE_COLUMN)
    lines = table.column(LINE_COLUMN)
    messages = {
        "too-long": f"longer than --max-length {config.max_length} with --truncation drop",
        "no-trainable-tokens": "no token left to train on (empty response, or truncated away)",
    }
    out = []
    json_fields = set(DATA_KINDS[config.resolved_data_kind].object_fields(config))
    for row, reason in sorted(assembled.reject_reasons.items()):
        stats.rejected[reason] += 1
        record = {
            name: table.column(name)[row].as_py() for name in table.schema.names if not name.startswith("_sftmask")
        }
        for name in json_fields & record.keys():  # the reader passed these on as JSON text
            record[name] = orjson.loads(record[name])
        message = encoded.invalid[row][1] if row in encoded.invalid else messages.get(reason, reason)
        out.append(Reject(files[file_idx[row].as_py()], lines[row].as_py(), reason, message, record))
    return out


def _output_table(assembled: AssembledBatch, table: pa.RecordBatch, config: BuildConfig) -> pa.Table:
    ids = assembled.input_ids
    offsets = pa.array(ids.offsets.astype(np.int32))
    columns: dict[str, pa.Array] = {
        "input_ids": pa.ListArray.from_arrays(offsets, pa.array(ids.values, type=pa.int32())),
        "attention_mask": pa.ListArray.from_arrays(offsets, pa.array(np.ones(len(ids.values), dtype=np.int8))),
        "labels": pa.ListArray.from_arrays(offsets, pa.array(assembled.labels, type=pa.int32())),
    }
    if config.keep_columns:
        keep = pa.array(np.flatnonzero(assembled.accepted))
        for name in config.keep_columns:
            if name in table.schema.names:
                columns[name] = table.column(name).take(keep)
    return pa.table(columns)


def _output_schema(config: BuildConfig, reader: RecordReader) -> pa.Schema:
    token_list = pa.list_(pa.int32())
    fields = [
        pa.field("input_ids", token_list),
        pa.field("attention_mask", pa.list_(pa.int8())),
        pa.field("labels", token_list),
    ]
    fields += [
        pa.field(name, pa.large_string() if name in [*reader.text_fields, *reader.object_fields] else pa.null())
        for name in config.keep_columns
    ]
    return pa.schema(fields)


def _manifest(
    config: BuildConfig,
    tok: LoadedTokenizer,
    stats: BuildStats,
    shards: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest; `extra` holds the data kind's own entries (e.g. `label2id`, `id2label`)."""
    return {
        "sftmask_version": __version__,
        "config": config.model_dump(mode="json"),
        "tokenizer": describe(tok),
        "strategy": {"name": config.strategy, "description": STRATEGIES[config.strategy].description},
        "data_kind": config.resolved_data_kind,
        "labels": {"ignore_index": -100, "shifted": False},
        "counts": stats.to_json(),
        "shards": shards,
        **(extra or {}),
    }


def _prefetch(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run `source` in a background thread, `depth` items ahead: parsing JSON for the next batch
    overlaps the Rust tokenizer (which releases the GIL) working on this one."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                items.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # re-raised in the consumer thread
            put(("error", exc))

    thread = threading.Thread(target=produce, name="sftmask-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=5)
