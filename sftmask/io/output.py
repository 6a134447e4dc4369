"""Reading what `sftmask build` wrote: the manifest and the shards, in Parquet or Arrow format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sftmask.errors import NotAnOutputError, ShardReadError
from sftmask.io.writer import MANIFEST
from sftmask.ragged import BoolArray, IntArray, offsets_of, row_sums

SHARD_PATTERNS = {"parquet": "*-*-of-*.parquet", "arrow": "data-*-of-*.arrow"}
TOKEN_COLUMNS = ("input_ids", "attention_mask", "labels")
PACKED_TOKEN_COLUMNS = ("input_ids", "position_ids", "labels")
"""Packed rows (`--pack-length`) have position_ids (and seq_lengths) instead of attention_mask."""


@dataclass(frozen=True)
class BuiltOutput:
    """A directory written by `sftmask build`: its manifest and where its shards are."""

    path: Path
    manifest: dict[str, Any]
    format: str
    """``parquet`` or ``arrow``."""

    @property
    def shard_files(self) -> list[str]:
        """Shard file names in row order, as the manifest lists them."""
        return [str(s["file"]) for s in self.manifest["shards"]]

    def shards_on_disk(self) -> list[str]:
        """Shard-like file names found in the directory (sorted), whether listed or not."""
        return sorted(p.name for p in self.path.glob(SHARD_PATTERNS[self.format]))

    @property
    def tokenizer_name(self) -> str:
        return str(self.manifest.get("tokenizer", {}).get("name_or_path", ""))

    @property
    def id2label(self) -> dict[int, str] | None:
        """Tag names of word-labelled (first-subtoken) data; None for language-modelling labels."""
        raw = self.manifest.get("id2label")
        if self.manifest.get("data_kind") != "words" or not isinstance(raw, dict):
            return None
        return {int(k): str(v) for k, v in raw.items()}

    @property
    def packing(self) -> dict[str, Any] | None:
        """The manifest's packing entry, for packed output (`--pack-length`)."""
        entry = self.manifest.get("packing")
        return entry if isinstance(entry, dict) else None

    @property
    def token_columns(self) -> tuple[str, str, str]:
        """The three per-token columns of equal length in every row."""
        return PACKED_TOKEN_COLUMNS if self.packing is not None else TOKEN_COLUMNS


def open_output(path: str | Path) -> BuiltOutput:
    """Open a build's output directory by reading its manifest.

    Raises:
        NotAnOutputError: the path is missing, not a directory, or has no valid manifest.json.
    """
    path = Path(path)
    hint = "point at a directory written by `sftmask build`"
    if not path.exists():
        raise NotAnOutputError(f"{path}: no such directory; {hint}")
    if not path.is_dir():
        raise NotAnOutputError(f"{path}: not a directory; {hint}")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise NotAnOutputError(f"{path}: not a sftmask output (no {MANIFEST}); {hint}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAnOutputError(f"{manifest_path}: cannot read the manifest: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise NotAnOutputError(f"{manifest_path}: not a sftmask manifest (no 'shards' list); {hint}")
    for i, shard in enumerate(manifest["shards"]):
        if not isinstance(shard, dict) or not isinstance(shard.get("file"), str):
            raise NotAnOutputError(f"{manifest_path}: shard entry {i} has no 'file'")
    fmt = manifest.get("config", {}).get("format") if isinstance(manifest.get("config"), dict) else None
    if fmt not in SHARD_PATTERNS:
        names = [s["file"] for s in manifest["shards"]]
        fmt = "arrow" if names and all(n.endswith(".arrow") for n in names) else "parquet"
    return BuiltOutput(path, manifest, fmt)


def iter_batches(output: BuiltOutput, shard: str, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of one shard, in order; only `columns` when given.

    Raises:
        ShardReadError: the shard is missing or cannot be decoded.
    """
    path = output.path / shard
    if not path.is_file():
        raise ShardReadError(f"{path}: shard listed in the manifest is missing")
    try:
        if output.format == "parquet":
            reader = pq.ParquetFile(path)
            yield from reader.iter_batches(batch_size=8192, columns=columns)
        else:
            with pa.memory_map(str(path)) as source:
                stream = pa.ipc.open_stream(source)
                for batch in stream:
                    yield batch.select(columns) if columns is not None else batch
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise ShardReadError(f"{path}: cannot read shard: {message}") from exc


def shard_schema(output: BuiltOutput, shard: str) -> pa.Schema:
    """The schema of one shard, read without its data."""
    path = output.path / shard
    try:
        if output.format == "parquet":
            return pq.read_schema(path)
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_stream(source).schema
    except (OSError, pa.ArrowException) as exc:
        message = " ".join(str(exc).split())[:300]
        raise ShardReadError(f"{path}: cannot read shard: {message}") from exc


def read_rows(output: BuiltOutput, start: int, count: int) -> list[tuple[str, int, dict[str, Any]]]:
    """Rows ``start .. start + count - 1`` of the whole output, as (shard, row in shard, row)."""
    rows: list[tuple[str, int, dict[str, Any]]] = []
    offset = 0  # global index of the current shard's first row
    for entry in output.manifest["shards"]:
        listed = entry.get("rows")
        if isinstance(listed, int) and offset + listed <= start:
            offset += listed  # skip a whole shard without reading it
            continue
        local = 0
        for batch in iter_batches(output, entry["file"]):
            first = max(start - offset - local, 0)
            if first < batch.num_rows:
                taken = batch.slice(first, count - len(rows)).to_pylist()
                rows.extend((entry["file"], local + first + k, row) for k, row in enumerate(taken))
            local += batch.num_rows
            if len(rows) >= count:
                return rows
        offset += local
    return rows


def list_lengths(column: pa.Array) -> IntArray:
    """Per row of a list column, its length (0 for null)."""
    return np.asarray(pc.fill_null(pc.list_value_length(column), 0), dtype=np.int64)


def flat_values(column: pa.Array) -> npt.NDArray[Any]:
    """A list column's values, flattened, as numpy."""
    return np.asarray(pc.list_flatten(column))


def row_counts(flags: BoolArray, lengths: IntArray) -> IntArray:
    """Per row, how many of its (flattened) positions are True."""
    return row_sums(flags, offsets_of(lengths))


def whole_column(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    """A column as one array (chunks combined)."""
    col = batch.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
