"""JSON arrays: one top-level array of objects, its items numbered by row from 0."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from sftmask.errors import InputDataError
from sftmask.io.inputs import InputFile

UTF8_BOM = b"\xef\xbb\xbf"


def json_array_records(inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """The items of one top-level JSON array, parsed incrementally (ijson), numbered from 0."""
    import ijson

    peek = getattr(stream, "peek", None)  # the reader's streams are buffered (gzip's and stdin's too)
    if peek is not None and peek(3)[:3] == UTF8_BOM:  # as JSON lines and CSV files may start
        stream.read(3)
    count = 0
    try:
        for item in ijson.items(stream, "item", use_float=True):
            yield count, item
            count += 1
    except ijson.JSONError as exc:
        after = f" after row {count - 1}" if count else ""
        said = exc.args[0] if exc.args else str(exc)  # yajl's C backend says it in bytes
        said = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
        raise InputDataError(
            f"not a valid JSON array ({' '.join(said.split())}){after}; "
            "a .json input holds one array of objects, or one object per line",
            file=inp.name,
        ) from exc
