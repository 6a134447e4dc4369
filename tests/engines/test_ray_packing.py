"""`--engine ray --ray-write workers --pack-length N`: each Ray task packs the rows it labels and
writes the packed shards itself (issue 26, "Packing on a cluster"), on the session's 2-CPU local Ray."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sftmask.config.build import BuildConfig
from sftmask.pipeline import build

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
PACK_LENGTH = 512

pytest.importorskip("ray")


def big_input(folder: Path) -> list[str]:
    """600 sample records in one JSON lines file (5 parts of 8 batches of 16 records) with a broken
    line (a reject) in its fourth part."""
    lines = (SAMPLE / "instructions.jsonl").read_text().splitlines()
    body = [*lines, *lines]
    body.insert(420, '{"prompt": "broken')
    path = folder / "big.jsonl"
    path.write_text("\n".join(body) + "\n")
    return [str(path)]


def options(folder: Path) -> dict[str, Any]:
    return {
        "inputs": big_input(folder),
        "tokenizer": str(SAMPLE / "tokenizer"),
        "batch_size": 16,
        "on_error": "skip",
        "max_length": PACK_LENGTH,
    }


Example = tuple[tuple[int, ...], tuple[int, ...]]


def unpacked_examples(out: Path) -> Counter[Example]:
    """The examples of an unpacked output, each with its first label -100 (as packing writes it)."""
    from datasets import load_dataset

    found: Counter[Example] = Counter()
    for row in load_dataset("parquet", data_dir=str(out), split="train"):
        found[(tuple(row["input_ids"]), (-100, *row["labels"][1:]))] += 1
    return found


def packed_examples(out: Path) -> tuple[Counter[Example], list[dict[str, Any]]]:
    """The examples of a packed output, cut out of its rows by `seq_lengths`; and the rows."""
    from datasets import load_dataset

    rows = load_dataset("parquet", data_dir=str(out), split="train").to_list()
    found: Counter[Example] = Counter()
    for row in rows:
        start = 0
        for length in row["seq_lengths"]:
            end = start + length
            assert row["position_ids"][start:end] == list(range(length))
            found[(tuple(row["input_ids"][start:end]), tuple(row["labels"][start:end]))] += 1
            start = end
        assert start == len(row["input_ids"]) <= PACK_LENGTH
    return found, rows


@pytest.mark.slow
@pytest.mark.parametrize("ray_read", ["workers", "driver"])
def test_workers_pack_their_rows(tmp_path: Path, local_ray: Any, ray_read: str) -> None:
    """Each task packs its part's rows (reading in the driver: its batch) and writes the packed
    shards. The output loads with `datasets`; every example of the local engine's unpacked output
    is in exactly one packed row, whole, with its first label masked; a second build writes the
    same bytes; the manifest's packing section counts what the shards hold. (Before: refused.)"""
    config = options(tmp_path)
    build(BuildConfig(output=str(tmp_path / "local"), **config))
    local = json.loads((tmp_path / "local" / "manifest.json").read_text())
    packed = {"pack_length": PACK_LENGTH, "pack_window": 12, "engine": "ray", "ray_write": "workers"}  # < a batch
    outs = [tmp_path / "ray", tmp_path / "again"]
    for out in outs:
        build(BuildConfig(output=str(out), ray_read=ray_read, **packed, **config))

    expected = unpacked_examples(tmp_path / "local")
    found, rows = packed_examples(outs[0])
    assert found == expected and sum(found.values()) == local["counts"]["rows_written"] == 600
    manifest = json.loads((outs[0] / "manifest.json").read_text())
    packing = manifest["packing"]
    tokens = sum(len(row["input_ids"]) for row in rows)
    assert packing["rows"] == len(rows) == sum(shard["rows"] for shard in manifest["shards"])
    assert packing["examples"] == 600 and packing["tokens"] == tokens == local["counts"]["tokens"]
    assert packing["capacity_tokens"] == len(rows) * PACK_LENGTH
    assert packing["efficiency"] == round(tokens / (len(rows) * PACK_LENGTH), 6) > 0.5
    assert packing["examples_per_row"] == {
        "mean": round(600 / len(rows), 4),
        "max": max(len(row["seq_lengths"]) for row in rows),
    }
    trained = sum(label != -100 for row in rows for label in row["labels"])
    assert packing["first_labels_masked"] == local["counts"]["trained_tokens"] - trained
    assert manifest["counts"]["trained_tokens"] == trained
    assert manifest["counts"]["rows_written"] == 600 and manifest["counts"]["records_read"] == 601
    assert (outs[0] / "rejects.jsonl").read_bytes() == (tmp_path / "local" / "rejects.jsonl").read_bytes()

    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    for name in names:
        if name != "manifest.json":
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    again = json.loads((outs[1] / "manifest.json").read_text())
    assert again["packing"] == packing and again["shards"] == manifest["shards"]

    from sftmask.io.output import open_output
    from sftmask.report.validate import validate

    assert validate(open_output(str(outs[0]))).ok


@pytest.mark.slow
def test_workers_wrap_their_parts(tmp_path: Path, local_ray: Any) -> None:
    """--pack-strategy wrapped: each part's examples are concatenated and cut every N tokens, so
    the packed rows, in order, hold the local engine's unpacked tokens in order; a row shorter
    than N only ends a part (5 parts), and the first label of each row is -100."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    config = {**options(tmp_path), "strategy": "all"}
    build(BuildConfig(output=str(tmp_path / "local"), **config))
    wrapped = {"pack_length": 256, "pack_strategy": "wrapped", "engine": "ray", "ray_write": "workers"}
    build(BuildConfig(output=str(tmp_path / "ray"), ray_read="workers", **wrapped, **config))

    def flat(out: Path, column: str) -> list[int]:
        tables = [pq.read_table(p, columns=[column]) for p in sorted(out.glob("*.parquet"))]
        return [v for t in tables for v in pc.list_flatten(t.column(0)).to_pylist()]

    assert flat(tmp_path / "ray", "input_ids") == flat(tmp_path / "local", "input_ids")
    _, rows = packed_examples(tmp_path / "ray")
    lengths = [len(row["input_ids"]) for row in rows]
    assert all(n <= 256 for n in lengths) and 0 < sum(n < 256 for n in lengths) <= 5
    assert all(row["labels"][0] == -100 and row["seq_lengths"] == [len(row["input_ids"])] for row in rows)
    packing = json.loads((tmp_path / "ray" / "manifest.json").read_text())["packing"]
    assert packing["rows"] == len(rows) and packing["tokens"] == sum(lengths)
