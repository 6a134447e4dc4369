"""Recipes end to end: three real-shaped sources (Alpaca JSONL with --template alpaca, ShareGPT chat
with a shipped template, a Parquet prompt/completion set written by pyarrow) mixed by weight,
shuffled and split, checked against building each source alone (issue 28's done-when)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import sftmask
from sftmask.config.recipe import load_config
from sftmask.io.output import iter_batches, open_output

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
ROLES = {"user": "human", "assistant": "gpt", "system": "system"}
Row = tuple[tuple[int, ...], tuple[int, ...]]


def write_sources(folder: Path, part: int = 0) -> dict[str, Path]:
    """The three sources; `part` 1 writes the same files with more records appended (the old first)."""
    folder.mkdir(parents=True, exist_ok=True)
    alpaca = json.loads((SAMPLE / "alpaca.json").read_text())
    chats = [json.loads(line) for line in (SAMPLE / "chat.jsonl").read_text().splitlines()]
    variants = range(2 if part == 0 else 3)
    paths = {name: folder / file for name, file in (("alpaca", "alpaca.jsonl"), ("chat", "chat.jsonl"))}
    with open(paths["alpaca"], "w") as f:
        for k in variants:
            for record in alpaca:
                f.write(json.dumps({**record, "instruction": f"{record['instruction']} ({k})"}) + "\n")
    with open(paths["chat"], "w") as f:
        for k in variants:
            for record in chats[: 30 if k < 2 else 60]:
                turns = [{"from": ROLES[m["role"]], "value": m["content"]} for m in record["messages"]]
                turns[0]["value"] += f" [{k}]"
                f.write(json.dumps({"conversations": turns}) + "\n")
    pairs = [
        {"prompt": f"Q{k}: {record['instruction']}\n", "completion": f" {record['output'][:300]}"}
        for k in variants
        for record in alpaca
    ]
    paths["pc"] = folder / "pc.parquet"
    pq.write_table(pa.Table.from_pylist(pairs), paths["pc"])
    return paths


SOURCE_OPTIONS: dict[str, dict[str, Any]] = {
    "alpaca": {"template": "alpaca"},
    "chat": {"messages_format": "sharegpt", "chat_template": "chatml", "strategy": "assistant-only"},
    "pc": {},
}


def recipe(tmp: Path, paths: dict[str, Path], output: Path, **build: Any) -> Path:
    weights = build.pop("weights", {})
    data = {
        "tokenizer": build.pop("tokenizer"),
        "output": str(output),
        "max_length": 256,
        **build,
        "datasets": [
            {"name": name, "inputs": [str(path)], **SOURCE_OPTIONS[name]}
            | ({"weight": weights[name]} if name in weights else {})
            for name, path in paths.items()
        ],
    }
    path = tmp / f"{output.name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def rows_by_source(out: Path, split: str | None = None) -> dict[str, Counter[Row]]:
    built = open_output(out)
    found: dict[str, Counter[Row]] = {}
    files = built.shard_files if split is None else built.split_shards(split)
    for name in files:
        for batch in iter_batches(built, name):
            for row in batch.to_pylist():
                found.setdefault(row["source"], Counter())[(tuple(row["input_ids"]), tuple(row["labels"]))] += 1
    return found


def alone(tmp: Path, name: str, path: Path, tokenizer: str) -> Counter[Row]:
    out = tmp / f"alone-{name}"
    sftmask.build(inputs=[str(path)], tokenizer=tokenizer, output=str(out), max_length=256, **SOURCE_OPTIONS[name])
    built = open_output(out)
    rows: Counter[Row] = Counter()
    for shard in built.shard_files:
        for batch in iter_batches(built, shard):
            rows.update((tuple(r["input_ids"]), tuple(r["labels"])) for r in batch.to_pylist())
    return rows


def test_recipe_of_three_sources_rows_splits_and_counts(tmp_path: Path, qwen_path: Path) -> None:
    from datasets import load_dataset

    paths = write_sources(tmp_path / "data")
    tokenizer = str(qwen_path)
    weights = {"alpaca": 2.0, "chat": 1.0, "pc": 1.0}
    config = recipe(
        tmp_path, paths, tmp_path / "mixed", tokenizer=tokenizer, shuffle=True, seed=3, val_size=0.1, weights=weights
    )
    result = sftmask.build(load_config(config))
    manifest = result.manifest

    splits = load_dataset(str(tmp_path / "mixed"))
    assert set(splits) == {"train", "validation"}
    assert {s: splits[s].num_rows for s in splits} == {s: e["rows"] for s, e in manifest["splits"].items()}
    assert splits["train"].column_names == ["input_ids", "attention_mask", "labels", "assistant_masks", "source"]

    built = rows_by_source(tmp_path / "mixed")
    for name, path in paths.items():
        source = manifest["sources"][name]
        expected = alone(tmp_path, name, path, tokenizer)
        assert not built[name] - expected  # every row is the row its source alone gives
        assert source["records_read"] == sum(expected.values()) + source["rejected"]
        assert source["records_read"] + source["repeated"] == (
            source["rows_written"] + source["rejected"] + source["duplicates"] + source["left_out"]
        )
        assert sum(built[name].values()) == source["rows_written"] == sum(source["rows_written_by_split"].values())
        # validation rows are held out whatever the mix: all of the source's rows in that hash range
        assert source["rows_written_by_split"]["validation"] > 0
    # weights: the first source to run out ends the mix; alpaca (weight 2) gives about half the rows
    train = Counter(splits["train"]["source"])
    assert train["alpaca"] == pytest.approx(train["chat"] + train["pc"], rel=0.35)
    assert sum(manifest["sources"][n]["left_out"] for n in paths) > 0
    assert manifest["counts"]["rows_written"] == sum(s["rows_written"] for s in manifest["sources"].values())
    assert sftmask.validate(open_output(tmp_path / "mixed")).ok
    card = (tmp_path / "mixed" / "README.md").read_text()
    assert "path: data/validation-*.parquet" in card and "| alpaca | response-only |" in card


def test_recipe_without_weights_writes_every_row_of_every_source(tmp_path: Path, qwen_path: Path) -> None:
    paths = write_sources(tmp_path / "data")
    tokenizer = str(qwen_path)
    config = recipe(tmp_path, paths, tmp_path / "all", tokenizer=tokenizer, shuffle=True, seed=1, val_size=0.2)
    manifest = sftmask.build(load_config(config)).manifest
    built = rows_by_source(tmp_path / "all")
    for name, path in paths.items():
        assert built[name] == alone(tmp_path, name, path, tokenizer)
        assert manifest["sources"][name]["left_out"] == 0


def test_more_data_keeps_the_held_out_rows_held_out(tmp_path: Path, qwen_path: Path) -> None:
    tokenizer = str(qwen_path)
    first = recipe(
        tmp_path, write_sources(tmp_path / "data"), tmp_path / "v1", tokenizer=tokenizer, val_size=0.15, shuffle=True
    )
    sftmask.build(load_config(first))
    held = rows_by_source(tmp_path / "v1", "validation")
    kept = rows_by_source(tmp_path / "v1", "train")
    second = recipe(
        tmp_path, write_sources(tmp_path / "data", part=1), tmp_path / "v2", tokenizer=tokenizer, val_size=0.15
    )
    sftmask.build(load_config(second))
    held_again = rows_by_source(tmp_path / "v2", "validation")
    trained_again = rows_by_source(tmp_path / "v2", "train")
    for name in held:
        assert held[name] and not held[name] - held_again[name]  # every old held-out row still held out
        assert not kept[name] - trained_again[name]  # and every old training row still trained
        assert sum(held_again[name].values()) > sum(held[name].values())


def test_same_seed_same_bytes_other_seed_other_order(tmp_path: Path, qwen_path: Path) -> None:
    paths = write_sources(tmp_path / "data")
    options = {
        "tokenizer": str(qwen_path),
        "shuffle": True,
        "val_size": 0.1,
        "weights": {"alpaca": 1, "chat": 1, "pc": 1},
    }
    outputs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        sftmask.build(load_config(recipe(tmp_path, paths, tmp_path / name, seed=seed, **dict(options))))
        outputs[name] = {p.name: p.read_bytes() for p in sorted((tmp_path / name / "data").iterdir())}
    assert outputs["a"] == outputs["b"]
    assert outputs["a"]["train-00000-of-00001.parquet"] != outputs["c"]["train-00000-of-00001.parquet"]


@pytest.mark.slow
def test_same_seed_same_bytes_on_local_and_ray(tmp_path: Path, qwen_path: Path, local_ray: Any) -> None:
    paths = write_sources(tmp_path / "data")
    shards = {}
    for engine in ("local", "ray"):
        config = recipe(
            tmp_path,
            paths,
            tmp_path / engine,
            tokenizer=str(qwen_path),
            engine=engine,
            shuffle=True,
            seed=11,
            val_size=0.1,
            batch_size=16,
            rows_per_shard=50,
            weights={"alpaca": 2, "chat": 1, "pc": 1},
        )
        sftmask.build(load_config(config))
        shards[engine] = {p.name: p.read_bytes() for p in sorted((tmp_path / engine / "data").iterdir())}
    assert len(shards["local"]) > 2
    assert shards["local"] == shards["ray"]


def test_same_seed_same_bytes_with_worker_processes(tmp_path: Path, qwen_path: Path, worker_processes: None) -> None:
    paths = write_sources(tmp_path / "data")
    shards = {}
    for num_proc in (1, 2):
        config = recipe(
            tmp_path,
            paths,
            tmp_path / f"p{num_proc}",
            tokenizer=str(qwen_path),
            num_proc=num_proc,
            shuffle=True,
            seed=2,
            val_size=0.1,
            test_size=5,
            batch_size=8 * num_proc,
            weights={"alpaca": 1, "chat": 2, "pc": 1},
            stopping_strategy="all_exhausted",
        )
        sftmask.build(load_config(config))
        shards[num_proc] = {p.name: p.read_bytes() for p in sorted((tmp_path / f"p{num_proc}" / "data").iterdir())}
    assert len(shards[1]) == 3 and shards[1] == shards[2]
