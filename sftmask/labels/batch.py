"""The batch function every engine runs: Arrow records in; Arrow rows, Arrow rejects and counts out.

`label_table(table, job)` is pure: it reads nothing but its arguments and writes nothing. A
`Job` (config, the data kind's encoding session, the input file names) pickles, so the same
function runs in this process, in worker processes or on a cluster, and gives the same rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sftmask import reasons
from sftmask.arrays import from_numpy, from_offsets, from_strings
from sftmask.config.build import BuildConfig
from sftmask.io.keys import KEY_COLUMN, record_keys
from sftmask.io.readers import FILE_COLUMN, KEEP_PREFIX, LINE_COLUMN, InputFile, ReadBatch, Reject, json_text
from sftmask.kinds import EncodingSession
from sftmask.labels.assemble import AssembledBatch, assemble
from sftmask.labels.strategies import IGNORE_INDEX, STRATEGIES, EncodedBatch
from sftmask.packing.packer import PackingCounts

REJECT_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("unit", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("message", pa.string()),
        pa.field("record", pa.large_string()),
    ]
)
"""Rejected records as Arrow: where (`line` holds a row from 0 when `unit` is ``row``), why, and
the record itself as JSON text."""


@dataclass
class Counts:
    """Mergeable counts of a build; `records_read == rows_written + sum(rejected.values())` always."""

    records_read: int = 0
    rows_written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    boundary_merges: int = 0
    longest_row: int = 0
    """Tokens in the longest row written (a trainer's `max_length` must be at least this)."""
    longest_row_at: str = ""
    """Where the longest row's record is (``data.jsonl:12``; the first of equal ones)."""
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

    def add(self, other: Counts) -> None:
        """Add another batch's counts to these."""
        self.records_read += other.records_read
        self.rows_written += other.rows_written
        self.rejected.update(other.rejected)
        self.truncated += other.truncated
        self.tokens += other.tokens
        self.trained_tokens += other.trained_tokens
        self.boundary_merges += other.boundary_merges
        if other.longest_row > self.longest_row:
            self.longest_row, self.longest_row_at = other.longest_row, other.longest_row_at
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
            "longest_row_at": self.longest_row_at,
        }


@dataclass(frozen=True)
class Job:
    """What `label_table` needs besides the rows: the same for every batch of a build, picklable."""

    config: BuildConfig
    session: EncodingSession
    """The data kind's encoder (tokenizer included), prepared once per build."""
    files: tuple[InputFile, ...]
    """The inputs, indexed by the reader's file column."""
    record_keys: bool = False
    """Give each row its record's key (`sftmask.io.keys.KEY_COLUMN`), for splits, de-duplication
    and shuffling; the writer drops the column."""
    shard_dir: str | None = None
    """Where the labelling writes each batch's rows as a shard itself (`--ray-write workers`: the
    output's temporary folder); None: the rows go back to the build, which writes them."""


@dataclass(frozen=True)
class Labelled:
    """One batch, labelled: rows to write, rejected records, and their counts."""

    rows: pa.Table
    """`input_ids`, `attention_mask`, `labels` and the kept columns of the accepted records."""
    rejects: pa.Table
    """Records not written, in `REJECT_SCHEMA`, in input order."""
    counts: Counts
    bytes_read: int = 0
    """Progress: input bytes consumed up to the end of this batch (0 when not known)."""
    shards: tuple[dict[str, Any], ...] = ()
    """Shards the labelling wrote itself (`Job.shard_dir`; `rows` is then empty): each one's
    ``partial`` file name in `shard_dir`, ``rows``, ``sha256`` and the ``node`` that wrote it."""
    packing: PackingCounts | None = None
    """With `shards` of packed rows (`--pack-length`): the packing counts of the rows they hold."""


@dataclass(frozen=True)
class StageResults:
    """One batch through the encode -> label -> assemble stages (before the output table)."""

    encoded: EncodedBatch
    assembled: AssembledBatch
    extra: dict[str, int]
    """Extra counts from the data kind's encoder (e.g. ``boundary_merges``)."""


def run_stages(table: pa.RecordBatch, job: Job) -> StageResults:
    """Encode a batch of records, build labels with the strategy and assemble rows (truncation).

    The stages `label_table` runs on every batch and `inspect` runs on a few records.

    Raises:
        InputDataError: a record cannot be encoded and `on_error` is ``fail``.
    """
    config = job.config
    encoded, extra = job.session.encode(table)
    if encoded.invalid and config.on_error == "fail":
        row = min(encoded.invalid)
        raise job.files[table.column(FILE_COLUMN)[row].as_py()].error(
            encoded.invalid[row][1] + "; fix the record or pass --on-error skip", table.column(LINE_COLUMN)[row].as_py()
        )
    labels = STRATEGIES[config.strategy].build_labels(encoded)
    assembled = assemble(
        encoded, labels, max_length=config.max_length, truncation=config.truncation, next_token=config.next_token_labels
    )
    return StageResults(encoded, assembled, extra)


