"""Ragged token rows as flat numpy values plus offsets: the unit of vectorised work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
TokenArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Ragged:
    """Rows of token ids: row ``i`` is ``values[offsets[i]:offsets[i + 1]]``."""

    values: TokenArray
    offsets: IntArray

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]]) -> Ragged:
        """Build from a list of id lists (what a batch tokenizer call returns)."""
        offsets = offsets_of(np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows)))
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


def offsets_of(lengths: IntArray) -> IntArray:
    """Row offsets (length n + 1, starting at 0) for rows of the given lengths."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def row_sums(flags: npt.NDArray[np.bool_], offsets: IntArray) -> IntArray:
    """Per row (given by `offsets` into the flat `flags`), how many of its flags are True."""
    cumulative = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=cumulative[1:])
    sums: IntArray = cumulative[offsets[1:]] - cumulative[offsets[:-1]]
    return sums


def pairwise_index(first: Ragged, second: Ragged) -> tuple[IntArray, IntArray]:
    """Gather index into ``concat(first.values, second.values)`` that joins row i of `first`
    with row i of `second`, and the offsets of the joined rows."""
    lengths = np.stack([first.lengths, second.lengths], axis=1).ravel()
    starts = np.stack([first.offsets[:-1], len(first.values) + second.offsets[:-1]], axis=1).ravel()
    index, offsets = segment_index(starts, lengths)
    return index, offsets[::2]


def segment_index(starts: IntArray, lengths: IntArray) -> tuple[IntArray, IntArray]:
    """Flat gather index for segments ``[starts[k], starts[k] + lengths[k])``, concatenated.

    Returns the index and the offsets of each segment in it.
    """
    offsets = offsets_of(lengths)
    total = int(offsets[-1])
    # Each position's source is its segment's start plus its distance from the segment's
    # first output position: one repeat and one arange, no per-segment loop.
    shift = np.repeat(starts - offsets[:-1], lengths)
    return shift + np.arange(total, dtype=np.int64), offsets
