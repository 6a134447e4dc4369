"""Packed output (`--pack-length`): bin packing, packed-row invariants, determinism, efficiency, validate, stats."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sftmask.cli.app import app
from sftmask.packing import PackedCollator
from sftmask.packing.packer import Packer, best_fit_decreasing
from tests.helpers import examples

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def rows_of(out: Path) -> list[dict[str, Any]]:
    return [row for f in sorted(out.glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def bench_records(n: int, tmp_path: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from bench.gen_data import generate

    return generate(n, tmp_path / f"bench-{n}.jsonl")


# --- best-fit-decreasing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lengths", "capacity", "bins"),
    [
        ([], 10, []),
        ([10], 10, [[0]]),
        ([3, 3, 3, 3], 6, [[0, 1], [2, 3]]),
        # 8 first; 5 opens a bin; 2 fits best beside 8 (room 2, not 5); 4 beside 5; 1 in the room 1 left
        ([5, 8, 2, 4, 1], 10, [[0, 3, 4], [1, 2]]),
        # equal lengths: lower index first; equal room: the bin opened first
        ([4, 4, 4, 2, 2], 6, [[0, 3], [1, 4], [2]]),
        ([7, 7, 7], 10, [[0], [1], [2]]),
    ],
)
def test_best_fit_decreasing_table(lengths: list[int], capacity: int, bins: list[list[int]]) -> None:
    assert best_fit_decreasing(lengths, capacity) == bins


@given(st.lists(st.integers(1, 50), max_size=200), st.integers(50, 120))
def test_best_fit_decreasing_places_every_item_once_within_capacity(lengths: list[int], capacity: int) -> None:
    bins = best_fit_decreasing(lengths, capacity)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= capacity for b in bins)
    # Best fit never leaves two bins that one could hold (a later item would have gone in the first).
    loads = sorted(sum(lengths[i] for i in b) for b in bins)
    assert len(loads) < 2 or loads[0] + loads[1] > capacity


def test_best_fit_decreasing_refuses_items_longer_than_capacity() -> None:
    with pytest.raises(ValueError, match="between 1 and 4"):
        best_fit_decreasing([5], 4)


# --- the packing stage ------------------------------------------------------------------------


def labelled_table(examples: list[tuple[list[int], list[int]]], ids: list[int]) -> pa.Table:
    return pa.table(
        {
            "input_ids": pa.array([e[0] for e in examples], type=pa.list_(pa.int32())),
            "attention_mask": pa.array([[1] * len(e[0]) for e in examples], type=pa.list_(pa.int8())),
            "labels": pa.array([e[1] for e in examples], type=pa.list_(pa.int32())),
            "id": pa.array(ids, type=pa.int64()),
        }
    )


def pack(examples: list[tuple[list[int], list[int]]], cuts: list[int], **kwargs: Any) -> tuple[pa.Table, Packer]:
    """Push the examples in tables cut at `cuts`, then finish; all packed rows in one table."""
    packer = Packer(keep_columns=["id"], **kwargs)
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(examples))), len(examples)]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        table = packer.push(labelled_table(examples[lo:hi], list(range(lo, hi))))
        out += [table] if table.num_rows else []
    last = packer.finish()
    out += [last] if last.num_rows else []
    return pa.concat_tables(out), packer


label = st.one_of(st.just(-100), st.integers(0, 999))
example = st.integers(1, 12).flatmap(
    lambda n: st.tuples(st.lists(st.integers(0, 999), min_size=n, max_size=n), st.lists(label, min_size=n, max_size=n))
)
examples_strategy = st.lists(example, min_size=1, max_size=60)


@settings(max_examples=examples(60), deadline=None)
@given(examples_strategy, st.lists(st.integers(0, 60), max_size=5), st.integers(1, 9))
def test_bfd_rows_hold_every_example_whole_with_restarting_positions(
    examples: list[tuple[list[int], list[int]]], cuts: list[int], window: int
) -> None:
    table, packer = pack(examples, cuts, pack_length=16, strategy="bfd", window=window)
    seen = []
    for row in table.to_pylist():
        assert set(row) == {"input_ids", "labels", "position_ids", "seq_lengths", "id"}
        assert len(row["input_ids"]) == len(row["labels"]) == len(row["position_ids"]) == sum(row["seq_lengths"])
        assert len(row["input_ids"]) <= 16
        assert len(row["id"]) == len(row["seq_lengths"])
        start = 0
        for ex_id, n in zip(row["id"], row["seq_lengths"], strict=True):
            ids, labels = examples[ex_id]
            assert n == len(ids)
            assert row["input_ids"][start : start + n] == ids
            assert row["position_ids"][start : start + n] == list(range(n))
            assert row["labels"][start : start + n] == [-100, *labels[1:]]  # the first label is masked
            start += n
        assert row["id"] == sorted(row["id"])  # input order within a row
        seen += row["id"]
    assert sorted(seen) == list(range(len(examples)))
    assert packer.counts.examples == len(examples)
    assert packer.counts.rows == table.num_rows
    assert packer.counts.tokens == sum(len(e[0]) for e in examples)
    assert packer.counts.first_labels_masked == sum(e[1][0] != -100 for e in examples)
    # Windows count rows, not tables: how the stream is cut into tables changes nothing.
    again, _ = pack(examples, [], pack_length=16, strategy="bfd", window=window)
    assert again.equals(table)


@settings(max_examples=examples(60), deadline=None)
@given(examples_strategy, st.lists(st.integers(0, 60), max_size=5), st.integers(2, 20))
def test_wrapped_rows_are_the_stream_cut_every_n_tokens(
    examples: list[tuple[list[int], list[int]]], cuts: list[int], n: int
) -> None:
    table, packer = pack(examples, cuts, pack_length=n, strategy="wrapped")
    rows = table.to_pylist()
    stream = [t for ids, _ in examples for t in ids]
    stream_labels = [t for _, labels in examples for t in labels]
    assert [t for r in rows for t in r["input_ids"]] == stream
    assert all(len(r["input_ids"]) == n for r in rows[:-1]) and 0 < len(rows[-1]["input_ids"]) <= n
    owner = [i for i, (ids, _) in enumerate(examples) for _ in ids]
    for k, row in enumerate(rows):
        length = len(row["input_ids"])
        assert row["seq_lengths"] == [length]
        assert row["position_ids"] == list(range(length))
        assert row["labels"] == [-100, *stream_labels[k * n + 1 : k * n + length]]
        assert row["id"] == sorted(set(owner[k * n : k * n + length]))  # examples with tokens in the row
    assert packer.counts.examples == len(examples)
    assert packer.counts.tokens == len(stream)
    again, _ = pack(examples, [], pack_length=n, strategy="wrapped")
    assert again.equals(table)


def test_collator_flattens_rows_and_keeps_positions() -> None:
    pytest.importorskip("torch")
    features = [
        {"input_ids": [1, 2, 3, 4, 5], "labels": [-100, 2, 3, -100, 5], "position_ids": [0, 1, 2, 0, 1]},
        {"input_ids": [6, 7], "labels": [6, 7], "seq_lengths": [2]},  # positions from seq_lengths
    ]
    batch = PackedCollator()(features)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6, 7]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1]]
    assert batch["labels"].tolist() == [[-100, 2, 3, -100, 5, -100, 7]]
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 5, 7] and batch["max_length_q"] == 3
    # No attention_mask and no cache: transformers then keeps the examples apart by their positions
    # (tests/packing/test_train_packed.py shows what happens without either).
    assert "attention_mask" not in batch
    assert batch["use_cache"] is False


# --- build, validate, stats on real tokenized data --------------------------------------------


def test_bfd_packs_benchmark_data_at_least_97_percent_full(tmp_path: Path, qwen_path: Path) -> None:
    data = bench_records(1500, tmp_path)
    out = tmp_path / "packed"
    result = run(
        "build", str(data), "-t", str(qwen_path), "-o", str(out), "--pack-length", "4096", "--keep-columns", "id"
    )
    assert result.exit_code == 0, result.output
    assert "1,500 examples packed into" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    packing = manifest["packing"]
    assert packing["strategy"] == "bfd" and packing["window"] == 1000
    # The shards say how to train on them (tests/packing/test_train_packed.py runs each setting).
    settings = packing["trainer_settings"]
    assert settings["trl"] == "SFTConfig(padding_free=True, max_length=None)"
    assert settings["transformers"] == "Trainer(data_collator=PackedCollator())"
    assert "without padding_free=True" in settings["warning"] and "use_cache=True" in settings["warning"]
    assert packing["efficiency"] >= 0.97
    assert packing["efficiency"] == pytest.approx(packing["tokens"] / (packing["rows"] * 4096), abs=1e-6)
    assert manifest["config"]["max_length"] == 4096  # rows longer than a packed row follow --truncation
    rows = rows_of(out)
    assert packing["rows"] == len(rows)
    assert manifest["counts"]["rows_written"] == packing["examples"] == 1500 == sum(len(r["seq_lengths"]) for r in rows)
    assert packing["examples_per_row"]["max"] == max(len(r["seq_lengths"]) for r in rows)
    assert sorted(i for r in rows for i in r["id"]) == list(range(1500))

    # Each example is its unpacked row, first label masked.
    plain = tmp_path / "plain"
    assert run("build", str(data), "-t", str(qwen_path), "-o", str(plain), "--max-length", "4096").exit_code == 0
    unpacked = rows_of(plain)
    for row in rows[:50]:
        start = 0
        for i, n in zip(row["id"], row["seq_lengths"], strict=True):
            assert row["input_ids"][start : start + n] == unpacked[i]["input_ids"]
            assert row["labels"][start : start + n] == [-100, *unpacked[i]["labels"][1:]]
            start += n

    result = run("validate", str(out))
    assert result.exit_code == 0, result.output
    assert "seq-lengths, positions, first-labels" in result.output and "attention-mask" not in result.output
    result = run("stats", str(out), "--json")
    stats = json.loads(result.stdout)
    assert stats["packing"]["efficiency"] == packing["efficiency"]
    assert stats["packing"]["examples_per_row"] == packing["examples_per_row"]
    assert "packing            bfd, rows of up to 4,096 tokens" in run("stats", str(out)).output


def test_packed_output_is_byte_identical_for_any_num_proc_and_the_same_for_any_batch_size(
    tmp_path: Path, qwen_path: Path, worker_processes: None
) -> None:
    data = bench_records(120, tmp_path)
    shas, rows = [], []
    for n, batch in ((1, 7), (2, 7), (1, 33)):
        out = tmp_path / f"o{n}-{batch}"
        args = ["build", str(data), "-t", str(qwen_path), "-o", str(out), "--pack-length", "2048"]
        args += ["--pack-window", "50", "--num-proc", str(n), "--batch-size", str(batch)]
        result = run(*args)
        assert result.exit_code == 0, result.output
        shas.append([s["sha256"] for s in json.loads((out / "manifest.json").read_text())["shards"]])
        rows.append(rows_of(out))
    assert shas[0] == shas[1]  # the same bytes
    assert rows[0] == rows[2]  # the same rows (Parquet row groups follow the batches)
    assert len(rows[0]) < 120


def test_wrapped_build_and_validate(tmp_path: Path, qwen_path: Path) -> None:
    records = [{"prompt": f"Question {i}: what is {i} + {i}?\n", "response": f"{2 * i} 😀"} for i in range(40)]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "w"
    args = ["build", str(data), "-t", str(qwen_path), "-o", str(out), "--strategy", "all"]
    result = run(*args, "--pack-length", "64", "--pack-strategy", "wrapped", "--format", "arrow")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["packing"]["attention"] == "per row (across examples)"
    assert "warning" not in manifest["packing"]["trainer_settings"]  # attention across examples is the point
    from datasets import load_from_disk

    ds = load_from_disk(str(out))
    assert all(len(r) == 64 for r in ds["input_ids"][:-1])
    assert run("validate", str(out)).exit_code == 0
    plain = tmp_path / "plain"
    assert run(*args[:-2], "-o", str(plain), "--strategy", "all").exit_code == 0
    assert [t for r in ds["input_ids"] for t in r] == [t for r in rows_of(plain) for t in r["input_ids"]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--pack-strategy", "wrapped"], "pack-strategy needs pack-length N"),
        (["--pack-length", "64", "--pack-strategy", "wrapped"], "only suits training every token"),
        (["--pack-length", "64", "--max-length", "128"], "max-length 128 is longer than pack-length 64"),
        (["--pack-length", "1"], "pack-length"),
        (["--pack-length", "64", "--pack-strategy", "greedy"], "pack-strategy"),
        (["--pack-length", "64", "--data-kind", "words", "--strategy", "first-subtoken"], "word-labelled"),
    ],
)
def test_packing_option_errors(tmp_path: Path, options: list[str], message: str) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a", "response": "b"}])
    result = run("build", str(data), "-t", "sample_data/tokenizer", "-o", str(tmp_path / "o"), *options)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_long_rows_follow_truncation_when_packing(tmp_path: Path, qwen_path: Path) -> None:
    records = [{"prompt": "word " * 100, "response": "answer " * 5}, {"prompt": "short ", "response": "one"}]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    base = ["build", str(data), "-t", str(qwen_path), "--pack-length", "32"]
    result = run(*base, "-o", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "a")
    assert sorted(n for r in rows for n in r["seq_lengths"]) == [4, 32]  # cut from the left, response kept
    result = run(*base, "-o", str(tmp_path / "b"), "--truncation", "drop", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert [r["seq_lengths"] for r in rows_of(tmp_path / "b")] == [[4]]
    assert "1 rejected (too-long: 1)" in result.output


def break_shard(out: Path, change: Any) -> None:
    (shard,) = out.glob("*.parquet")
    rows = pq.read_table(shard).to_pylist()
    change(rows)
    schema = pq.read_schema(shard)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), shard)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"][0]["sha256"] = None  # only the packed checks should complain
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "check", "message"),
    [
        (
            lambda rows: rows[0]["seq_lengths"].__setitem__(0, rows[0]["seq_lengths"][0] + 1),
            "seq-lengths",
            "do not split",
        ),
        (lambda rows: rows[0]["position_ids"].__setitem__(-1, 0), "positions", "expected"),
        (lambda rows: rows[0]["labels"].__setitem__(0, rows[0]["input_ids"][0]), "first-labels", "labels[0]"),
    ],
)
def test_validate_finds_broken_packed_rows(
    tmp_path: Path, qwen_path: Path, change: Any, check: str, message: str
) -> None:
    records = [{"prompt": f"Question {i}: what is {i} + {i}?\n", "response": f"{2 * i} 😀"} for i in range(30)]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "p"
    assert run("build", str(data), "-t", str(qwen_path), "-o", str(out), "--pack-length", "64").exit_code == 0
    break_shard(out, change)
    result = run("validate", str(out), "--json")
    assert result.exit_code == 6, result.output
    problems = json.loads(result.stdout)["problems"]
    assert [(p["check"], p["row"]) for p in problems if p["check"] != "counts"] == [(check, 0)]
    assert message in problems[0]["message"]


def test_inspect_shows_a_packed_row(tmp_path: Path, qwen_path: Path) -> None:
    records = [{"prompt": "Hi ", "response": "there"}, {"prompt": "Bye ", "response": "now"}]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "p"
    assert run("build", str(data), "-t", str(qwen_path), "-o", str(out), "--pack-length", "64").exit_code == 0
    result = run("inspect", str(out))
    assert result.exit_code == 0, result.output
    assert "there" in result.output and "now" in result.output


def test_packed_rows_load_with_datasets(tmp_path: Path, qwen_path: Path) -> None:
    from datasets import load_dataset

    records = [{"id": f"r{i}", "prompt": f"Q{i} ", "response": "A" * (i % 7 + 1)} for i in range(25)]
    data = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "p"
    args = ["build", str(data), "-t", str(qwen_path), "-o", str(out), "--pack-length", "40", "--keep-columns", "id"]
    assert run(*args).exit_code == 0
    ds = load_dataset("parquet", data_dir=str(out))["train"]
    assert ds.column_names == ["input_ids", "labels", "position_ids", "seq_lengths", "id"]
    assert sorted(i for r in ds["id"] for i in r) == sorted(f"r{i}" for i in range(25))
    assert np.all([sum(s) == len(r) for s, r in zip(ds["seq_lengths"], ds["input_ids"], strict=True)])


def test_packing_module_does_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys, sftmask.packing.packer, sftmask.config.build; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
