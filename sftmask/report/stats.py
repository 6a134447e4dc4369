"""`sftmask stats`: counts, length distribution and trained share of a built output (and a plot)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sftmask.io.output import BuiltOutput, flat_values, iter_batches, list_lengths, row_counts, whole_column
from sftmask.labels.strategies import IGNORE_INDEX
from sftmask.ragged import IntArray

HISTOGRAM_BINS = 10


PERCENTILES = (50, 90, 95, 99)


def compute_stats(output: BuiltOutput) -> dict[str, Any]:
    """Counts, length distribution and trained share of a built output, read from its shards.

    Rows, tokens and trained tokens come from the shards; truncation, rejects and boundary
    merges (which the shards cannot show) from the manifest. The first keys are ``rows``,
    ``tokens`` and ``trained_tokens``.

    Raises:
        ShardReadError: a shard is missing or unreadable.
    """
    lengths: list[IntArray] = []
    trained_rows: list[IntArray] = []
    shards = []
    splits: dict[str, dict[str, int]] = {}
    by_source: dict[str, dict[str, dict[str, int]]] = {}
    per_source = bool(output.sources) and output.packing is None  # packed rows hold several sources
    for entry in output.manifest["shards"]:
        name = str(entry["file"])
        split = str(entry.get("split") or output.splits[0])
        shard_lengths: list[IntArray] = []
        shard_trained: list[IntArray] = []
        columns = ["input_ids", "labels", *(["source"] if per_source else [])]
        for batch in iter_batches(output, name, columns):
            labels = whole_column(batch, "labels")
            label_lengths = list_lengths(labels)
            row_lengths = list_lengths(whole_column(batch, "input_ids"))
            row_trained = row_counts(flat_values(labels) != IGNORE_INDEX, label_lengths)
            shard_lengths.append(row_lengths)
            shard_trained.append(row_trained)
            if per_source:
                _count_sources(by_source, split, whole_column(batch, "source").to_pylist(), row_lengths, row_trained)
        n_tokens = int(sum(int(x.sum()) for x in shard_lengths))
        n_trained = int(sum(int(x.sum()) for x in shard_trained))
        rows = sum(len(x) for x in shard_lengths)
        shards.append({"file": name, "split": split, "rows": rows, "tokens": n_tokens, "trained_tokens": n_trained})
        total = splits.setdefault(split, {"rows": 0, "tokens": 0, "trained_tokens": 0})
        total["rows"] += rows
        total["tokens"] += n_tokens
        total["trained_tokens"] += n_trained
        lengths += shard_lengths
        trained_rows += shard_trained
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    all_trained = np.concatenate(trained_rows) if trained_rows else np.zeros(0, dtype=np.int64)
    tokens = int(all_lengths.sum())
    trained = int(all_trained.sum())
    counts = output.manifest.get("counts", {})
    shares = np.divide(all_trained, all_lengths, out=np.zeros(len(all_lengths)), where=all_lengths > 0)
    return {
        "rows": len(all_lengths),
        "tokens": tokens,
        "trained_tokens": trained,
        "trained_share": trained / tokens if tokens else 0.0,
        "length": _distribution(all_lengths),
        "length_histogram": _length_histogram(all_lengths),
        "trained_share_per_row": _distribution(shares, integer=False),
        "trained_share_histogram": _histogram(shares, np.round(np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1), 4)),
        "truncated": counts.get("truncated"),
        "records_read": counts.get("records_read"),
        "rejected": counts.get("rejected"),
        "rejected_by_reason": counts.get("rejected_by_reason", {}),
        "boundary_merges": counts.get("boundary_merges"),
        "shards": shards,
        "splits": splits,
        "sources": _sources(output, by_source),
        "packing": _packing_stats(output, len(all_lengths), tokens),
        "format": output.format,
        "strategy": (output.manifest.get("strategy") or {}).get("name"),
        "data_kind": output.manifest.get("data_kind"),
        "tokenizer": output.tokenizer_name,
    }


def _count_sources(
    by_source: dict[str, dict[str, dict[str, int]]],
    split: str,
    names: list[Any],
    lengths: IntArray,
    trained: IntArray,
) -> None:
    for i, name in enumerate(names):
        entry = by_source.setdefault(str(name), {}).setdefault(split, {"rows": 0, "tokens": 0, "trained_tokens": 0})
        entry["rows"] += 1
        entry["tokens"] += int(lengths[i])
        entry["trained_tokens"] += int(trained[i])


def _sources(output: BuiltOutput, from_shards: dict[str, dict[str, dict[str, int]]]) -> dict[str, Any]:
    """Per source of a recipe: what the manifest counted (read, rejected, left out) and, for
    unpacked output, the rows, tokens and trained tokens its shards hold per split."""
    result = {}
    for name, entry in output.sources.items():
        counted = {
            key: entry.get(key)
            for key in ("records_read", "rows_written", "rejected", "duplicates", "left_out", "repeated", "truncated")
        }
        shards = from_shards.get(name)
        result[name] = counted | {
            "strategy": entry.get("strategy"),
            "data_kind": entry.get("data_kind"),
            "splits": shards if shards is not None else {"rows": entry.get("rows_written_by_split")},
            "trained_tokens": sum(s["trained_tokens"] for s in shards.values())
            if shards
            else entry.get("trained_tokens"),
        }
    return result


def _packing_stats(output: BuiltOutput, rows: int, tokens: int) -> dict[str, Any] | None:
    """Packed output: strategy, pack length, efficiency (from the shards) and examples per row."""
    packing = output.packing
    if packing is None:
        return None
    length = packing.get("pack_length")
    capacity = rows * length if isinstance(length, int) else 0
    return {
        "strategy": packing.get("strategy"),
        "pack_length": length,
        "efficiency": round(tokens / capacity, 6) if capacity else None,
        "examples": packing.get("examples"),
        "examples_per_row": packing.get("examples_per_row"),
    }


def _distribution(values: npt.NDArray[Any], *, integer: bool = True) -> dict[str, float | int | None]:
    if len(values) == 0:
        return {"min": None, "mean": None, **{f"p{p}": None for p in PERCENTILES}, "max": None}
    cast: Callable[[Any], float | int] = (lambda v: round(float(v))) if integer else (lambda v: round(float(v), 4))
    result: dict[str, float | int | None] = {"min": cast(values.min()), "mean": round(float(values.mean()), 2)}
    for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        result[f"p{p}"] = cast(v)
    result["max"] = cast(values.max())
    return result


def _length_histogram(lengths: IntArray) -> dict[str, list[Any]]:
    top = int(lengths.max()) if len(lengths) else 0
    width = max(1, math.ceil((top + 1) / HISTOGRAM_BINS))
    bins = math.ceil((top + 1) / width)  # fewer than HISTOGRAM_BINS for rows of under 10 tokens: none past the longest
    return _histogram(lengths, np.arange(bins + 1, dtype=np.int64) * width)


def _histogram(values: npt.NDArray[Any], edges: npt.NDArray[Any]) -> dict[str, list[Any]]:
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def write_plot(stats: dict[str, Any], path: str | Path) -> None:
    """Draw the length and trained-share histograms of `compute_stats` into a PNG file.

    Raises:
        ImportError: matplotlib is not installed (the CLI turns this into the pip command).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, xlabel, color in (
        (left, "length_histogram", "tokens per row", "#4c72b0"),
        (right, "trained_share_histogram", "trained share of a row's tokens", "#55a868"),
    ):
        hist = stats[key]
        edges = np.asarray(hist["edges"], dtype=float)
        ax.bar(edges[:-1], hist["counts"], width=np.diff(edges), align="edge", color=color, edgecolor="white")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("rows")
    left.set_title(f"row length ({stats['rows']:,} rows, {stats['tokens']:,} tokens)")
    right.set_title(f"trained share ({stats['trained_share']:.1%} of all tokens)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
