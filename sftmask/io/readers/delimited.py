"""CSV and TSV: records as dicts by the header, numbered by the line each starts on."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from typing import IO, Any

from sftmask import reasons
from sftmask.errors import InputDataError
from sftmask.io.inputs import InputFile
from sftmask.io.readers.checks import utf8_message

log = logging.getLogger("sftmask.io.readers")


def delimited_records(
    inp: InputFile, stream: IO[bytes], delimiter: str | None, warnings: bool
) -> Iterator[tuple[int, Any]]:
    """CSV/TSV records as dicts by header, numbered by the line each starts on.

    A record the CSV parser refuses is a ``malformed-csv`` reject holding its raw text; when
    its quotes are left open, the lines that follow belong to it until they close (a CSV
    reader reads them as the quoted field's text), so no text from inside it becomes a row.
    """
    given = delimiter
    delimiter = given or ("\t" if inp.format == "tsv" else ",")
    lines = _RawLines(stream)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputDataError(f"malformed header: {exc}", file=inp.name, line=1) from exc
    header_text = lines.take()
    if given is None and inp.format == "csv" and len(header) == 1:
        sniffed = max(SNIFFED_DELIMITERS, key=header_text.count)
        if header_text.count(sniffed):
            delimiter = sniffed
            header = next(csv.reader([header_text], delimiter=delimiter, strict=True))
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            if warnings:
                log.warning(
                    "%s: the header has no ',' but %r: reading columns split at %r; pass --delimiter to choose",
                    inp.name,
                    sniffed,
                    sniffed,
                )
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InputDataError(
            f"the header names column(s) {', '.join(map(repr, duplicates))} more than once; "
            "rename them so each column has its own name",
            file=inp.name,
            line=1,
        )
    end = lines.count
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw = lines.take()
            while raw.count('"') % 2 and lines.more():  # a quoted field left open takes the next lines
                raw += lines.take()
            end = lines.count
            extent = f"lines {start}-{end}" if end > start else f"line {start}"
            fix = (
                "its quoted field is never closed"
                if "unexpected end of data" in str(exc)
                else 'a quote inside a quoted field is written twice ("")'
            )
            message = f"malformed CSV ({extent}): {exc}; {fix}"
            yield start, inp.reject(start, reasons.MALFORMED_CSV, message, raw.rstrip("\r\n"))
            continue
        end = lines.count
        text = lines.take()  # the record's lines as in the file, for a message's byte offsets
        if not row:
            continue
        if len(row) != len(header):
            message = f"row has {len(row)} fields but the header has {len(header)}"
            yield start, inp.reject(start, reasons.RAGGED_ROW, message, row)
            continue
        try:
            "".join(row).encode("utf-8")
        except UnicodeEncodeError:
            shown = {
                k: v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                for k, v in zip(header, row, strict=True)
            }
            message = utf8_message(text.encode("utf-8", "surrogateescape"))  # byte N of the line, as in JSON lines
            yield start, inp.reject(start, reasons.INVALID_UTF8, message, shown)
            continue
        yield start, dict(zip(header, row, strict=True))


SNIFFED_DELIMITERS = (";", "\t")
"""What a .csv file's header is split at when it holds no comma (and no --delimiter is given)."""


class _RawLines:
    """A text stream's lines for the CSV parser, keeping those it took since the last record.

    Undecodable bytes survive as surrogates so the parser keeps its line count; the record
    holding them is reported (see `delimited_records`) instead of failing the whole file.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._taken: list[str] = []
        self._ahead: str | None = None
        self.count = 0
        """Lines read so far."""

    def __iter__(self) -> _RawLines:
        return self

    def __next__(self) -> str:
        if self._ahead is not None:
            line, self._ahead = self._ahead, None
        else:
            line = next(self._stream).decode("utf-8", "surrogateescape")
        self._taken.append(line)
        self.count += 1
        return line

    def more(self) -> bool:
        """Whether a line follows (read ahead, not yet taken)."""
        if self._ahead is None:
            raw = next(self._stream, None)
            if raw is None:
                return False
            self._ahead = raw.decode("utf-8", "surrogateescape")
        return True

    def take(self) -> str:
        """The text of the lines taken since the last `take` or `forget` (then the next line too
        when called after `more`)."""
        if self._ahead is not None:
            next(self)
        text = "".join(self._taken)
        self._taken.clear()
        return text

    def forget(self) -> None:
        self._taken.clear()
