"""Ragged token rows as flat numpy values plus offsets: the unit of vectorised work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
TokenArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Ragged:
    """Rows of token ids: row ``i`` is ``values[offsets[i]:offsets[i + 1]]``."""

    values: TokenArray
    offsets: IntArray

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]]) -> Ragged:
        """Build from a list of id lists (what a batch tokenizer call returns)."""
        lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=int(offsets[-1]))
        return cls(values, offsets)

    @property
    def lengths(self) -> IntArray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int) -> list[int]:
        return self.values[self.offsets[i] : self.offsets[i + 1]].tolist()  # type: ignore[no-any-return]

    def take(self, rows: IntArray) -> Ragged:
        """Select rows (in the given order, repeats allowed) without a Python loop."""
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        index, offsets = segment_index(starts, lengths)
        return Ragged(self.values[index], offsets)


def segment_index(starts: IntArray, lengths: IntArray) -> tuple[IntArray, IntArray]:
    """Flat gather index for segments ``[starts[k], starts[k] + lengths[k])``, concatenated.

    Returns the index and the offsets of each segment in it.
    """
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    # Each position's source is its segment's start plus its distance from the segment's
    # first output position: one repeat and one arange, no per-segment loop.
    shift = np.repeat(starts - offsets[:-1], lengths)
    return shift + np.arange(total, dtype=np.int64), offsets
