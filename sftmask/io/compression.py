"""Opening an input as bytes: local files, URLs and stdin; ``.gz`` and ``.zst`` decompressed (a
zstd stream cut inside a frame is an error), with the compressed bytes counted for progress."""

from __future__ import annotations

import gzip
import io
import sys
from typing import IO, Any

from sftmask.errors import InputDataError
from sftmask.io import remote

STDIN = "-"


class CountingReader(io.RawIOBase):
    """Counts bytes pulled from the underlying (compressed) file, for progress."""

    def __init__(self, raw: IO[bytes] | io.RawIOBase) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[union-attr]
        self.count += n or 0
        return n or 0


def open_binary(name: str) -> tuple[IO[bytes], CountingReader]:
    """The input called `name` as a stream of (decompressed) bytes, with the counter of the bytes read."""
    raw: IO[bytes]
    if name == STDIN:
        raw = sys.stdin.buffer
    elif remote.is_remote(name):
        raw = remote.open_input(name, InputDataError)
    else:
        raw = open(name, "rb")  # noqa: SIM115
    counter = CountingReader(raw)
    buffered: IO[bytes] = io.BufferedReader(counter, buffer_size=1 << 20)
    if remote.file_part(name).endswith(".gz"):
        return gzip.GzipFile(fileobj=buffered, mode="rb"), counter  # type: ignore[return-value]
    if remote.file_part(name).endswith(".zst"):
        return io.BufferedReader(_ZstdReader(buffered), buffer_size=1 << 20), counter
    return buffered, counter


class TruncatedInput(EOFError):
    """A compressed input ends inside a frame: it was cut short (an interrupted copy or download)."""


class _ZstdReader(io.RawIOBase):
    """Decompresses every zstd frame of a stream and fails when the last frame is not complete.

    `zstandard`'s `stream_reader` reports end of file when its input ends, even in the middle of a
    frame (a file cut at a block boundary reads as complete), and stops after the first frame;
    this checks what `zstd -t` checks. Input is fed in small pieces so that highly compressed
    data cannot expand into one huge buffer.
    """

    PIECE = 4096

    def __init__(self, source: IO[bytes]) -> None:
        import zstandard

        self._zstd = zstandard
        self._source = source
        self._frame: Any = None
        self._input = b""
        self._output = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._output:
            if self._done:
                return 0
            if not self._input:
                self._input = self._source.read(1 << 16)
                if not self._input:
                    self._done = True
                    if self._frame is not None and not self._frame.eof:
                        raise TruncatedInput("truncated: the zstd data ends inside a frame")
                    return 0
            self._decompress_some()
        n = min(len(buffer), len(self._output))
        buffer[:n] = self._output[:n]
        self._output = self._output[n:]
        return n

    def _decompress_some(self) -> None:
        if self._frame is None or self._frame.eof:
            self._frame = self._zstd.ZstdDecompressor().decompressobj()
        piece, self._input = self._input[: self.PIECE], self._input[self.PIECE :]
        try:
            self._output = self._frame.decompress(piece)
        except self._zstd.ZstdError as exc:
            raise ValueError(f"corrupt zstd data ({exc})") from exc
        if self._frame.eof:  # the next frame starts in what this one did not use
            self._input = self._frame.unused_data + self._input
