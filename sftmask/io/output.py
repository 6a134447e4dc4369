"""Reading what `sftmask build` wrote: the manifest and the shards, in Parquet or Arrow format."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sftmask.arrays import fill_null, to_numpy
from sftmask.errors import NotAnOutputError, ShardReadError
from sftmask.io.output_dir import MANIFEST
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
        """Shard file names (relative to the output: ``data/train-...`` in the split layout) in
        row order, split after split, as the manifest lists them."""
        return [str(s["file"]) for s in self.manifest["shards"]]

    @property
    def splits(self) -> list[str]:
        """The splits, in the manifest's order (``train`` first); one for a single-split build."""
        named = [str(s["split"]) for s in self.manifest["shards"] if isinstance(s, dict) and "split" in s]
        if not named:
            return [str(self.manifest.get("config", {}).get("split") or "train")]
        return list(dict.fromkeys(named))

    def split_shards(self, split: str) -> list[str]:
        """The shard files of one split, in row order.

        Raises:
            NotAnOutputError: the output has no such split.
        """
        if split not in self.splits:
            raise NotAnOutputError(f"{self.path} has no split {split!r}; its splits are {', '.join(self.splits)}")
        if len(self.splits) == 1:
            return self.shard_files
        return [str(s["file"]) for s in self.manifest["shards"] if s.get("split") == split]

    @property
    def sources(self) -> dict[str, Any]:
        """A recipe's sources (name -> the manifest's counts of it); empty for a single-source build."""
        entry = self.manifest.get("sources")
        return entry if isinstance(entry, dict) else {}

    def shards_on_disk(self) -> list[str]:
        """Shard-like file names found in the directory and its split folders (sorted, relative to
        the output), whether listed or not."""
        pattern = SHARD_PATTERNS[self.format]
        found = [*self.path.glob(pattern), *self.path.glob(f"*/{pattern}")]
        return sorted(p.relative_to(self.path).as_posix() for p in found)

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

    The manifest is checked before anything it names is opened: every shard is a plain file name
    in the directory (not an absolute path, not ``..``, not a symlink out of it), and the counts
    and entries the reports read have their types.

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
        # orjson, not json: a manifest nested thousands deep is an error here, not a RecursionError.
        manifest = orjson.loads(manifest_path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise NotAnOutputError(f"{manifest_path}: cannot read the manifest: {exc}; {hint}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise NotAnOutputError(f"{manifest_path}: not a sftmask manifest (no 'shards' list); {hint}")
    problem = manifest_problem(manifest, path)
    if problem is not None:
        raise NotAnOutputError(
            f"{manifest_path}: {problem}; the manifest was edited or not written by `sftmask build`: rebuild the output"
        )
    fmt = manifest.get("config", {}).get("format")
    if fmt not in SHARD_PATTERNS:
        names = [s["file"] for s in manifest["shards"]]
        fmt = "arrow" if names and all(n.endswith(".arrow") for n in names) else "parquet"
    return BuiltOutput(path, manifest, fmt)


SECTIONS = ("config", "tokenizer", "strategy", "labels", "counts", "packing", "id2label", "sources", "splits")
"""Manifest entries that are objects when present."""
COUNTS = (
    "records_read",
    "rows_written",
    "rejected",
    "truncated",
    "tokens",
    "trained_tokens",
    "boundary_merges",
    "longest_row",
    "duplicates",
    "left_out",
    "repeated",
)
SOURCE_COUNTS = (
    "records_read",
    "rows_written",
    "rejected",
    "duplicates",
    "left_out",
    "repeated",
    "truncated",
    "tokens",
    "trained_tokens",
)
SPLIT_COUNTS = ("rows", "tokens", "trained_tokens")
PACKING_COUNTS = ("pack_length", "rows", "examples", "tokens", "capacity_tokens")
SHA256 = re.compile(r"[0-9a-f]{64}")


def manifest_problem(manifest: dict[str, Any], directory: Path) -> str | None:
    """What makes `manifest` unsafe or unusable to read `directory` by, or None.

    A shard entry must name a file beside the manifest (a tampered one could point the reports at
    ``../../etc/passwd``); counts must be non-negative integers (``"3"`` is not one).
    """
    for key in SECTIONS:
        if key in manifest and not isinstance(manifest[key], dict):
            return f"{key!r} is {_shown(manifest[key])}, not an object"
    for key in ("data_kind", "sftmask_version"):
        if key in manifest and not isinstance(manifest[key], str):
            return f"{key!r} is {_shown(manifest[key])}, not a string"
    for i, shard in enumerate(manifest["shards"]):
        where = f"shards[{i}]"
        if not isinstance(shard, dict) or not isinstance(shard.get("file"), str):
            return f"{where} has no 'file'"
        name = shard["file"]
        if not _relative_name(name, shard.get("split")):
            return f"{where}.file {name!r} is not a file name in the output directory"
        if not inside(directory, name):
            target = os.path.realpath(directory / name)
            return f"{where}.file {name!r} is a symlink to {target}, outside the output directory"
        if "split" in shard and not isinstance(shard["split"], str):
            return f"{where}.split is {_shown(shard['split'])}, not a string"
        if "rows" in shard and not _is_count(shard["rows"]):
            return f"{where}.rows is {_shown(shard['rows'])}, not a count"
        if shard.get("sha256") is not None and not (
            isinstance(shard["sha256"], str) and SHA256.fullmatch(shard["sha256"])
        ):
            return f"{where}.sha256 is {_shown(shard['sha256'])}, not a SHA-256 in hex"
    counts = manifest.get("counts", {})
    for key in COUNTS:
        if key in counts and not _is_count(counts[key]):
            return f"counts.{key} is {_shown(counts[key])}, not a count"
    for section, keys in (("sources", SOURCE_COUNTS), ("splits", SPLIT_COUNTS)):
        for name, entry in manifest.get(section, {}).items():
            if not isinstance(entry, dict):
                return f"{section}.{name} is {_shown(entry)}, not an object"
            for key in keys:
                if key in entry and not _is_count(entry[key]):
                    return f"{section}.{name}.{key} is {_shown(entry[key])}, not a count"
            by_split = entry.get("rows_written_by_split", {})
            if not isinstance(by_split, dict) or not all(_is_count(n) for n in by_split.values()):
                return f"{section}.{name}.rows_written_by_split is {_shown(by_split)}, not counts by split"
    by_reason = counts.get("rejected_by_reason", {})
    if not isinstance(by_reason, dict) or not all(_is_count(n) for n in by_reason.values()):
        return f"counts.rejected_by_reason is {_shown(by_reason)}, not counts by reason"
    packing = manifest.get("packing", {})
    for key in PACKING_COUNTS:
        if key in packing and not _is_count(packing[key]):
            return f"packing.{key} is {_shown(packing[key])}, not a count"
    per_row = packing.get("examples_per_row", {})
    if not isinstance(per_row, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in per_row.values()
    ):
        return f"packing.examples_per_row is {_shown(per_row)}, not numbers"
    vocab_size = manifest.get("tokenizer", {}).get("vocab_size")
    if vocab_size is not None and not _is_count(vocab_size):
        return f"tokenizer.vocab_size is {_shown(vocab_size)}, not a count"
    for section, key in (("tokenizer", "name_or_path"), ("tokenizer", "fingerprint"), ("strategy", "name")):
        value = manifest.get(section, {}).get(key)
        if value is not None and not isinstance(value, str):
            return f"{section}.{key} is {_shown(value)}, not a string"
    for key, value in manifest.get("id2label", {}).items():
        if not (key.isascii() and key.isdigit() and isinstance(value, str)):
            return f"id2label maps {_shown(key)} to {_shown(value)}, not a label id to its name"
    return None


def inside(directory: Path, name: str) -> bool:
    """Whether file `name` of `directory` is there, not a symlink (or in a symlinked folder) out of it."""
    target = directory / name
    if "/" not in name and not target.is_symlink():
        return True
    return Path(os.path.realpath(target)).is_relative_to(directory.resolve())


def count_lines(path: Path) -> int:
    """Newlines in a file, read in blocks (rejects.jsonl may hold gigabytes of records).

    Raises:
        OSError: the file cannot be read.
    """
    lines = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
    return lines


def _relative_name(name: str, split: object) -> bool:
    """A plain file name, or one in the split layout's folder: ``data/`` (Parquet) or the shard's
    split's (Arrow, ``validation/data-00000-of-00001.arrow``)."""
    folder, _, file = name.rpartition("/")
    return _plain_name(file) and (not folder or (_plain_name(folder) and folder in ("data", split)))


def _plain_name(name: str) -> bool:
    """A file name without a directory part: not absolute, not ``.``/``..``, no separator or NUL."""
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _shown(value: Any) -> str:
    """A manifest value as the message shows it: scalars quoted and clipped, containers named."""
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "an array"
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"


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
            _has_columns(path, reader.schema_arrow, columns)
            yield from reader.iter_batches(batch_size=8192, columns=columns)
        else:
            with pa.memory_map(str(path)) as source:
                stream = pa.ipc.open_stream(source)
                _has_columns(path, stream.schema, columns)
                for batch in stream:
                    yield batch.select(columns) if columns is not None else batch
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise ShardReadError(f"{path}: cannot read shard: {message}") from exc


def _has_columns(path: Path, schema: pa.Schema, columns: list[str] | None) -> None:
    missing = [c for c in columns or [] if c not in schema.names]
    if missing:
        raise ShardReadError(
            f"{path}: column {missing[0]!r} is missing; columns are {', '.join(schema.names)}: "
            "not a shard `sftmask build` wrote (run `sftmask validate` on the directory)"
        )


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


def read_rows(
    output: BuiltOutput, start: int, count: int, split: str | None = None
) -> list[tuple[str, int, dict[str, Any]]]:
    """Rows ``start .. start + count - 1`` of the whole output (of one split when given: rows
    counted from its first), as (shard, row in shard, row).

    Raises:
        NotAnOutputError: the output has no such split.
    """
    rows: list[tuple[str, int, dict[str, Any]]] = []
    offset = 0  # global index of the current shard's first row
    files = set(output.split_shards(split)) if split is not None else None
    for entry in output.manifest["shards"]:
        if files is not None and entry["file"] not in files:
            continue
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
    return to_numpy(fill_null(pc.list_value_length(column), 0)).astype(np.int64)


def flat_values(column: pa.Array) -> npt.NDArray[Any]:
    """A list column's values, flattened, as numpy."""
    return np.asarray(pc.list_flatten(column))  # null values too (a shard not built here): as numpy has them


def row_counts(flags: BoolArray, lengths: IntArray) -> IntArray:
    """Per row, how many of its (flattened) positions are True."""
    return row_sums(flags, offsets_of(lengths))


def whole_column(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    """A column as one array (chunks combined)."""
    col = batch.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
