"""Output: Parquet or Arrow shards written into a temporary directory, renamed into place at the end."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sftmask.errors import OutputError

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"


def features_dict(schema: pa.Schema) -> dict[str, Any]:
    """`datasets` features (as `Features.to_dict()` writes them) for an Arrow schema."""
    features: dict[str, Any] = {}
    other = []
    for f in schema:
        if pa.types.is_list(f.type) and pa.types.is_integer(f.type.value_type):
            features[f.name] = {"feature": {"dtype": str(f.type.value_type), "_type": "Value"}, "_type": "List"}
        else:
            other.append(f)
    if other:  # kept columns of any type: let `datasets` describe them (slower import)
        from datasets import Features

        features.update(Features.from_arrow_schema(pa.schema(other)).to_dict())
    return {f.name: features[f.name] for f in schema}


def features_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """The `huggingface` schema metadata that `datasets` reads its features from."""
    return {b"huggingface": json.dumps({"info": {"features": features_dict(schema)}}).encode()}


class OutputDir:
    """A build's output directory: written under a temporary name, renamed when complete.

    Used as a context manager: on an exception the temporary directory is removed, so a failed
    run leaves nothing that looks complete.
    """

    def __init__(self, path: str | Path, *, overwrite: bool) -> None:
        self.path = Path(path)
        if self.path.exists():
            if not self.path.is_dir():
                raise OutputError(f"output {self.path} exists and is not a directory")
            if any(self.path.iterdir()) and not overwrite:
                raise OutputError(
                    f"output directory {self.path} exists and is not empty; pass --overwrite to replace it"
                )
        self.overwrite = overwrite
        self.tmp = self.path.parent / f".{self.path.name}.sftmask-tmp-{os.getpid()}"

    def __enter__(self) -> OutputDir:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.tmp.exists():
                shutil.rmtree(self.tmp)
            self.tmp.mkdir()
        except OSError as exc:
            raise OutputError(f"cannot create output directory {self.path}: {exc.strerror or exc}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def commit(self) -> None:
        """Move the finished temporary directory into place (replacing an old one if allowed)."""
        old = self.path.parent / f".{self.path.name}.sftmask-old-{os.getpid()}"
        if self.path.exists():
            self.path.rename(old)
        self.tmp.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)


class RejectWriter:
    """Appends rejected records to rejects.jsonl, creating the file on the first one."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / REJECTS
        self._file: Any = None

    def write(self, rejects: pa.Table) -> None:
        """Append rejects (a table in `sftmask.labelling.REJECT_SCHEMA`), one JSON line each."""
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
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema.with_metadata(features_metadata(table.schema))
        table = table.replace_schema_metadata(self._schema.metadata)
        start = 0
        while start < table.num_rows:
            if self._writer is None:
                self._open()
            take = min(table.num_rows - start, self.rows_per_shard - self._rows_in_shard)
            assert self._writer is not None
            self._writer.write_table(table.slice(start, take))
            self._rows_in_shard += take
            start += take
            if self._rows_in_shard >= self.rows_per_shard:
                self._close_shard()

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
            result.append({"file": name, "rows": shard["rows"], "sha256": sha256_of(final)})
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


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
