"""The on-disk shuffle: a permutation fixed by the seed, whatever the memory bound or batch cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sftmask.io.keys import mix
from sftmask.mixing import shuffle
from sftmask.mixing.shuffle import SEQ_COLUMN, Shuffler


def rows(n: int) -> pa.Table:
    seq = np.arange(n, dtype=np.uint64) + (np.uint64(2) << np.uint64(40))
    return pa.table({"value": pa.array([f"row {i}" for i in range(n)]), SEQ_COLUMN: pa.array(seq, pa.uint64())})


def shuffled(tmp: Path, table: pa.Table, seed: int, batch: int) -> list[str]:
    shuffler = Shuffler(tmp / f"s-{seed}-{batch}", seed, "train")
    for start in range(0, table.num_rows, batch):
        shuffler.push(table.slice(start, batch))
    return [v for t in shuffler.drain() for v in t.column("value").to_pylist()]


def test_a_permutation_sorted_by_the_seeded_order(tmp_path: Path) -> None:
    table = rows(5000)
    out = shuffled(tmp_path, table, seed=4, batch=333)
    assert sorted(out) == sorted(table.column("value").to_pylist()) and out != table.column("value").to_pylist()
    order = mix(np.asarray(table.column(SEQ_COLUMN), dtype=np.uint64), 4)
    assert out == [table.column("value")[int(i)].as_py() for i in np.argsort(order, kind="stable")]
    assert shuffled(tmp_path, table, seed=4, batch=1000) == out  # batch cuts do not matter
    assert shuffled(tmp_path, table, seed=5, batch=333) != out


def test_buckets_larger_than_memory_are_partitioned_again_same_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = rows(3000)
    expected = shuffled(tmp_path, table, seed=9, batch=500)
    monkeypatch.setattr(shuffle, "BUCKET_BYTES", 64)  # every bucket is "too large": three levels deep
    spilled: list[Path] = []
    original = shuffle._sorted

    def watching(spill, shift, directory):  # type: ignore[no-untyped-def]
        spilled.append(spill.path)
        return original(spill, shift, directory)

    monkeypatch.setattr(shuffle, "_sorted", watching)
    assert shuffled(tmp_path, table, seed=9, batch=500) == expected
    assert any(path.name.count(".") >= 3 for path in spilled)  # buckets of buckets were made
