"""Held-out splits by record key: fractions by key range, counts by smallest keys."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sftmask.io.keys import KEY_COLUMN, fractions
from sftmask.mixing.shuffle import SEQ_COLUMN
from sftmask.mixing.splits import Splitter


def table(keys: list[int]) -> pa.Table:
    return pa.table(
        {
            KEY_COLUMN: pa.array(keys, pa.uint64()),
            SEQ_COLUMN: pa.array(range(len(keys)), pa.uint64()),
        }
    )


def split_all(splitter: Splitter, data: pa.Table, batch: int) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    pieces = [splitter.push(data.slice(s, batch)) for s in range(0, data.num_rows, batch)]
    for piece in [*pieces, splitter.finish()]:
        for name, rows in piece:
            out.setdefault(name, []).extend(rows.column(KEY_COLUMN).to_pylist())
    return out


def test_fractions_take_their_key_ranges() -> None:
    keys = np.random.default_rng(0).integers(0, 2**64, size=2000, dtype=np.uint64)
    out = split_all(Splitter(0.1, 0.05), table(keys.tolist()), 128)
    where = fractions(keys)
    assert sorted(out["validation"]) == sorted(keys[where < 0.1].tolist())
    assert sorted(out["test"]) == sorted(keys[(where >= 0.1) & (where < 0.15)].tolist())
    assert len(out["train"]) + len(out["validation"]) + len(out["test"]) == 2000


def test_counts_hold_out_the_smallest_keys_whatever_the_batches() -> None:
    keys = np.random.default_rng(1).integers(0, 2**64, size=1000, dtype=np.uint64).tolist()
    for batch in (7, 100, 1000):
        out = split_all(Splitter(30, 20), table(keys), batch)
        ordered = sorted(keys)
        assert out["validation"] == ordered[:30] and out["test"] == ordered[30:50]
        assert sorted(out["train"]) == ordered[50:]


def test_a_fraction_and_a_count_together() -> None:
    keys = np.random.default_rng(2).integers(0, 2**64, size=500, dtype=np.uint64)
    out = split_all(Splitter(0.2, 10), table(keys.tolist()), 64)
    rest = sorted(keys[fractions(keys) >= 0.2].tolist())
    assert out["test"] == rest[:10] and sorted(out["train"]) == rest[10:]
