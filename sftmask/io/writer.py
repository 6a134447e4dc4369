"""Output: Parquet or Arrow shards written into a temporary directory, renamed into place at the end."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sftmask.errors import InputDataError
from sftmask.io.output_dir import MANIFEST, REJECTS

log = logging.getLogger(__name__)

HOLD_ROWS = 10_000
"""Rows held back unwritten while a kept column has had no value (its type unknown)..."""
HOLD_BYTES = 256 << 20
"""...and at most this many bytes of them."""
ROW_GROUP_ROWS = 1000
"""Rows per Parquet row group (Arrow record batch) of a shard; a shard's last group may be shorter."""


VALUE_DTYPES = {"double": "float64", "float": "float32", "halffloat": "float16"}
"""`datasets`' dtype names of the Arrow types that `str(type)` does not name the same way."""


def features_dict(schema: pa.Schema) -> dict[str, Any]:
    """`datasets` features (as `Features.to_dict()` writes them) for an Arrow schema."""
    features: dict[str, Any] = {}
    other = []
    for f in schema:
        feature = _simple_feature(f.type)
        if feature is not None:
            features[f.name] = feature
        else:
            other.append(f)
    if other:  # kept columns of other types: let `datasets` describe them (a slower import, pandas too)
        from datasets import Features

        features.update(Features.from_arrow_schema(pa.schema(other)).to_dict())
    return {f.name: features[f.name] for f in schema}


def _simple_feature(kind: pa.DataType) -> dict[str, Any] | None:
    """The feature of a number, bool, string, binary or null column, or of a list of them; else None."""
    if pa.types.is_list(kind):
        inner = _simple_feature(kind.value_type)
        return None if inner is None else {"feature": inner, "_type": "List"}
    simple = (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )
    if not simple:
        return None
    name = str(kind)
    return {"dtype": VALUE_DTYPES.get(name, name), "_type": "Value"}


def features_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """The `huggingface` schema metadata that `datasets` reads its features from."""
    return {b"huggingface": json.dumps({"info": {"features": features_dict(schema)}}).encode()}


