"""Output: Parquet or Arrow shards written into a temporary directory, renamed into place at the end."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sftmask import supervision
from sftmask.errors import InputDataError, OutputError
from sftmask.io import remote
from sftmask.supervision import owner_pid

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"

HOLD_ROWS = 10_000
"""Rows held back unwritten while a kept column has had no value (its type unknown)..."""
HOLD_BYTES = 256 << 20
"""...and at most this many bytes of them."""
ROW_GROUP_ROWS = 1000
"""Rows per Parquet row group (Arrow record batch) of a shard; a shard's last group may be shorter."""


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


def _refuse_unless_replaceable(path: object, *, empty: bool, overwrite: bool, ours: Callable[[], bool]) -> None:
    """The rule both kinds of output follow: an empty (or missing) directory is replaced; one with
    files only with `overwrite`, and only when it is a previous sftmask output (`ours()`).

    Raises:
        OutputError: the directory may not be replaced.
    """
    if empty:
        return
    if not overwrite:
        raise OutputError(f"output directory {path} exists and is not empty; pass --overwrite to replace it")
    if not ours():
        raise OutputError(
            f"output directory {path} is not empty and is not a sftmask output (no {MANIFEST} written "
            "by sftmask); --overwrite replaces only a previous sftmask output or an empty directory: "
            "choose another --output, or empty it yourself"
        )


def _input_inside(kept: object, path: object) -> OutputError:
    return OutputError(
        f"{kept} lies inside the output directory {path}, which the build replaces; choose another --output"
    )


DYING_HOLDER_SECONDS = 5.0
"""How long a build waits for the lock of a build whose `sftmask` process is gone (killed): its
work process, which holds the lock, is being ended by the kernel (`cli.supervisor`)."""


