"""The output of a build, split by split: packing (per split), shards, and counts by source.

A single-split build of one source writes its shards at the top of the output directory, as
always (`{split}-00000-of-00001.parquet`). A build with held-out splits or several sources
writes the layout `datasets.load_dataset(DIR)` opens as a `DatasetDict`: Parquet shards under
``data/`` (``data/train-00000-of-00003.parquet``, ``data/validation-...``) named by a dataset card
(`sftmask.io.card`); Arrow shards (`format: arrow`) as `DatasetDict.save_to_disk` writes them
(``train/data-00000-of-00001.arrow``, ``dataset_dict.json``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sftmask.arrays import to_numpy
from sftmask.io.keys import KEY_COLUMN
from sftmask.io.writer import ShardWriter
from sftmask.labels.strategies import IGNORE_INDEX
from sftmask.mixing.mixer import source_of
from sftmask.mixing.shuffle import SEQ_COLUMN
from sftmask.packing.packer import Packer, PackingCounts
from sftmask.ragged import offsets_of, row_sums

if TYPE_CHECKING:
    from sftmask.labels.batch import Counts

DATA_DIR = "data"
"""Folder of the Parquet shards in the split layout."""


@dataclass
class SplitCounts:
    """Rows, tokens and trained tokens of one source in one split (before packing)."""

    rows: int = 0
    tokens: int = 0
    trained_tokens: int = 0


class SplitWriter:
    """Writes rows of several splits (each packed on its own) and counts them by source."""

    def __init__(
        self,
        directory: Path,
        splits: list[str],
        *,
        fmt: str,
        rows_per_shard: int,
        layout: bool,
        packer: Packer | None = None,
        single_split_name: str = "train",
    ) -> None:
        self.directory = directory
        self.fmt = fmt
        self.layout = layout
        self.splits = splits
        self.writers: dict[str, ShardWriter] = {}
        self.folders: dict[str, str] = {}
        self.packers: dict[str, Packer] = {}
        self.counts: dict[str, dict[int, SplitCounts]] = {split: {} for split in splits}
        for split in splits:
            folder = "" if not layout else (DATA_DIR if fmt == "parquet" else split)
            target = directory / folder if folder else directory
            target.mkdir(parents=True, exist_ok=True)
            name = split if layout else single_split_name
            self.writers[split] = ShardWriter(target, fmt=fmt, split=name, rows_per_shard=rows_per_shard)
            self.folders[split] = folder
            if packer is not None:
                self.packers[split] = Packer(packer.pack_length, packer.strategy, packer.window, packer.keep_columns)

    def write(self, split: str, table: pa.Table) -> None:
        """Rows of one split (with the mixing stage's columns, dropped here)."""
        if not table.num_rows:
            return
        if SEQ_COLUMN in table.schema.names:
            self._count(split, table)
        table = table.drop_columns([c for c in (SEQ_COLUMN, KEY_COLUMN) if c in table.schema.names])
        if split in self.packers:
            table = self.packers[split].push(table)
        if table.num_rows:
            self.writers[split].write(table)

    def adopt(self, shards: Sequence[dict[str, Any]], counts: Counts, packing: PackingCounts | None = None) -> None:
        """Shards written elsewhere (Ray workers, `--ray-write workers`) as the next ones of the one
        split (one source, no layout: `ShardWriter.adopt`), with the counts of the batch they come
        from and, packed there, the packing counts of the rows they hold (added to the split's)."""
        assert not self.layout and len(self.splits) == 1
        split = self.splits[0]
        self.writers[split].adopt(shards)
        if packing is not None:
            self.packers[split].counts.add(packing)
        entry = self.counts[split].setdefault(0, SplitCounts())
        entry.rows += counts.rows_written
        entry.tokens += counts.tokens
        entry.trained_tokens += counts.trained_tokens

    def _count(self, split: str, table: pa.Table) -> None:
        sources = source_of(table)
        lengths = to_numpy(pc.list_value_length(table.column("input_ids"))).astype(np.int64)
        labels = to_numpy(pc.list_flatten(table.column("labels").combine_chunks()))
        trained = row_sums(labels != IGNORE_INDEX, offsets_of(lengths))
        by_source = self.counts[split]
        for i in np.unique(sources).tolist():
            mine = sources == i
            entry = by_source.setdefault(int(i), SplitCounts())
            entry.rows += int(mine.sum())
            entry.tokens += int(lengths[mine].sum())
            entry.trained_tokens += int(trained[mine].sum())

    def close(self, empty_schema: pa.Schema) -> list[dict[str, Any]]:
        """Finish every split; the shards (name relative to the output, split, rows, sha256)."""
        shards = []
        for split in self.splits:
            if split in self.packers:
                last = self.packers[split].finish()
                if last.num_rows:
                    self.writers[split].write(last)
            for shard in self.writers[split].close(empty_schema):
                folder = self.folders[split]
                entry = {**shard, "file": f"{folder}/{shard['file']}" if folder else shard["file"]}
                shards.append(entry | ({"split": split} if self.layout else {}))
        if self.layout and self.fmt == "arrow":
            (self.directory / "dataset_dict.json").write_text(json.dumps({"splits": self.splits}) + "\n")
        return shards

    def packing_counts(self) -> PackingCounts | None:
        """The packing counts of every split, summed (None when not packing)."""
        if not self.packers:
            return None
        total = PackingCounts()
        for packer in self.packers.values():
            total.add(packer.counts)
        return total
