"""Builds with --val-size/--test-size, --shuffle, --dedup and recipe amounts, on the sample
tokenizer: the split layout, counts that add up, and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

import sftmask
from sftmask.config.recipe import load_config
from sftmask.errors import ConfigError
from sftmask.io.output import iter_batches, open_output
from tests.cli.test_build import run

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
TOKENIZER = str(SAMPLE / "tokenizer")


def pairs(path: Path, n: int, repeat_every: int = 0) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            k = i % repeat_every if repeat_every and i % 3 == 0 else i  # every third record repeats an earlier one
            f.write(json.dumps({"prompt": f"Question {k}: what is {k} + {k}?", "response": f" {2 * k}."}) + "\n")
    return path


def split_rows(out: Path) -> dict[str, list[tuple[int, ...]]]:
    built = open_output(out)
    return {
        split: [
            tuple(r["input_ids"])
            for s in built.split_shards(split)
            for b in iter_batches(built, s)
            for r in b.to_pylist()
        ]
        for split in built.splits
    }


def test_cli_val_and_test_split_with_shuffle_opens_as_a_datasetdict(tmp_path: Path) -> None:
    from datasets import load_dataset

    data = pairs(tmp_path / "qa.jsonl", 400)
    out = tmp_path / "out"
    args = ["build", str(data), "-t", TOKENIZER, "-o", str(out), "--val-size", "0.1", "--test-size", "25"]
    result = run(*args, "--shuffle", "--seed", "2", "--rows-per-shard", "100")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    train, validation = manifest["splits"]["train"]["rows"], manifest["splits"]["validation"]["rows"]
    assert f"; train {train}, validation {validation}, test 25" in result.stdout
    assert [s["split"] for s in manifest["shards"]][-2:] == ["validation", "test"]
    splits = load_dataset(str(out))
    assert {name: splits[name].num_rows for name in splits} == {k: v["rows"] for k, v in manifest["splits"].items()}
    assert splits["test"].num_rows == 25 and sum(splits[n].num_rows for n in splits) == 400
    # the same rows as an unsplit, unshuffled build, each in one split
    plain = tmp_path / "plain"
    assert run("build", str(data), "-t", TOKENIZER, "-o", str(plain)).exit_code == 0
    every = [tuple(r) for r in pq.read_table(plain / "train-00000-of-00001.parquet")["input_ids"].to_pylist()]
    rows = split_rows(out)
    assert Counter(every) == Counter(rows["train"] + rows["validation"] + rows["test"])
    assert rows["train"] != sorted(rows["train"], key=every.index)  # shuffled
    stats = run("stats", str(out))
    assert "splits             train 3" in stats.stdout, stats.stdout
    assert run("validate", str(out)).exit_code == 0


def test_held_out_sizes_that_leave_no_training_row_are_refused(tmp_path: Path) -> None:
    """`--val-size 10` on 5 records wrote `train 0, validation 5`, exit 0, and `load_dataset` then
    failed ("Instruction 'train' corresponds to no data"); datasets' train_test_split refuses such
    sizes too. Fractions that add up to 1 or more are refused before reading."""
    data = pairs(tmp_path / "qa.jsonl", 5)
    out = tmp_path / "out"
    result = run("build", str(data), "-t", TOKENIZER, "-o", str(out), "--val-size", "3", "--test-size", "2")
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr == (
        "Error: --val-size 3 and --test-size 2 held out all 5 rows (validation 3, test 2): no training row "
        "is left; hold out fewer rows; nothing was written\n"
    )
    result = run("build", str(data), "-t", TOKENIZER, "-o", str(out), "--val-size", "0.6", "--test-size", "0.4")
    assert result.exit_code == 2 and "--val-size 0.6 and --test-size 0.4 hold out every row" in result.stderr
    assert run("build", str(data), "-t", TOKENIZER, "-o", str(out), "--val-size", "4").exit_code == 0  # one left
    assert json.loads((out / "manifest.json").read_text())["splits"]["train"]["rows"] == 1


def test_dedup_writes_each_record_once_and_counts_the_rest(tmp_path: Path) -> None:
    data = pairs(tmp_path / "dup.jsonl", 300, repeat_every=50)
    result = sftmask.build(inputs=[str(data)], tokenizer=TOKENIZER, output=str(tmp_path / "out"), dedup=True)
    counts = result.manifest["counts"]
    rows = split_rows(tmp_path / "out")["train"]
    assert len(rows) == len(set(rows)) == counts["rows_written"] and counts["duplicates"] == 300 - len(rows) > 0
    assert counts["records_read"] == counts["rows_written"] + counts["duplicates"]
    assert sftmask.validate(open_output(tmp_path / "out")).ok


def recipe(tmp: Path, **data: Any) -> Path:
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump({"tokenizer": TOKENIZER, "output": str(tmp / "out"), **data}))
    return path


def test_take_a_count_and_a_fraction_and_pack_each_split(tmp_path: Path) -> None:
    first, second = pairs(tmp_path / "a.jsonl", 200), pairs(tmp_path / "b.jsonl", 300)
    path = recipe(
        tmp_path,
        pack_length=128,
        val_size=0.2,
        datasets=[
            {"name": "first", "inputs": [str(first)], "take": 50},
            {"name": "second", "inputs": [str(second)], "take": 0.5, "strategy": "all"},
        ],
    )
    result = run("build", "--config", str(path))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    a, b = manifest["sources"]["first"], manifest["sources"]["second"]
    assert a["rows_written"] == 50 and a["left_out"] == 150
    assert 100 < b["rows_written"] < 200 and b["left_out"] == 300 - b["rows_written"]
    assert b["strategy"] == "all" and manifest["strategy"]["name"] == "mixed"
    # packed per split: a validation row holds validation examples only
    built = open_output(tmp_path / "out")
    examples = {
        split: sum(
            len(r["seq_lengths"])
            for s in built.split_shards(split)
            for t in iter_batches(built, s)
            for r in t.to_pylist()
        )
        for split in built.splits
    }
    assert examples == {split: entry["rows"] for split, entry in manifest["splits"].items()}
    assert manifest["packing"]["examples"] == 50 + b["rows_written"]
    assert sftmask.validate(built).ok
    # the fraction takes the same records from a longer file
    pairs(tmp_path / "b.jsonl", 600)
    again = sftmask.build(load_config(path, overwrite=True)).manifest["sources"]["second"]
    assert again["rows_written"] > b["rows_written"]


def test_recipe_and_input_arguments_together_are_refused(tmp_path: Path) -> None:
    path = recipe(tmp_path, datasets=[{"name": "a", "inputs": [str(pairs(tmp_path / "a.jsonl", 5))]}])
    result = run("build", "x.jsonl", "--config", str(path))
    assert result.exit_code == 2 and "a recipe's inputs are its datasets'" in result.stderr


def test_inspect_reads_one_split_of_a_built_directory(tmp_path: Path) -> None:
    path = recipe(tmp_path, val_size=0.25, datasets=[{"name": "qa", "inputs": [str(pairs(tmp_path / "a.jsonl", 80))]}])
    assert run("build", "--config", str(path)).exit_code == 0
    out = str(tmp_path / "out")
    result = run("inspect", out, "--split", "validation", "-n", "1")
    assert (
        result.exit_code == 0
        and "row 0 of validation (data/validation-00000-of-00001.parquet row 0, source qa)" in result.stdout
    )
    missing = run("inspect", out, "--split", "test")
    assert missing.exit_code == 3 and "has no split 'test'; its splits are train, validation" in missing.stderr


def test_word_data_and_inspect_of_a_recipe_are_refused_with_what_to_do(tmp_path: Path) -> None:
    ner = SAMPLE / "ner.jsonl"
    entry = {"name": "ner", "inputs": [str(ner)], "strategy": "first-subtoken", "data_kind": "words"}
    path = recipe(tmp_path, datasets=[entry])
    result = run("build", "--config", str(path))
    assert result.exit_code == 2 and "word-labelled data (tag ids as labels" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    inspected = run("inspect", str(ner), "--config", str(path))
    assert (
        inspected.exit_code == 2
        and "a recipe (a datasets: list) is built by `sftmask build --config`" in inspected.stderr
    )


def test_a_kept_column_null_at_first_then_typed_is_shuffled_and_split(tmp_path: Path) -> None:
    data = tmp_path / "notes.jsonl"
    with open(data, "w") as f:
        for i in range(2500):
            note = {"note": f"n{i}" if i >= 2000 else None}
            f.write(json.dumps({"prompt": f"Q{i}?", "response": f" A{i}.", **note}) + "\n")
    common = {"inputs": [str(data)], "tokenizer": TOKENIZER, "keep_columns": ["note"]}
    plain = sftmask.build(**common, output=str(tmp_path / "plain"))
    mixed = sftmask.build(**common, output=str(tmp_path / "mixed"), shuffle=True, val_size=0.1, rows_per_shard=700)
    assert mixed.manifest["counts"]["rows_written"] == plain.manifest["counts"]["rows_written"] == 2500

    def notes(out: Path) -> Counter[tuple[tuple[int, ...], str | None]]:
        built = open_output(out)
        return Counter(
            (tuple(r["input_ids"]), r["note"])
            for s in built.shard_files
            for b in iter_batches(built, s)
            for r in b.to_pylist()
        )

    assert notes(tmp_path / "mixed") == notes(tmp_path / "plain")


def test_label_refuses_the_build_only_mixing_options() -> None:
    with pytest.raises(ConfigError, match=r"^shuffle, val_size: splits, shuffling and de-duplication apply to"):
        sftmask.label([{"prompt": "Hi", "response": " there"}], TOKENIZER, val_size=0.1, shuffle=True)