class OutputDir:
    """A build's output directory: written under a temporary name, renamed when complete.

    Used as a context manager: on an exception the temporary directory is removed, so a failed
    run leaves nothing that looks complete. Only an empty directory or a previous sftmask output
    (one with our manifest) is ever replaced, and never one that holds an input of the build.

    Args:
        path: the output directory.
        overwrite: replace a previous sftmask output.
        keep: paths the build reads (inputs, tokenizer folder, templates); the output must not
            hold any of them, since replacing it would delete them.
    """

    def __init__(self, path: str | Path, *, overwrite: bool, keep: Sequence[str | Path] = ()) -> None:
        self.path = Path(path)
        self.absolute = Path(os.path.abspath(self.path))
        if self.absolute.parent == self.absolute:
            raise OutputError(f"output {self.path} is the root directory; choose a directory to create")
        real = Path(os.path.realpath(self.absolute))
        for kept in keep:
            if Path(os.path.realpath(kept)).is_relative_to(real):
                raise _input_inside(kept, self.path)
        self.overwrite = overwrite
        self.tmp = self._sibling("tmp", owner_pid())
        self._lock: int | None = None
        self.notes: list[str] = []
        """What opening the directory repaired (stale temporary directories removed, a swap finished)."""

    def _sibling(self, kind: str, pid: int | str) -> Path:
        return self.absolute.parent / f".{self.absolute.name}.sftmask-{kind}-{pid}"

    def _take_lock(self) -> None:
        """Hold an exclusive lock on the output for the whole build; another build holding it fails."""
        path = self._sibling("lock", "file")
        deadline = time.monotonic() + DYING_HOLDER_SECONDS
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                if holder.isdigit() and supervision.gone(int(holder)) and time.monotonic() < deadline:
                    # The build whose `sftmask` process was killed: the kernel is ending its
                    # work process (which holds the lock) this very moment.
                    time.sleep(0.05)
                    continue
                raise OutputError(
                    f"output {self.path} is being written by another sftmask build (pid {holder}); "
                    "wait for it to finish, or choose another --output"
                ) from None
            try:  # the last holder may have removed the file between our open and flock
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{owner_pid()}\n".encode())
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._sibling("lock", "file").unlink()
            os.close(self._lock)
            self._lock = None
            supervision.untrack("output", self.absolute)

    def _repair(self) -> None:
        """Finish an interrupted swap and remove what killed builds left (we hold the lock: no
        other build is writing them)."""
        prefix = glob.escape(f".{self.absolute.name}.sftmask-")
        leftovers = sorted(
            (p for kind in ("tmp", "old") for p in self.absolute.parent.glob(f"{prefix}{kind}-*") if p != self.tmp),
            key=lambda p: p.stat().st_mtime,
        )
        if not self.absolute.exists():
            # Killed between commit's two renames (or just before the first): a complete new
            # output has its manifest (written last, atomically); else the old one is whole.
            complete = [p for p in leftovers if "-tmp-" in p.name and (p / MANIFEST).is_file()]
            complete = complete or [p for p in leftovers if "-old-" in p.name and is_sftmask_output(p)]
            if complete:
                complete[-1].rename(self.absolute)
                leftovers.remove(complete[-1])
                self._note(f"restored {self.path} from {complete[-1].name}, left by a build killed while committing")
        for stale in leftovers:
            shutil.rmtree(stale, ignore_errors=True)
            self._note(f"removed {stale.name}, left by a killed build")

    def _note(self, message: str) -> None:
        self.notes.append(message)
        log.warning("%s", message)

    def _check_replaceable(self) -> None:
        if not self.absolute.exists():
            return
        if not self.absolute.is_dir():
            raise OutputError(f"output {self.path} exists and is not a directory")
        _refuse_unless_replaceable(
            self.path,
            empty=not any(self.absolute.iterdir()),
            overwrite=self.overwrite,
            ours=lambda: is_sftmask_output(self.absolute),
        )

    def __enter__(self) -> OutputDir:
        try:
            self.absolute.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except OSError as exc:
            raise OutputError(f"cannot create output directory {self.path}: {exc.strerror or exc}") from exc
        supervision.track("output", self.absolute)
        try:
            self._repair()
            self._check_replaceable()
            if self.tmp.exists():
                shutil.rmtree(self.tmp)
            self.tmp.mkdir()
        except OSError as exc:
            self._release_lock()
            raise OutputError(f"cannot create output directory {self.path}: {exc.strerror or exc}") from exc
        except BaseException:
            self._release_lock()
            raise
        return self

    def remove_killed(self) -> None:
        """Remove what a build of this process's left here when it was killed (the supervisor's
        clean-up, `sftmask.cli.supervisor`): its temporary directory and its lock; an old output it
        had moved aside to commit is put back unless the new one is in place."""
        try:
            self._take_lock()
        except OutputError:
            return  # another build writes here now; it removes what killed builds left
        try:
            old = self._sibling("old", owner_pid())
            if old.exists() and not self.absolute.exists():
                old.rename(self.absolute)
            shutil.rmtree(self.tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            self._release_lock()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            self._release_lock()

    def commit(self) -> None:
        """Move the finished temporary directory into place (replacing an old one if allowed)."""
        old = self._sibling("old", owner_pid())
        if self.absolute.exists():
            self.absolute.rename(old)
        self.tmp.rename(self.absolute)
        shutil.rmtree(old, ignore_errors=True)


class RemoteOutputDir:
    """A build's output on a remote filesystem (``s3://bucket/sft``): staged locally, uploaded at the end.

    Object stores have no atomic rename, so completeness is the manifest, as everywhere in
    sftmask: shards and rejects are uploaded first and ``manifest.json`` last, and a replaced
    output loses its manifest before anything else. A build that fails (or is killed) at any
    point leaves no remote directory that `validate`/`open_output` would take as complete. There
    is no lock across machines: two builds to one remote output are the user's to avoid.

    The same rules as `OutputDir` decide what may be replaced: nothing, an empty prefix, or (with
    `overwrite`) a previous sftmask output.
    """

    def __init__(self, url: str, *, overwrite: bool, keep: Sequence[str] = ()) -> None:
        self.path = url.rstrip("/")
        for kept in keep:
            if kept.rstrip("/") == self.path or kept.startswith(self.path + "/"):
                raise _input_inside(kept, self.path)
        self.overwrite = overwrite
        self.notes: list[str] = []
        self._fs, self._root = remote.filesystem(self.path, OutputError)
        self._staging: str | None = None

    @property
    def tmp(self) -> Path:
        """The local staging directory the shards are written into."""
        assert self._staging is not None, "used outside its with-block"
        return Path(self._staging)

    def _existing(self) -> list[str]:
        with remote.remote_errors(self.path, OutputError):
            self._fs.invalidate_cache(self._root)  # what is there now, not what this process last listed
            if not remote.answer_in_time(self._fs, "exists", self._root):
                return []
            if not self._fs.isdir(self._root):
                raise OutputError(f"output {self.path} exists and is not a directory")
            return list(self._fs.find(self._root))

    def _check_replaceable(self, existing: list[str]) -> None:
        manifest = f"{self._root}/{MANIFEST}"

        def ours() -> bool:
            with remote.remote_errors(self.path, OutputError):
                return manifest in existing and _is_manifest(self._fs.cat_file(manifest))

        _refuse_unless_replaceable(self.path, empty=not existing, overwrite=self.overwrite, ours=ours)

    def __enter__(self) -> RemoteOutputDir:
        import tempfile

        self._check_replaceable(self._existing())
        self._staging = tempfile.mkdtemp(prefix="sftmask-staging-")
        supervision.track("folder", self._staging)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            supervision.untrack("folder", self._staging)
            self._staging = None

    def commit(self) -> None:
        """Replace the remote output with the staged one: old manifest off, old files off, new
        files up, new manifest up last."""
        existing = self._existing()
        self._check_replaceable(existing)  # it may have changed while the build ran
        staged = sorted(p for p in self.tmp.rglob("*") if p.is_file() and p.name != MANIFEST)
        with remote.remote_errors(self.path, OutputError):
            manifest = f"{self._root}/{MANIFEST}"
            if manifest in existing:
                self._fs.rm_file(manifest)
            for name in existing:
                if name != manifest:
                    self._fs.rm_file(name)
            for path in staged:
                self._fs.put_file(str(path), f"{self._root}/{path.relative_to(self.tmp).as_posix()}")
            self._fs.put_file(str(self.tmp / MANIFEST), manifest)


def open_output_dir(path: str, *, overwrite: bool, keep: Sequence[str | Path] = ()) -> OutputDir | RemoteOutputDir:
    """The output directory for `path`: `RemoteOutputDir` for a URL of a remote filesystem, else
    `OutputDir` (plain paths and URLs that land on this machine's filesystem, resolved to their path,
    so the local rules apply to them: an output that holds an input is refused however it is spelt).

    Raises:
        OutputError: the output would not outlive the build (``memory://``), or holds an input.
    """
    if remote.is_remote(path):
        if remote.in_archive(path):
            raise OutputError(
                f"output {path} is inside an archive, which sftmask reads but does not write; "
                "write to a directory or a URL of object storage (s3://, gs://, ...) and archive that"
            )
        if not remote.outlives_build(path, OutputError):
            raise OutputError(
                f"output {path} lives in this process's memory and would vanish when the build ends; "
                "choose a directory or a URL of lasting storage (s3://, gs://, ...)"
            )
        return RemoteOutputDir(path, overwrite=overwrite, keep=[str(k) for k in keep if remote.is_remote(str(k))])
    return OutputDir(
        remote.local_path(path),
        overwrite=overwrite,
        keep=[remote.local_path(str(k)) for k in keep if not remote.is_remote(str(k))],
    )


def _is_manifest(text: bytes) -> bool:
    try:
        manifest = orjson.loads(text)  # a manifest nested thousands deep: an error, not a RecursionError
    except ValueError:
        return False
    return isinstance(manifest, dict) and "sftmask_version" in manifest and "shards" in manifest


def is_sftmask_output(directory: Path) -> bool:
    """Whether `directory` holds a manifest that `sftmask build` wrote."""
    try:
        return _is_manifest((directory / MANIFEST).read_bytes())
    except OSError:
        return False


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


def part_name(split: str, file: int, batch: int) -> str:
    """The temporary name of the shard holding batch `batch` of input `file` (`write_part`):
    sorted by name, such shards are in input order."""
    return f"{split}-part-{file:06d}-{batch:09d}.partial"


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