def label_table(table: pa.RecordBatch, job: Job) -> Labelled:
    """Tokenize, label and assemble one batch of records (with the reader's file/line columns).

    Raises:
        InputDataError: a record cannot be encoded and `on_error` is ``fail``.
    """
    counts = Counts()
    if table.num_rows == 0:
        return Labelled(pa.table({}), rejects_table([]), counts)
    stages = run_stages(table, job)
    encoded, assembled, extra = stages.encoded, stages.assembled, stages.extra
    counts.boundary_merges += extra.get("boundary_merges", 0)
    counts.add_encoder_counts(extra)
    counts.rows_written += len(assembled.input_ids)
    counts.tokens += len(assembled.input_ids.values)
    lengths = assembled.input_ids.lengths
    if len(lengths):
        row = int(np.flatnonzero(assembled.accepted)[int(np.argmax(lengths))])
        counts.longest_row = int(lengths.max())
        counts.longest_row_at = job.files[table.column(FILE_COLUMN)[row].as_py()].where(
            table.column(LINE_COLUMN)[row].as_py()
        )
    counts.trained_tokens += assembled.trained_tokens
    counts.truncated += assembled.truncated + extra.get("truncated", 0)
    rejects = _assembly_rejects(assembled, encoded, table, job, counts)
    return Labelled(_output_table(assembled, table, job), rejects_table(rejects), counts)


def label_read_batch(batch: ReadBatch, job: Job) -> Labelled:
    """`label_table` on a reader's batch, with the records the reader rejected merged in, in input order."""
    labelled = label_table(batch.table, job)
    counts = labelled.counts
    counts.records_read += batch.table.num_rows + len(batch.rejects)
    for reject in batch.rejects:
        counts.rejected[reject.reason] += 1
    rejects = labelled.rejects
    if batch.rejects:
        rejects = pa.concat_tables([rejects_table(batch.rejects), rejects])
        if labelled.rejects.num_rows:  # both kinds: in input order, whatever the batch boundaries
            order = {name: i for i, name in enumerate(job.files)}
            files = from_numpy(np.array([order.get(name, -1) for name in rejects.column("file").to_pylist()], np.int32))
            keys = pa.table({"file": files, "line": rejects.column("line")})
            rejects = rejects.take(pc.sort_indices(keys, sort_keys=[("file", "ascending"), ("line", "ascending")]))
    return Labelled(labelled.rows, rejects, counts, batch.bytes_read)


def rejects_table(rejects: list[Reject]) -> pa.Table:
    """Rejects as an Arrow table in `REJECT_SCHEMA` (records as JSON text)."""
    columns = [
        from_strings([r.file for r in rejects], large=False),
        from_numpy(np.array([r.line for r in rejects], dtype=np.int64)),
        from_strings([r.unit for r in rejects], large=False),
        from_strings([r.reason for r in rejects], large=False),
        from_strings([r.message for r in rejects], large=False),
        from_strings([json_text(r.record, default=str) for r in rejects]),
    ]
    return pa.Table.from_arrays(columns, schema=REJECT_SCHEMA)


def _assembly_rejects(
    assembled: AssembledBatch, encoded: EncodedBatch, table: pa.RecordBatch, job: Job, counts: Counts
) -> list[Reject]:
    if not assembled.reject_reasons:
        return []
    config = job.config
    file_idx = table.column(FILE_COLUMN)
    lines = table.column(LINE_COLUMN)
    fields = config.kind.fields(config)
    json_fields = {*fields.objects, *fields.optional_objects}
    out = []
    for row, reason in sorted(assembled.reject_reasons.items()):
        counts.rejected[reason] += 1
        message = reject_message(config, encoded, row, reason)
        record = {
            name: table.column(name)[row].as_py() for name in table.schema.names if not name.startswith("_sftmask")
        }
        for name in json_fields & record.keys():  # passed on as JSON text: show the original value
            record[name] = None if record[name] is None else orjson.loads(record[name])
        out.append(job.files[file_idx[row].as_py()].reject(lines[row].as_py(), reason, message, record))
    return out


def reject_message(config: BuildConfig, encoded: EncodedBatch, row: int, reason: str) -> str:
    """Why row `row` of an encoded batch gives no row: the encoder's message, or assembly's."""
    if row in encoded.invalid:
        return encoded.invalid[row][1]
    messages = {
        reasons.TOO_LONG: f"longer than --max-length {config.max_length} with --truncation drop",
        reasons.NO_TRAINABLE: "no token left to train on (empty response, or truncated away; a row's first token is never predicted)",
    }
    return messages.get(reason, reason)


def _output_table(assembled: AssembledBatch, table: pa.RecordBatch, job: Job) -> pa.Table:
    config = job.config
    ids = assembled.input_ids
    columns: dict[str, pa.Array] = {
        "input_ids": from_offsets(ids.offsets, ids.values.astype(np.int32, copy=False)),
        "attention_mask": from_offsets(ids.offsets, np.ones(len(ids.values), dtype=np.int8)),
        "labels": from_offsets(ids.offsets, assembled.labels.astype(np.int32, copy=False)),
    }
    if config.writes_assistant_masks:
        trained = (assembled.labels != IGNORE_INDEX).astype(np.int8)
        columns["assistant_masks"] = from_offsets(ids.offsets, trained)
    if job.record_keys:
        columns[KEY_COLUMN] = from_numpy(record_keys(table)[assembled.accepted].astype(np.uint64, copy=False))
    if config.keep_columns:
        keep = from_numpy(np.flatnonzero(assembled.accepted))
        for name in config.keep_columns:
            for source in (KEEP_PREFIX + name, name):  # a field the kind reads as JSON text is kept as it was
                if source in table.schema.names:
                    columns[name] = table.column(source).take(keep)
                    break
    return pa.table(columns)
