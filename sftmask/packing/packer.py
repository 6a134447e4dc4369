"""Packing labelled rows into rows of at most N tokens for padding-free training, and checking them.

`Packer` is a streaming stage between labelling and writing: it takes the labelled Arrow tables
(``input_ids``, ``labels``, ``attention_mask``, kept columns) in input order and returns packed
tables (``input_ids``, ``labels``, ``position_ids``, ``seq_lengths``, kept columns as lists). It
runs in the main process on the ordered stream, and its windows count rows, not batches, so the
output is the same for any ``--num-proc`` and ``--batch-size``. (With ``--engine ray --ray-write
workers`` each Ray task runs one on its own part's rows instead: `sftmask.engines.ray`.)

- ``bfd``: best-fit-decreasing bin packing of whole examples, over windows of ``window`` rows.
  ``position_ids`` restart at 0 for each example, ``seq_lengths`` lists the examples' lengths and
  the first label of every example is -100, so a padding-free trainer (no ``attention_mask``)
  attends only within each example and never predicts an example's first token from the one
  before it: the loss is the unpacked rows' loss.
- ``wrapped``: the examples are concatenated and cut every N tokens. Each row is one sequence
  (``seq_lengths == [len(row)]``, positions 0 .. len-1): tokens attend to the earlier examples of
  their row, and an example cut at a row's end goes on at the next row's start without its
  beginning (pre-training style; only for strategies that train every token).

The rows are fed to the Hugging Face ``Trainer`` by `sftmask.packing.collator.PackedCollator`.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sftmask.arrays import fill_null, from_offsets, to_numpy
from sftmask.config.options import DEFAULT_WINDOW
from sftmask.ragged import IntArray, offsets_of, row_sums, segment_index

IGNORE_INDEX = -100
BoolArray = npt.NDArray[np.bool_]

PACK_STRATEGIES = {
    "bfd": "best-fit-decreasing bin packing of whole examples; attention and positions stay per example",
    "wrapped": "examples concatenated and cut every pack_length tokens; a row is one sequence (cross-example attention)",
}
TRAINER_SETTINGS = {
    "trl": "SFTConfig(padding_free=True, max_length=None)",
    "transformers": "Trainer(data_collator=PackedCollator())",
    "own_loop": "model(**PackedCollator()(rows))",
}
"""The manifest's ``packing.trainer_settings``: how each trainer reads packed rows with attention
per example (``PackedCollator`` is ``sftmask.packing.PackedCollator``; tests run each setting and
compare every example's loss with its loss alone)."""
PER_EXAMPLE_WARNING = (
    "SFTTrainer without padding_free=True (its default) builds an all-ones attention_mask and ignores "
    "seq_lengths, and a model run with its cache on (use_cache=True, a causal LM's default) ignores the "
    "restarts in position_ids: either way the examples of a row attend to each other, silently"
)
PACKED_COLUMNS = ("input_ids", "labels", "position_ids", "seq_lengths")
_EMPTY = pa.table({})


def best_fit_decreasing(lengths: Sequence[int] | IntArray, capacity: int) -> list[list[int]]:
    """Bins of item indices, each summing to at most `capacity`: best-fit-decreasing, deterministic.

    Items are placed longest first (ties: lower index first), each into the open bin it leaves
    the least room in (ties: the bin opened first), else into a new bin. Within a bin the items
    are in index order; bins are ordered by their first item.

    Raises:
        ValueError: an item is longer than `capacity` or not positive.
    """
    sizes = np.asarray(lengths, dtype=np.int64)
    if len(sizes) and (sizes.max() > capacity or sizes.min() <= 0):
        raise ValueError(f"items must be between 1 and {capacity} long")
    free: list[tuple[int, int]] = []  # (room left, bin), sorted: the first with room >= n is the best fit
    bins: list[list[int]] = []
    for item in np.argsort(-sizes, kind="stable").tolist():
        size = int(sizes[item])
        k = bisect_left(free, (size, -1))
        if k < len(free):
            room, b = free.pop(k)
        else:
            room, b = capacity, len(bins)
            bins.append([])
        bins[b].append(item)
        if room > size:
            insort(free, (room - size, b))
    for members in bins:
        members.sort()
    bins.sort(key=lambda members: members[0])
    return bins


@dataclass
class PackingCounts:
    """What the packer wrote (for the manifest)."""

    rows: int = 0
    examples: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    max_examples_per_row: int = 0
    first_labels_masked: int = 0
    """Sequences (bfd: examples; wrapped: rows) whose first label was trained before packing (now -100)."""
    examples_without_trained_tokens: int = 0
    """Examples whose only trained label was their first (they add nothing to the loss)."""

    def add(self, other: PackingCounts) -> None:
        """Add the counts of rows packed elsewhere (another split, a Ray task's part)."""
        for f in fields(PackingCounts):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, max(mine, theirs) if f.name.startswith("max_") else mine + theirs)


