"""JSON lines: one object per line, numbered from 1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from sftmask import reasons
from sftmask.io.inputs import InputFile, Reject
from sftmask.io.readers.checks import utf8_message

JSON_BYTES_PER_CHAR = 12
"""The most bytes JSON spends on one character of a string (an escaped surrogate pair,
``\\ud83d\\ude00``): a JSON line longer than this per --max-chars character (plus
`LINE_SLACK_BYTES`) is rejected `too-long` unparsed, whatever fields fill it."""
LINE_SLACK_BYTES = 1 << 16
LONG_LINE_HEAD = 1000
"""Bytes of a line rejected unparsed kept in its reject."""


def jsonl_records(
    inp: InputFile, stream: IO[bytes], max_chars: int | None, *, at_start: bool = True
) -> Iterator[tuple[int, Any]]:
    """(line, parsed record or Reject) of a JSON lines input; a line too long for any record of
    `max_chars` characters is rejected unparsed, never held whole. `at_start`: the stream starts
    at the file's start (a byte order mark there is skipped), not at a part's (`readers.parts`)."""
    limit = None if max_chars is None else JSON_BYTES_PER_CHAR * max_chars + LINE_SLACK_BYTES
    for line_no, raw in enumerate(_lines(stream, limit), start=1):
        if isinstance(raw, _LongLine):
            message = (
                f"line of {raw.size:,} bytes, longer than any record of --max-chars {max_chars:,} characters "
                f"can be ({JSON_BYTES_PER_CHAR} bytes a character at most); not parsed; raise --max-chars, "
                "or split the record"
            )
            yield line_no, inp.reject(line_no, reasons.TOO_LONG, message, raw.head)
            continue
        if line_no == 1 and at_start and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            yield line_no, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if raw.strip() == b"[":
                raise inp.error(
                    "this is a JSON array file (it starts with '['), not JSON lines; "
                    "name it .json or pass --input-format json",
                    line_no,
                ) from exc
            yield line_no, _json_problem(inp, line_no, raw, exc)


@dataclass(frozen=True)
class _LongLine:
    """A line longer than the reader's limit: its start (for the reject) and its size."""

    head: str
    size: int


def _lines(stream: IO[bytes], limit: int | None) -> Iterator[bytes | _LongLine]:
    """The lines of `stream`; one longer than `limit` bytes is skipped in pieces, never held whole
    (a 1 GB line without a newline took 5 GB and minutes to reject as invalid JSON)."""
    if limit is None:
        yield from stream
        return
    while raw := stream.readline(limit + 1):
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw
            continue
        head, size = raw[:LONG_LINE_HEAD], len(raw)
        del raw
        while not (piece := stream.readline(1 << 20)).endswith(b"\n") and piece:
            size += len(piece)
        size += len(piece.rstrip(b"\r\n"))
        yield _LongLine(head.decode("utf-8", "replace") + "...", size)


def _json_problem(inp: InputFile, line_no: int, raw: bytes, exc: orjson.JSONDecodeError) -> Reject:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return inp.reject(line_no, reasons.INVALID_UTF8, utf8_message(raw), raw.decode("utf-8", "backslashreplace"))
    return inp.reject(
        line_no, reasons.INVALID_JSON, f"not valid JSON ({exc.msg} at column {exc.colno})", text.rstrip("\r\n")
    )
