"""Weighted interleaving: proportions, stopping strategies, the same rows for the same seed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from sftmask.io.spill import SpillFile
from sftmask.mixing.interleave import Mixed, interleave


def spills(tmp: Path, sizes: list[int]) -> list[SpillFile]:
    out = []
    for i, n in enumerate(sizes):
        spill = SpillFile(tmp / f"{i}.arrow")
        for start in range(0, n, 37):
            spill.append(pa.table({"row": [f"{i}:{k}" for k in range(start, min(n, start + 37))]}))
        out.append(spill)
    return out


def mixed(tmp: Path, sizes: list[int], weights: list[float], stopping: str, seed: int = 0) -> tuple[list[str], Mixed]:
    counts = Mixed(sizes)
    rows = [r for t in interleave(spills(tmp, sizes), weights, seed, stopping, counts) for r in t["row"].to_pylist()]
    return rows, counts


def test_first_exhausted_stops_at_the_first_source_that_runs_out(tmp_path: Path) -> None:
    rows, counts = mixed(tmp_path, [3000, 500, 4000], [2, 1, 1], "first_exhausted")
    by_source = Counter(r.split(":")[0] for r in rows)
    assert by_source["1"] == 500 and counts.used == [by_source["0"], 500, by_source["2"]]
    assert by_source["0"] / by_source["2"] == pytest.approx(2, rel=0.15)
    for source in "012":  # each source's rows in their order, none repeated
        mine = [int(r.split(":")[1]) for r in rows if r.startswith(source + ":")]
        assert mine == list(range(len(mine)))
    assert mixed(tmp_path, [3000, 500, 4000], [2, 1, 1], "first_exhausted")[0] == rows
    assert mixed(tmp_path, [3000, 500, 4000], [2, 1, 1], "first_exhausted", seed=1)[0] != rows


def test_all_exhausted_repeats_until_every_row_was_used(tmp_path: Path) -> None:
    rows, counts = mixed(tmp_path, [100, 1200, 0], [1, 1, 5], "all_exhausted")
    by_source = Counter(r.split(":")[0] for r in rows)
    assert "2" not in by_source  # an empty source takes no part
    assert by_source["1"] == 1200 and rows[-1] == "1:1199"  # the last row completes the last source
    assert by_source["0"] > 100 and set(rows) >= {f"0:{k}" for k in range(100)}
    assert counts.used[:2] == [by_source["0"], 1200]


def test_weights_whose_sum_overflows_mix_as_their_ratios(tmp_path: Path) -> None:
    """Two weights of 1e308 sum to inf: the draw failed with "Probabilities contain NaN"."""
    rows, _ = mixed(tmp_path, [300, 400], [1e308, 1e308], "first_exhausted")
    assert rows == mixed(tmp_path, [300, 400], [1, 1], "first_exhausted")[0]
    assert (
        mixed(tmp_path, [300, 400], [1.5e308, 1e308], "first_exhausted")[0]
        == mixed(tmp_path, [300, 400], [3, 2], "first_exhausted")[0]
    )