@dataclass
class Packer:
    """The streaming packing stage: `push` labelled tables in input order, then `finish`.

    Args:
        pack_length: tokens per packed row at most.
        strategy: ``bfd`` or ``wrapped`` (see the module docstring).
        window: rows per best-fit-decreasing window (``bfd``).
        keep_columns: kept input columns; each becomes a list per packed row, one entry per example.
    """

    pack_length: int
    strategy: str = "bfd"
    window: int = DEFAULT_WINDOW
    keep_columns: list[str] = field(default_factory=list)
    counts: PackingCounts = field(default_factory=PackingCounts)
    _pending: list[pa.Table] = field(default_factory=list)
    _pending_rows: int = 0
    _skip: int = 0
    """``wrapped``: tokens of the first pending example already written."""

    def push(self, table: pa.Table) -> pa.Table:
        """Add labelled rows; return the packed rows that are complete (often none yet)."""
        if table.num_rows:
            self._pending.append(table)
            self._pending_rows += table.num_rows
        if self.strategy == "wrapped":
            return self._wrap(final=False)
        out = []
        while self._pending_rows >= self.window:
            out.append(self._pack_window(self._take(self.window)))
        return pa.concat_tables(out) if out else _EMPTY

    def finish(self) -> pa.Table:
        """Pack what is left (a last, smaller window; the last wrapped row)."""
        if self.strategy == "wrapped":
            return self._wrap(final=True)
        return self._pack_window(self._take(self._pending_rows)) if self._pending_rows else _EMPTY

    def manifest(self) -> dict[str, Any]:
        """The manifest's ``packing`` entry."""
        c = self.counts
        capacity = c.rows * self.pack_length
        return {
            "strategy": self.strategy,
            "description": PACK_STRATEGIES[self.strategy],
            "pack_length": self.pack_length,
            **({"window": self.window} if self.strategy == "bfd" else {}),
            "attention": "per example" if self.strategy == "bfd" else "per row (across examples)",
            "trainer_settings": TRAINER_SETTINGS | ({"warning": PER_EXAMPLE_WARNING} if self.strategy == "bfd" else {}),
            "rows": c.rows,
            "examples": c.examples,
            "tokens": c.tokens,
            "capacity_tokens": capacity,
            "efficiency": round(c.tokens / capacity, 6) if capacity else 0.0,
            "examples_per_row": {
                "mean": round(c.examples / c.rows, 4) if c.rows else 0.0,
                "max": c.max_examples_per_row,
            },
            "first_labels_masked": c.first_labels_masked,
            "examples_without_trained_tokens": c.examples_without_trained_tokens,
        }

    def _take(self, n: int) -> pa.Table:
        table = pa.concat_tables(self._pending).combine_chunks()
        rest = table.slice(n)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        return table.slice(0, n)

    def _pack_window(self, table: pa.Table) -> pa.Table:
        ids, labels = _flat(table, "input_ids"), _flat(table, "labels")
        offsets = _offsets(table, "input_ids")
        lengths = np.diff(offsets)
        bins = best_fit_decreasing(lengths, self.pack_length)
        order = np.fromiter((i for b in bins for i in b), dtype=np.int64, count=len(lengths))
        per_row = np.fromiter((len(b) for b in bins), dtype=np.int64, count=len(bins))
        index, example_offsets = segment_index(offsets[:-1][order], lengths[order])
        return self._emit(
            ids[index],
            labels[index],
            example_offsets,
            example_offsets[offsets_of(per_row)],
            segments=_lists(per_row, lengths[order]),
            examples_per_row=per_row,
            kept=_lists(per_row, order),
            table=table,
        )

    def _wrap(self, *, final: bool) -> pa.Table:
        if not self._pending_rows:
            return _EMPTY
        table = pa.concat_tables(self._pending).combine_chunks()
        ids, labels = _flat(table, "input_ids"), _flat(table, "labels")
        lengths = np.diff(_offsets(table, "input_ids"))
        # Stream positions: the stream starts at token `_skip` of the first pending example.
        ends = np.cumsum(lengths) - self._skip
        starts = ends - lengths  # the first is -_skip when that example was begun in an earlier row
        n = self.pack_length
        total = int(ends[-1])
        rows = -(-total // n) if final else total // n
        if rows == 0:
            return _EMPTY
        used = min(rows * n, total)
        row_offsets = np.minimum(np.arange(rows + 1, dtype=np.int64) * n, used)
        first = np.searchsorted(ends, row_offsets[:-1], side="right")  # examples ending after the row starts
        last = np.searchsorted(starts, row_offsets[1:], side="left")  # ... and starting before it ends
        per_row = last - first
        kept = np.repeat(first, per_row) + np.arange(int(per_row.sum())) - np.repeat(offsets_of(per_row)[:-1], per_row)
        self.counts.examples += int(np.count_nonzero((starts >= 0) & (starts < used)))
        out = self._emit(
            ids[self._skip : self._skip + used],
            labels[self._skip : self._skip + used],
            row_offsets,  # one sequence per row
            row_offsets,
            segments=_lists(np.ones(rows, dtype=np.int64), np.diff(row_offsets)),
            examples_per_row=per_row,
            kept=_lists(per_row, kept),
            table=table,
        )
        keep_from = int(np.searchsorted(ends, used, side="right"))  # the first example not finished
        self._skip = used - int(starts[keep_from]) if keep_from < len(ends) else 0
        rest = table.slice(keep_from)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        return out

    def _emit(
        self,
        ids: npt.NDArray[Any],
        labels: npt.NDArray[Any],
        sequence_offsets: IntArray,
        row_offsets: IntArray,
        *,
        segments: pa.ListArray,
        examples_per_row: IntArray,
        kept: pa.ListArray,
        table: pa.Table,
    ) -> pa.Table:
        """A packed table from flat ids and labels, the offsets of its sequences and of its rows."""
        labels = labels.astype(np.int32, copy=True)
        starts, lengths = sequence_offsets[:-1], np.diff(sequence_offsets)
        self.counts.first_labels_masked += int(np.count_nonzero(labels[starts] != IGNORE_INDEX))
        labels[starts] = IGNORE_INDEX
        trained = labels != IGNORE_INDEX
        if self.strategy == "bfd":  # a sequence is an example
            self.counts.examples += len(starts)
            self.counts.examples_without_trained_tokens += int(
                np.count_nonzero(row_sums(trained, sequence_offsets) == 0)
            )
        positions = np.arange(len(ids), dtype=np.int64) - np.repeat(starts, lengths)
        columns: dict[str, pa.Array] = {
            "input_ids": from_offsets(row_offsets, ids.astype(np.int32)),
            "labels": from_offsets(row_offsets, labels),
            "position_ids": from_offsets(row_offsets, positions.astype(np.int32)),
            "seq_lengths": segments,
        }
        for name in self.keep_columns:
            if name in table.column_names:
                values = table.column(name).combine_chunks().take(kept.values)
                columns[name] = pa.ListArray.from_arrays(kept.offsets, values)
        rows = len(row_offsets) - 1
        self.counts.rows += rows
        self.counts.tokens += len(ids)
        self.counts.trained_tokens += int(np.count_nonzero(trained))
        if rows:
            self.counts.max_examples_per_row = max(self.counts.max_examples_per_row, int(examples_per_row.max()))
        return pa.table(columns)


def packed_schema(keep_columns: dict[str, pa.DataType]) -> pa.Schema:
    """The schema of packed shards (kept columns become lists of their type)."""
    token_list = pa.list_(pa.int32())
    fields = [pa.field(name, token_list) for name in PACKED_COLUMNS]
    fields += [pa.field(name, pa.list_(kind)) for name, kind in keep_columns.items()]
    return pa.schema(fields)


def _offsets(table: pa.Table, name: str) -> IntArray:
    """Row offsets of a list column, from 0."""
    return offsets_of(to_numpy(pc.list_value_length(table.column(name).combine_chunks())).astype(np.int64))


def _flat(table: pa.Table, name: str) -> npt.NDArray[Any]:
    return to_numpy(pc.list_flatten(table.column(name).combine_chunks()))


def _lists(counts: IntArray, values: npt.NDArray[Any]) -> pa.ListArray:
    """A list array of `values` cut into lists of `counts` items."""
    return from_offsets(offsets_of(counts), values.astype(np.int32))


# --- validate ---------------------------------------------------------------------------------

PACKED_CHECKS = {
    "seq-lengths": "seq_lengths are positive and sum to the row's length, which is at most pack_length",
    "positions": "position_ids restart at 0 at each seq_lengths entry and count up by one",
    "first-labels": "the first label of each sequence is -100",
}


def packed_problems(
    lengths: IntArray,
    positions: IntArray,
    labels: IntArray,
    seq_lengths: pa.ListArray,
    pack_length: int | None,
) -> list[tuple[str, BoolArray, Callable[[int], str]]]:
    """Rows breaking a packed invariant: (check, flag per row, message for a flagged row).

    Args:
        lengths: row lengths (input_ids, labels and position_ids, already checked equal).
        positions: the flat position_ids of those rows.
        labels: their flat labels.
        seq_lengths: their seq_lengths column.
        pack_length: the manifest's pack_length.
    """
    n = len(lengths)
    segs = to_numpy(fill_null(pc.list_flatten(seq_lengths), 0)).astype(np.int64)
    per_row = to_numpy(fill_null(pc.list_value_length(seq_lengths), 0)).astype(np.int64)
    seg_offsets = offsets_of(per_row)
    cumulative = offsets_of(segs)
    sums = cumulative[seg_offsets[1:]] - cumulative[seg_offsets[:-1]]
    bad_lengths = (sums != lengths) | (per_row == 0) | (row_sums(segs <= 0, seg_offsets) > 0)
    if pack_length is not None:
        bad_lengths |= lengths > pack_length

    def lengths_message(r: int) -> str:
        listed = segs[seg_offsets[r] : seg_offsets[r + 1]].tolist()
        shown = ", ".join(map(str, listed[:8])) + (", ..." if len(listed) > 8 else "")
        if pack_length is not None and lengths[r] > pack_length:
            return f"row of {lengths[r]} tokens is longer than pack_length {pack_length}"
        return f"seq_lengths [{shown}] (sum {sums[r]}) do not split the row of {lengths[r]} tokens into sequences"

    # Positions and first labels, in the rows whose seq_lengths tile them.
    good = ~bad_lengths
    row_starts = offsets_of(lengths)
    token_rows = np.repeat(np.arange(n), lengths)
    token_good = good[token_rows]
    good_segs = segs[np.repeat(good, per_row)]
    seq_starts = offsets_of(good_segs)[:-1]  # within the good rows' tokens
    expected = np.arange(int(good_segs.sum()), dtype=np.int64) - np.repeat(seq_starts, good_segs)
    good_rows = token_rows[token_good]
    where = np.flatnonzero(token_good) - row_starts[good_rows]  # position within its row

    def flagged(bad_tokens: IntArray) -> tuple[BoolArray, dict[int, int]]:
        rows = np.zeros(n, dtype=np.bool_)
        rows[good_rows[bad_tokens]] = True
        first: dict[int, int] = {}
        for t in bad_tokens[::-1].tolist():
            first[int(good_rows[t])] = t
        return rows, first

    bad_pos, first_pos = flagged(np.flatnonzero(positions[token_good] != expected))
    good_labels = labels[token_good]
    bad_first, first_label = flagged(seq_starts[good_labels[seq_starts] != IGNORE_INDEX])
    good_positions = positions[token_good]
    return [
        ("seq-lengths", bad_lengths, lengths_message),
        (
            "positions",
            bad_pos,
            lambda r: (
                f"position_ids[{where[first_pos[r]]}] is {good_positions[first_pos[r]]}, expected "
                f"{expected[first_pos[r]]}: positions restart at 0 at each seq_lengths entry"
            ),
        ),
        (
            "first-labels",
            bad_first,
            lambda r: (
                f"labels[{where[first_label[r]]}] is {good_labels[first_label[r]]} at the start of a sequence; "
                "it must be -100 (it would be predicted from the sequence before it)"
            ),
        ),
    ]
