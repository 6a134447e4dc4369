"""The one place that wires read -> tokenize -> mask -> write for `sftmask build`."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from sftmask import __version__
from sftmask.config import BuildConfig
from sftmask.errors import InputDataError, TokenizerError
from sftmask.formatting import DATA_KINDS, EncodingSession
from sftmask.masking import IGNORE_INDEX, STRATEGIES, AssembledBatch, EncodedBatch, assemble
from sftmask.parallel import BackgroundWriter, ordered_map, prefetch
from sftmask.readers import (
    FILE_COLUMN,
    KEEP_PREFIX,
    LINE_COLUMN,
    InputFile,
    ReadBatch,
    RecordReader,
    Reject,
    resolve_inputs,
)
from sftmask.tokenization import LoadedTokenizer, describe, load_tokenizer
from sftmask.writers import OutputDir, RejectWriter, ShardWriter, write_manifest

log = logging.getLogger(__name__)


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
    longest_row: int = 0
    """Tokens in the longest row written (a trainer's `max_length` must be at least this)."""
    encoder_counts: dict[str, int] = field(default_factory=dict)
    """Totals of the counts the data kind's encoder returned per batch (for its manifest)."""

    def add_encoder_counts(self, counts: dict[str, int]) -> None:
        """Sum a batch's encoder counts into the totals (keys starting ``max_`` take the maximum)."""
        for key, value in counts.items():
            if key not in self.encoder_counts:
                self.encoder_counts[key] = value
            elif key.startswith("max_"):
                self.encoder_counts[key] = max(self.encoder_counts[key], value)
            else:
                self.encoder_counts[key] += value

    def add(self, other: BuildStats) -> None:
        """Add another batch's counts to these."""
        self.records_read += other.records_read
        self.rows_written += other.rows_written
        self.rejected.update(other.rejected)
        self.truncated += other.truncated
        self.tokens += other.tokens
        self.trained_tokens += other.trained_tokens
        self.boundary_merges += other.boundary_merges
        self.longest_row = max(self.longest_row, other.longest_row)
        self.add_encoder_counts(other.encoder_counts)

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
            "longest_row": self.longest_row,
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
    files = resolve_inputs(config.inputs, config.input_format, config.split)
    output = OutputDir(config.output, overwrite=config.overwrite)
    tok = open_tokenizer(config)
    session = open_session(config, tok, files)
    reader = make_reader(config, files)
    stats = BuildStats()
    with output:
        shard_writer = ShardWriter(
            output.tmp, fmt=config.format, split=config.split, rows_per_shard=config.rows_per_shard
        )
        reject_writer = RejectWriter(output.tmp)
        writer = BackgroundWriter()
        try:
            for rows in _process_all(prefetch(iter(reader)), config, session, files):
                stats.add(rows.stats)
                writer.submit(_write_rows, rows, shard_writer, reject_writer)
                if on_progress is not None:
                    on_progress(Progress(reader.records_read, stats.tokens, rows.bytes_read, reader.total_bytes))
            writer.close()
        except BaseException:
            writer.abort()  # the first error is the one to report, not a write it interrupted
            raise
        finally:
            reject_writer.close()
        stats.records_read = reader.records_read
        if stats.records_read == 0:
            raise InputDataError(f"no records found in {', '.join(f.name for f in files)}")
        shards = shard_writer.close(_output_schema(config, reader))
        manifest = _manifest(config, tok, stats, shards, session.manifest(stats.encoder_counts))
        write_manifest(output.tmp, manifest)
        output.commit()
    return BuildResult(str(output.path), stats, shards, manifest)


def open_tokenizer(config: BuildConfig) -> LoadedTokenizer:
    """Load the configured tokenizer and check it can do what the config asks (EOS).

    Raises:
        TokenizerError: it cannot be loaded, or has no EOS while `add_eos` is on.
    """
    tok = load_tokenizer(config.tokenizer, trust_remote_code=config.trust_remote_code)
    kind = DATA_KINDS[config.resolved_data_kind]
    if config.add_eos and kind.appends_eos and tok.eos_id is None and not config.renders_chat:
        raise TokenizerError(
            f"tokenizer {config.tokenizer!r} has no EOS token; pass --no-add-eos, or use a tokenizer with an eos_token"
        )
    return tok


def open_session(config: BuildConfig, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
    """The configured data kind's encoder for this build (label names, start-up checks)."""
    return DATA_KINDS[config.resolved_data_kind].open(config, tok, files)


def make_reader(config: BuildConfig, files: list[InputFile], batch_size: int | None = None) -> RecordReader:
    """A reader delivering the fields the configured data kind needs."""
    kind = DATA_KINDS[config.resolved_data_kind]
    return RecordReader(
        files,
        text_fields=kind.text_fields(config),
        object_fields=kind.object_fields(config),
        optional_object_fields=kind.optional_object_fields(config),
        field_hints=kind.field_hints(config),
        keep_fields=config.keep_columns,
        batch_size=batch_size or config.batch_size,
        skip_errors=config.on_error == "skip",
        unused_fields=_unused_fields(config),
    )


def _unused_fields(config: BuildConfig) -> dict[str, str]:
    """Fields a record may fill that this config leaves out, with how to use them."""
    if config.resolved_data_kind != "prompt-response" or config.template is not None:
        return {}
    if config.prompt_field == "instruction" and "input" not in (config.prompt_field, config.response_field):
        return {"input": "--prompt-field instruction leaves Alpaca's input out of the prompt; pass --template alpaca"}
    return {}


@dataclass(frozen=True)
class LabelledBatch:
    """One batch through the encode -> label -> assemble stages (before writing)."""

    encoded: EncodedBatch
    assembled: AssembledBatch
    extra: dict[str, int]
    """Extra counts from the data kind's encoder (e.g. ``boundary_merges``)."""


def label_batch(
    table: pa.RecordBatch, config: BuildConfig, session: EncodingSession, files: list[InputFile]
) -> LabelledBatch:
    """Encode a batch of records, build labels with the strategy and assemble rows (truncation).

    The stages `build` runs on every batch and `inspect` runs on a few records.

    Raises:
        InputDataError: a record cannot be encoded and `on_error` is ``fail``.
    """
    encoded, extra = session.encode(table)
    if encoded.invalid and config.on_error == "fail":
        row = min(encoded.invalid)
        raise files[table.column(FILE_COLUMN)[row].as_py()].error(
            encoded.invalid[row][1] + "; fix the record or pass --on-error skip", table.column(LINE_COLUMN)[row].as_py()
        )
    labels = STRATEGIES[config.strategy].build_labels(encoded)
    assembled = assemble(encoded, labels, max_length=config.max_length, truncation=config.truncation)
    return LabelledBatch(encoded, assembled, extra)


@dataclass(frozen=True)
class _Rows:
    table: pa.Table
    rejects: list[Reject]
    stats: BuildStats
    bytes_read: int


def _write_rows(rows: _Rows, shard_writer: ShardWriter, reject_writer: RejectWriter) -> None:
    reject_writer.write(rows.rejects)
    if rows.table.num_rows:
        shard_writer.write(rows.table)


def _process_all(
    batches: Iterator[ReadBatch], config: BuildConfig, session: EncodingSession, files: list[InputFile]
) -> Iterator[_Rows]:
    """Process batches here, or in `config.num_proc` worker processes (same rows, same order)."""
    cores = os.cpu_count() or 1
    # The Rust tokenizer already spreads each batch over every core; worker processes only pay
    # off when each gets at least two cores (measured: 2 workers on 2 cores were ~20% slower).
    workers = min(config.num_proc, max(1, cores // 2))
    if workers < config.num_proc:
        log.info("--num-proc %d: using %d process(es) on %d cores", config.num_proc, workers, cores)
    if workers <= 1:
        for batch in batches:
            yield _process(batch, config, session, files)
        return
    threads = max(1, cores // workers)
    yield from ordered_map(
        _worker_process,
        batches,
        workers=workers,
        initializer=_worker_init,
        initargs=(config.model_dump(), files, session),
        threads_per_worker=threads,
    )


_WORKER: dict[str, Any] = {}


def _worker_init(config: dict[str, Any], files: list[InputFile], session: EncodingSession) -> None:
    # The session (with its tokenizer) arrives pickled (about a second) instead of being
    # prepared again (several seconds).
    _WORKER.update(config=BuildConfig(**config), files=files, session=session)


def _worker_process(batch: ReadBatch) -> _Rows:
    return _process(batch, _WORKER["config"], _WORKER["session"], _WORKER["files"])


def _process(batch: ReadBatch, config: BuildConfig, session: EncodingSession, files: list[InputFile]) -> _Rows:
    """Tokenize, label and assemble one batch; its rows, rejects and counts."""
    stats = BuildStats()
    table = batch.table
    rejects = list(batch.rejects)
    for reject in batch.rejects:
        stats.rejected[reject.reason] += 1
    if table.num_rows == 0:
        return _Rows(pa.table({}), rejects, stats, batch.bytes_read)
    labelled = label_batch(table, config, session, files)
    encoded, assembled, extra = labelled.encoded, labelled.assembled, labelled.extra
    stats.boundary_merges += extra.get("boundary_merges", 0)
    stats.add_encoder_counts(extra)
    stats.rows_written += len(assembled.input_ids)
    stats.tokens += len(assembled.input_ids.values)
    stats.longest_row = int(assembled.input_ids.lengths.max(initial=0))
    stats.trained_tokens += assembled.trained_tokens
    stats.truncated += assembled.truncated + extra.get("truncated", 0)
    rejects.extend(_assembly_rejects(assembled, encoded, table, config, files, stats))
    return _Rows(_output_table(assembled, table, config), rejects, stats, batch.bytes_read)


def _assembly_rejects(
    assembled: AssembledBatch,
    encoded: EncodedBatch,
    table: pa.RecordBatch,
    config: BuildConfig,
    files: list[InputFile],
    stats: BuildStats,
) -> list[Reject]:
    if not assembled.reject_reasons:
        return []
    file_idx = table.column(FILE_COLUMN)
    lines = table.column(LINE_COLUMN)
    kind = DATA_KINDS[config.resolved_data_kind]
    json_fields = {*kind.object_fields(config), *kind.optional_object_fields(config)}
    messages = {
        "too-long": f"longer than --max-length {config.max_length} with --truncation drop",
        "no-trainable-tokens": "no token left to train on (empty response, or truncated away)",
    }
    out = []
    for row, reason in sorted(assembled.reject_reasons.items()):
        stats.rejected[reason] += 1
        message = encoded.invalid[row][1] if row in encoded.invalid else messages.get(reason, reason)
        record = {
            name: table.column(name)[row].as_py() for name in table.schema.names if not name.startswith("_sftmask_")
        }
        for name in json_fields & record.keys():  # passed on as JSON text: show the original value
            record[name] = None if record[name] is None else orjson.loads(record[name])
        out.append(files[file_idx[row].as_py()].reject(lines[row].as_py(), reason, message, record))
    return out


def _output_table(assembled: AssembledBatch, table: pa.RecordBatch, config: BuildConfig) -> pa.Table:
    ids = assembled.input_ids
    offsets = pa.array(ids.offsets.astype(np.int32))
    columns: dict[str, pa.Array] = {
        "input_ids": pa.ListArray.from_arrays(offsets, pa.array(ids.values, type=pa.int32())),
        "attention_mask": pa.ListArray.from_arrays(offsets, pa.array(np.ones(len(ids.values), dtype=np.int8))),
        "labels": pa.ListArray.from_arrays(offsets, pa.array(assembled.labels, type=pa.int32())),
    }
    if config.writes_assistant_masks:
        trained = (assembled.labels != IGNORE_INDEX).astype(np.int8)
        columns["assistant_masks"] = pa.ListArray.from_arrays(offsets, pa.array(trained))
    if config.keep_columns:
        keep = pa.array(np.flatnonzero(assembled.accepted))
        for name in config.keep_columns:
            for source in (KEEP_PREFIX + name, name):
                if source in table.schema.names:
                    columns[name] = table.column(source).take(keep)
                    break
    return pa.table(columns)


def _output_schema(config: BuildConfig, reader: RecordReader) -> pa.Schema:
    token_list = pa.list_(pa.int32())
    fields = [
        pa.field("input_ids", token_list),
        pa.field("attention_mask", pa.list_(pa.int8())),
        pa.field("labels", token_list),
    ]
    if config.writes_assistant_masks:
        fields.append(pa.field("assistant_masks", pa.list_(pa.int8())))
    fields += [pa.field(name, reader.keep_type(name)) for name in config.keep_columns]
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