class RejectWriter:
    """Appends rejected records to rejects.jsonl, creating the file on the first one."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / REJECTS
        self._file: Any = None

    def write(self, rejects: pa.Table) -> None:
        """Append rejects (a table in `sftmask.labels.batch.REJECT_SCHEMA`), one JSON line each."""
        if not rejects.num_rows:
            return
        if self._file is None:
            self._file = open(self.path, "wb")  # noqa: SIM115
        for row in rejects.to_pylist():
            entry = {
                "file": row["file"],
                row["unit"]: row["line"],  # "line", or "row" for tables and JSON arrays
                "reason": row["reason"],
                "message": row["message"],
                "record": orjson.Fragment(row["record"]),  # already JSON text
            }
            self._file.write(orjson.dumps(entry) + b"\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class ShardWriter:
    """Writes tables into shards of at most `rows_per_shard` rows, in order.

    Shards get their final `{split}-{i:05d}-of-{n:05d}` names in `close`, once `n` is known.
    ``arrow`` writes what `Dataset.save_to_disk` writes (IPC stream files, `state.json`,
    `dataset_info.json`), so `datasets.load_from_disk` opens the directory.
    """

    def __init__(self, directory: Path, *, fmt: str, split: str, rows_per_shard: int) -> None:
        self.directory = directory
        self.fmt = fmt
        self.split = split
        self.rows_per_shard = rows_per_shard
        self.shards: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | pa.ipc.RecordBatchStreamWriter | None = None
        self._rows_in_shard = 0
        self._rows_written = 0
        self._schema: pa.Schema | None = None
        self._held: list[pa.Table] = []
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def write(self, table: pa.Table) -> None:
        if self._schema is None:
            if _has_null_column(table) and not self._hold_full(table):
                self._held.append(table)  # a kept column with no value yet: its type is still open
                return
            self._fix_schema([*self._held, table])
        assert self._schema is not None
        if table.schema.remove_metadata() != self._schema.remove_metadata():
            table = self._conform(table)
        self._write(table.replace_schema_metadata(self._schema.metadata))

    def _hold_full(self, table: pa.Table) -> bool:
        rows = sum(t.num_rows for t in self._held) + table.num_rows
        size = sum(t.nbytes for t in self._held) + table.nbytes
        return bool(rows > HOLD_ROWS or size > HOLD_BYTES)

    def _fix_schema(self, tables: list[pa.Table]) -> None:
        """Fix the output schema from the first tables (held ones cast: null columns get their type)."""
        schema = pa.unify_schemas([t.schema.remove_metadata() for t in tables], promote_options="permissive")
        self._schema = schema.with_metadata(features_metadata(schema))
        held, self._held = self._held, []
        for old in held:
            self._write(old.cast(schema).replace_schema_metadata(self._schema.metadata))

    def _conform(self, table: pa.Table) -> pa.Table:
        assert self._schema is not None
        for have, new in zip(self._schema, table.schema, strict=True):
            if have.type != new.type and not pa.types.is_null(new.type):
                raise InputDataError(
                    f"kept column {new.name!r} is null in the first {self._rows_written:,} rows written and "
                    f"{new.type} later; keep only columns with one type"
                )
        return table.cast(self._schema.remove_metadata())

    def _write(self, table: pa.Table) -> None:
        """Buffer rows into groups of `ROW_GROUP_ROWS`: a shard's bytes depend on its rows only,
        not on how the batches that brought them were cut (engines, --batch-size, file ends)."""
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int | None = None) -> None:
        """Write the first `rows` buffered rows (all of them by default) as one table."""
        if not self._pending_rows:
            return
        pending = pa.concat_tables(self._pending)
        rows = pending.num_rows if rows is None else rows
        head, rest = pending.slice(0, rows), pending.slice(rows)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        self._write_rows(head.combine_chunks())

    def _write_rows(self, table: pa.Table) -> None:
        start = 0
        while start < table.num_rows:
            if self._writer is None:
                self._open()
            take = min(table.num_rows - start, self.rows_per_shard - self._rows_in_shard)
            assert self._writer is not None
            self._writer.write_table(table.slice(start, take))
            self._rows_in_shard += take
            self._rows_written += take
            start += take
            if self._rows_in_shard >= self.rows_per_shard:
                self._close_shard()

    def adopt(self, shards: Sequence[dict[str, Any]]) -> None:
        """Take shards written elsewhere (`write_part`, on Ray workers) as the next ones, in order:
        each a dict with the ``partial`` file's name in this directory, its ``rows`` and ``sha256``.
        (A build either writes its rows here or adopts every shard, never both.)"""
        for shard in shards:
            self.shards.append(
                {"partial": self.directory / shard["partial"], "rows": shard["rows"], "sha256": shard["sha256"]}
            )

    def _open(self) -> None:
        assert self._schema is not None
        path = self.directory / f"{self.split}-{len(self.shards):05d}.partial"
        if self.fmt == "parquet":
            self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        else:
            self._writer = pa.ipc.new_stream(str(path), self._schema)
        self.shards.append({"partial": path})
        self._rows_in_shard = 0

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.shards[-1]["rows"] = self._rows_in_shard

    def close(self, empty_schema: pa.Schema) -> list[dict[str, Any]]:
        """Finish the last shard, give all shards their final names; return name, rows, sha256."""
        if self._held:  # every table had a column without values: its type stays null
            self._fix_schema(self._held)
        if self._schema is None and self.shards:  # adopted shards only: written with this schema
            self._schema = empty_schema.with_metadata(features_metadata(empty_schema))
        self._flush()
        self._close_shard()
        if not self.shards:
            # No accepted rows: still write one empty shard so the output loads with its schema.
            self._schema = empty_schema.with_metadata(features_metadata(empty_schema))
            self._open()
            self._close_shard()
        total = len(self.shards)
        prefix = "data" if self.fmt == "arrow" else self.split
        result = []
        for i, shard in enumerate(self.shards):
            name = f"{prefix}-{i:05d}-of-{total:05d}.{self.fmt}"
            final = self.directory / name
            shard["partial"].rename(final)
            digest = shard.get("sha256") or sha256_of(final)  # an adopted shard's: not read again here
            result.append({"file": name, "rows": shard["rows"], "sha256": digest})
        if self.fmt == "arrow":
            self._write_dataset_json(result)
        return result

    def _write_dataset_json(self, shards: list[dict[str, Any]]) -> None:
        assert self._schema is not None
        features = features_dict(self._schema)
        info = {"citation": "", "description": "", "features": features, "homepage": "", "license": ""}
        digest = hashlib.sha256("".join(s["sha256"] for s in shards).encode()).hexdigest()[:16]
        state: dict[str, Any] = {
            "_data_files": [{"filename": s["file"]} for s in shards],
            "_fingerprint": digest,
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": self.split,
        }
        (self.directory / "dataset_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        (self.directory / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def part_name(split: str, part: int, batch: int) -> str:
    """The temporary name of the shard holding batch `batch` of part `part` of the inputs (the
    part of a task that reads a file or a range of one, or 0 for the driver's reader: `write_part`):
    sorted by name, such shards are in input order."""
    return f"{split}-part-{part:06d}-{batch:09d}.partial"


def write_part(table: pa.Table, path: Path, fmt: str) -> dict[str, Any]:
    """Write `table` whole as one shard at `path` (a Ray worker's batch, `--ray-write workers`),
    in row groups of `ROW_GROUP_ROWS` with the features metadata, as `ShardWriter` writes its
    shards; its ``rows`` and ``sha256``."""
    schema = table.schema.remove_metadata()
    schema = schema.with_metadata(features_metadata(schema))
    table = table.replace_schema_metadata(schema.metadata)
    writer: pq.ParquetWriter | pa.ipc.RecordBatchStreamWriter
    writer = (
        pq.ParquetWriter(path, schema, compression="zstd") if fmt == "parquet" else pa.ipc.new_stream(str(path), schema)
    )
    with writer:
        for start in range(0, table.num_rows, ROW_GROUP_ROWS):
            writer.write_table(table.slice(start, ROW_GROUP_ROWS).combine_chunks())
    return {"rows": table.num_rows, "sha256": sha256_of(path)}


def _has_null_column(table: pa.Table) -> bool:
    return any(pa.types.is_null(f.type) for f in table.schema)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write manifest.json atomically: its presence marks a complete output (see `OutputDir`)."""
    partial = directory / f"{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.rename(directory / MANIFEST)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
