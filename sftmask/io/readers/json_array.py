"""JSON arrays: one top-level array of objects, its items numbered by row from 0."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from sftmask.errors import InputDataError
from sftmask.io.inputs import InputFile


def json_array_records(inp: InputFile, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """The items of one top-level JSON array, parsed incrementally (ijson), numbered from 0."""
    import ijson

    count = 0
    try:
        for item in ijson.items(stream, "item", use_float=True):
            yield count, item
            count += 1
    except ijson.JSONError as exc:
        after = f" after row {count - 1}" if count else ""
        raise InputDataError(
            f"not a valid JSON array ({' '.join(str(exc).split())}){after}; "
            "a .json input holds one array of objects, or one object per line",
            file=inp.name,
        ) from exc
