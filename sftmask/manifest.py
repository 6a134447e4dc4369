"""The manifest of a build: options, tokenizer, counts (per split and, for a recipe, per source),
shards; and the counts a build returns (rows and tokens written, after mixing)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from sftmask import __version__
from sftmask.config.build import BuildConfig
from sftmask.io.formats import DataFormat
from sftmask.labels.batch import Counts
from sftmask.labels.strategies import STRATEGIES
from sftmask.mixing.mixer import Mixer
from sftmask.mixing.writer import SplitWriter
from sftmask.opening import SourceRun
from sftmask.packing.packer import Packer
from sftmask.tokenization.load import LoadedTokenizer, describe


def input_manifest(fmt: DataFormat | None) -> dict[str, Any]:
    """The manifest's ``input`` entry: the format the records were read as (None: by the options alone)."""
    if fmt is None:
        return {"input": {"format": None}}
    return {"input": {"format": fmt.name, "title": fmt.title, "options": fmt.settings}}


def base_manifest(
    config: BuildConfig,
    tok: LoadedTokenizer,
    stats: Counts,
    shards: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest; `extra` holds the data kind's own entries (e.g. `label2id`, `id2label`)."""
    return {
        "sftmask_version": __version__,
        "config": config.model_dump(mode="json"),
        "tokenizer": describe(tok),
        "strategy": {"name": config.strategy, "description": STRATEGIES[config.strategy].description},
        "data_kind": config.resolved_data_kind,
        "labels": {"ignore_index": -100, "shifted": False},
        "counts": stats.to_json(),
        "shards": shards,
        **(extra or {}),
    }


def build_manifest(
    config: BuildConfig,
    tok: LoadedTokenizer,
    stats: Counts,
    shards: list[dict[str, Any]],
    runs: list[SourceRun],
    mixer: Mixer,
    split_writer: SplitWriter,
    recipe: bool,
) -> dict[str, Any]:
    """The manifest: as a single build's, with the rows and tokens written (after mixing), the
    splits and, for a recipe, each source's counts and options."""
    splits = {
        split: {key: sum(getattr(c, key) for c in by_source.values()) for key in ("rows", "tokens", "trained_tokens")}
        for split, by_source in split_writer.counts.items()
    }
    counts = stats.to_json()
    counts["rows_written"] = sum(entry["rows"] for entry in splits.values())
    counts["tokens"] = sum(entry["tokens"] for entry in splits.values())
    counts["trained_tokens"] = sum(entry["trained_tokens"] for entry in splits.values())
    mixed = {key: sum(getattr(c, key) for c in mixer.counts) for key in ("duplicates", "left_out", "repeated")}
    if recipe or any(mixed.values()) or config.dedup:
        counts |= mixed
    extra: dict[str, Any] = {}
    packing_counts = split_writer.packing_counts()
    if config.pack_length is not None and packing_counts is not None:
        packer = Packer(config.pack_length, config.pack_strategy, config.pack_window)
        packer.counts = packing_counts
        counts["trained_tokens"] = packing_counts.trained_tokens  # first labels masked; rows_written: examples
        extra["packing"] = packer.manifest()
    if not recipe:
        run = runs[0]
        assert run.session is not None
        extra = run.session.manifest(run.stats.encoder_counts) | extra | input_manifest(run.data_format)
        manifest = base_manifest(run.config, tok, stats, shards, extra)
        manifest["counts"] = counts
    else:
        manifest = base_manifest(config, tok, stats, shards, extra)
        manifest["counts"] = counts
        strategies = {run.config.strategy for run in runs}
        kinds = {run.config.resolved_data_kind for run in runs}
        manifest["strategy"] = (
            _strategy_entry(runs[0].config.strategy)
            if len(strategies) == 1
            else {"name": "mixed", "description": "per source: see sources"}
        )
        manifest["data_kind"] = kinds.pop() if len(kinds) == 1 else "mixed"
        manifest["sources"] = {
            run.name: _source_entry(run, mixer, split_writer, index) for index, run in enumerate(runs)
        }
    if len(split_writer.splits) > 1 or recipe:
        manifest["splits"] = splits
    return manifest


def _strategy_entry(name: str) -> dict[str, str]:
    return {"name": name, "description": STRATEGIES[name].description}


def _source_entry(run: SourceRun, mixer: Mixer, split_writer: SplitWriter, index: int) -> dict[str, Any]:
    """A source's manifest entry: its counts (records read + repeated = rows written + rejected +
    duplicates + left out) and how it was read."""
    assert run.session is not None
    built = run.stats.to_json()
    by_split = {split: by_source[index].rows for split, by_source in split_writer.counts.items() if index in by_source}
    tokens = sum(by_source[index].tokens for by_source in split_writer.counts.values() if index in by_source)
    trained = sum(by_source[index].trained_tokens for by_source in split_writer.counts.values() if index in by_source)
    mixed = mixer.counts[index]
    return {
        "records_read": built["records_read"],
        "rows_written": sum(by_split.values()),
        "rows_written_by_split": by_split,
        "rejected": built["rejected"],
        "rejected_by_reason": built["rejected_by_reason"],
        "duplicates": mixed.duplicates,
        "left_out": mixed.left_out,
        "repeated": mixed.repeated,
        "truncated": built["truncated"],
        "tokens": tokens,
        "trained_tokens": trained,
        "take": run.take,
        "weight": run.weight,
        "inputs": [f.name for f in run.files],
        "data_kind": run.config.resolved_data_kind,
        "strategy": run.config.strategy,
        **input_manifest(run.data_format),
        **run.session.manifest(run.stats.encoder_counts),
    }


def written_counts(stats: Counts, manifest: dict[str, Any]) -> Counts:
    """The build's counts as the manifest states them (rows and tokens written, after mixing)."""
    counts = manifest["counts"]
    result = replace(stats, rejected=Counter(stats.rejected))
    result.rows_written = counts["rows_written"]
    result.tokens = counts["tokens"]
    result.trained_tokens = counts["trained_tokens"]
    return result
