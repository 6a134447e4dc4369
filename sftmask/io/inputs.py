"""Inputs of a build: files, globs, URLs, stdin and `datasets` folders, each with its format
(told from its name, or sniffed), and the batches and rejects readers give.

Each record keeps its file and its line (text files) or row (tables, JSON arrays, counted from 0),
so errors and rejects point at the exact record.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from sftmask.errors import ConfigError, InputDataError
from sftmask.io import remote
from sftmask.io.compression import STDIN, open_binary

FILE_COLUMN = "_sftmask_file"
LINE_COLUMN = "_sftmask_line"
"""Where each record came from: the line (text files) or row from 0 (tables, JSON arrays)."""
KEEP_PREFIX = "_sftmask_keep:"
"""Batch column holding a kept field's original value when the data kind reads it as JSON text."""

SUFFIX_FORMATS = {
    ".jsonl": "jsonl",
    ".json": "json",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}
COMPRESSIONS = (".gz", ".zst")
TABLE_FORMATS = ("parquet", "arrow", "dataset")
"""Formats read as Arrow record batches (no compression suffix, not from stdin)."""
ROW_FORMATS = (*TABLE_FORMATS, "json")


@dataclass(frozen=True)
class Reject:
    """One record that was not written, with where it came from and why."""

    file: str
    line: int
    """The record's line, or its row (from 0) when `unit` is ``row``."""
    reason: str
    message: str
    record: Any
    unit: str = "line"


@dataclass
class ReadBatch:
    """Up to `batch_size` records as columns, plus the records of the same span that failed."""

    table: pa.RecordBatch
    rejects: list[Reject] = field(default_factory=list)
    bytes_read: int = 0
    """Bytes of input consumed so far, over all files (compressed size for .gz/.zst)."""


@dataclass(frozen=True)
class InputFile:
    """One input: a file, stdin, or a `save_to_disk` folder (its Arrow files in `parts`)."""

    name: str
    format: str
    size: int | None
    parts: tuple[str, ...] = ()
    """For a `datasets` folder: its Arrow files in order."""

    @property
    def unit(self) -> str:
        """``line`` for text files, ``row`` (counted from 0) for tables and JSON arrays."""
        return "row" if self.format in ROW_FORMATS else "line"

    def where(self, position: int) -> str:
        """``data.jsonl:12`` or ``data.parquet row 11``."""
        return f"{self.name}:{position}" if self.unit == "line" else f"{self.name} row {position}"

    def reject(self, position: int, reason: str, message: str, record: Any) -> Reject:
        """A reject of the record at `position` of this input."""
        return Reject(self.name, position, reason, message, record, self.unit)

    def error(self, message: str, position: int) -> InputDataError:
        """An input error at `position` of this input."""
        if self.unit == "line":
            return InputDataError(message, file=self.name, line=position)
        return InputDataError(message, file=self.name, row=position)


def resolve_inputs(patterns: Iterable[str], input_format: str | None, split: str = "train") -> list[InputFile]:
    """Expand globs in the order given and decide each file's format.

    A pattern may be a URL of any filesystem fsspec reaches (``s3://bucket/chats/*.jsonl.zst``);
    its files keep their URLs as names, so rejects say which object they came from. A folder
    written by `Dataset.save_to_disk` is one input; of a `DatasetDict.save_to_disk` folder,
    `split` is read.

    Raises:
        InputDataError: a path or glob matches no file, a folder is not a `datasets` folder, or a
            remote filesystem refuses.
        ConfigError: a file's format cannot be told from its name, or the split does not exist.
    """
    files: list[InputFile] = []
    for pattern in patterns:
        if pattern == STDIN:
            if input_format in TABLE_FORMATS:
                raise ConfigError(f"--input-format {input_format} cannot be read from stdin; pass the file")
            files.append(InputFile(STDIN, input_format or "jsonl", None))
            continue
        if remote.is_remote(pattern):
            files += [_input_file(url, input_format, size) for url, size in remote.expand(pattern, InputDataError)]
            continue
        pattern = remote.local_path(pattern)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise InputDataError(f"no file matches {pattern!r}")
        for name in matches:
            path = Path(name)
            if path.is_dir():
                files.append(_dataset_folder(path, split))
                continue
            if not path.is_file():
                raise InputDataError("no such file" if not path.exists() else "not a file", file=name)
            files.append(_input_file(name, input_format, path.stat().st_size))
    return files


def _input_file(name: str, input_format: str | None, size: int | None) -> InputFile:
    """A file (local path or URL) with its format: given, or told from its name (a ``.json``
    file from its first character: one array, or JSON lines)."""
    fmt = input_format or _format_of(name)
    if fmt == "json":  # given or told by the name: one array, or JSON lines (as datasets' json reader takes both)
        fmt = _sniff_json(name)
    if fmt in TABLE_FORMATS and remote.file_part(name).endswith(COMPRESSIONS):
        raise ConfigError(f"{name}: {fmt} files are read uncompressed; decompress it first")
    return InputFile(name, fmt, size)


def _format_of(name: str) -> str:
    stem = remote.file_part(name)
    for suffix in COMPRESSIONS:
        stem = stem.removesuffix(suffix)
    fmt = SUFFIX_FORMATS.get(os.path.splitext(stem)[1].lower())
    if fmt is None:
        raise ConfigError(
            f"{name}: cannot tell the input format from the file name; "
            "pass --input-format jsonl|json|csv|tsv|parquet|arrow"
        )
    return fmt


def _sniff_json(name: str) -> str:
    """``json`` for a file holding one JSON array (its first character is ``[``), else ``jsonl``."""
    stream, _ = open_binary(name)
    try:
        head = stream.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    except (OSError, EOFError, ValueError) as exc:
        raise InputDataError(f"cannot read input: {remote.read_failure(exc)}", file=name) from exc
    finally:
        stream.close()
    return "json" if head.startswith(b"[") else "jsonl"


def _dataset_folder(path: Path, split: str) -> InputFile:
    """A `save_to_disk` folder as one input: a Dataset's Arrow files, or a DatasetDict split's."""
    if (path / "dataset_dict.json").is_file():
        try:
            splits = [str(s) for s in orjson.loads((path / "dataset_dict.json").read_bytes())["splits"]]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputDataError(f"cannot read dataset_dict.json: {exc}", file=str(path)) from exc
        if split not in splits:
            raise ConfigError(
                f"{path}: a DatasetDict without a {split!r} split; splits are {', '.join(splits)}; pass --split NAME"
            )
        path = path / split
    state = path / "state.json"
    if not state.is_file():
        raise InputDataError(
            "is a directory, not a folder written by Dataset.save_to_disk (no state.json); "
            f"pass its files instead (e.g. {path}/*.parquet)",
            file=str(path),
        )
    try:
        names = [str(f["filename"]) for f in orjson.loads(state.read_bytes())["_data_files"]]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputDataError(f"cannot read state.json: {exc}", file=str(path)) from exc
    parts = tuple(str(path / name) for name in names)
    for part in parts:
        if not Path(part).is_file():
            raise InputDataError("file listed in state.json is missing", file=part)
    return InputFile(str(path), "dataset", sum(Path(p).stat().st_size for p in parts), parts)
