"""Checking a built output: `stats` (what is in it) and `validate` (is it what the manifest says)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sftmask.errors import ShardReadError
from sftmask.masking import IGNORE_INDEX
from sftmask.outputs import BuiltOutput, iter_batches, shard_schema
from sftmask.packing import PACKED_CHECKS, packed_problems
from sftmask.ragged import offsets_of, row_sums
from sftmask.tokenization import LoadedTokenizer
from sftmask.writers import _sha256

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

HISTOGRAM_BINS = 10
PERCENTILES = (50, 90, 95, 99)


def _lengths(column: pa.Array) -> IntArray:
    return np.asarray(pc.fill_null(pc.list_value_length(column), 0), dtype=np.int64)


def _flat(column: pa.Array) -> npt.NDArray[Any]:
    return np.asarray(pc.list_flatten(column))


def _row_sums(flags: BoolArray, lengths: IntArray) -> IntArray:
    """Per row, how many of its (flattened) positions are True."""
    return row_sums(flags, offsets_of(lengths))


def _column(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    col = batch.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


# --- stats ------------------------------------------------------------------------------------


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
    for name in output.shard_files:
        shard_lengths: list[IntArray] = []
        shard_trained: list[IntArray] = []
        for batch in iter_batches(output, name, ["input_ids", "labels"]):
            labels = _column(batch, "labels")
            label_lengths = _lengths(labels)
            shard_lengths.append(_lengths(_column(batch, "input_ids")))
            shard_trained.append(_row_sums(_flat(labels) != IGNORE_INDEX, label_lengths))
        n_tokens = int(sum(int(x.sum()) for x in shard_lengths))
        n_trained = int(sum(int(x.sum()) for x in shard_trained))
        rows = sum(len(x) for x in shard_lengths)
        shards.append({"file": name, "rows": rows, "tokens": n_tokens, "trained_tokens": n_trained})
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
        "packing": _packing_stats(output, len(all_lengths), tokens),
        "format": output.format,
        "strategy": (output.manifest.get("strategy") or {}).get("name"),
        "data_kind": output.manifest.get("data_kind"),
        "tokenizer": output.tokenizer_name,
    }


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
    return _histogram(lengths, np.arange(HISTOGRAM_BINS + 1, dtype=np.int64) * width)


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


# --- validate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a built output, located by shard and row where it has one."""

    check: str
    message: str
    shard: str | None = None
    row: int | None = None
    """Row within the shard, from 0."""

    def __str__(self) -> str:
        where = self.shard or "manifest"
        if self.row is not None:
            where += f" row {self.row}"
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "shard": self.shard, "row": self.row, "message": self.message}


@dataclass
class ValidationReport:
    """What `validate` found: the first problems (up to a limit) and how many there were."""

    output: str
    max_problems: int
    shards: int = 0
    rows: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(problem)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "output": self.output,
            "rows": self.rows,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "shards": self.shards,
            "problem_count": self.problem_count,
            "problems": [p.to_json() for p in self.problems],
            "checks": self.checks,
        }


CHECKS = {
    "files": "every shard the manifest lists exists, with its SHA-256; no unlisted shard",
    "schema": "input_ids, attention_mask (packed: position_ids, seq_lengths) and labels are lists of integers, "
    "the same in every shard",
    "lengths": "input_ids, attention_mask (packed: position_ids) and labels have equal lengths in every row",
    "labels": "each label is -100 or its input_id (language modelling) or a known label id (words)",
    "trained": "every row has at least one trained label",
    "attention-mask": "attention_mask is all 1 (unpacked data)",
    "token-ids": "input ids are within the tokenizer's vocabulary",
    "counts": "rows per shard and total rows/tokens/trained tokens match the manifest",
    "tokenizer": "the tokenizer given has the manifest's fingerprint",
    **PACKED_CHECKS,
}


def validate(
    output: BuiltOutput, *, tokenizer: LoadedTokenizer | None = None, max_problems: int = 20
) -> ValidationReport:
    """Read every shard of `output` and check it against the label rules and the manifest.

    Args:
        output: an opened build output.
        tokenizer: when given, its fingerprint must match the manifest's.
        max_problems: how many problems to keep in the report (all are counted).
    """
    report = ValidationReport(str(output.path), max_problems)
    manifest = output.manifest
    id2label = output.id2label
    # Ids must fit the vocabulary of the tokenizer the output was built with (the manifest's).
    listed_vocab = (manifest.get("tokenizer") or {}).get("vocab_size")
    vocab_size = listed_vocab if isinstance(listed_vocab, int) else None
    if vocab_size is None and tokenizer is not None:
        vocab_size = tokenizer.full.get_vocab_size(with_added_tokens=True)
    packed = output.packing is not None
    skipped = {"attention-mask"} if packed else set(PACKED_CHECKS)
    if tokenizer is None:
        skipped.add("tokenizer")
    report.checks = [c for c in CHECKS if c not in skipped]
    if id2label is None and output.manifest.get("data_kind") == "words":
        report.add(Problem("labels", "data_kind is 'words' but the manifest has no id2label mapping"))

    if tokenizer is not None:
        expected = (manifest.get("tokenizer") or {}).get("fingerprint")
        if expected != tokenizer.fingerprint:
            report.add(
                Problem(
                    "tokenizer",
                    f"tokenizer {tokenizer.name} has fingerprint {tokenizer.fingerprint}, but the output was built "
                    f"with {output.tokenizer_name} ({expected})",
                )
            )

    listed = set(output.shard_files)
    for name in output.shards_on_disk():
        if name not in listed:
            report.add(Problem("files", "shard file is not listed in manifest.json", shard=name))

    reference: pa.Schema | None = None
    for entry in manifest["shards"]:
        name = entry["file"]
        path = output.path / name
        if not path.is_file():
            report.add(Problem("files", "listed in manifest.json but missing", shard=name))
            continue
        report.shards += 1
        if entry.get("sha256") and _sha256(path) != entry["sha256"]:
            report.add(
                Problem("files", "SHA-256 differs from manifest.json: the file changed after the build", shard=name)
            )
        try:
            schema = shard_schema(output, name)
        except ShardReadError as exc:
            report.add(Problem("files", f"cannot read shard: {exc}", shard=name))
            continue
        if not _check_schema(schema, reference, name, report, output):
            continue
        reference = reference or schema
        try:
            rows = _check_rows(output, name, report, id2label=id2label, vocab_size=vocab_size)
        except ShardReadError as exc:
            report.add(Problem("files", str(exc).split(": ", 1)[-1], shard=name))
            continue
        if isinstance(entry.get("rows"), int) and entry["rows"] != rows:
            report.add(Problem("counts", f"has {rows} rows, manifest.json says {entry['rows']}", shard=name))

    counts = manifest.get("counts") or {}
    for key, actual in (
        ("rows_written", report.rows),
        ("tokens", report.tokens),
        ("trained_tokens", report.trained_tokens),
    ):
        if isinstance(counts.get(key), int) and counts[key] != actual:
            report.add(
                Problem(
                    "counts",
                    f"the shards hold {actual} {key.replace('_written', '')}, manifest.json says {counts[key]}",
                )
            )
    return report


def _check_schema(
    schema: pa.Schema, reference: pa.Schema | None, name: str, report: ValidationReport, output: BuiltOutput
) -> bool:
    ok = True
    for column in (*output.token_columns, *(["seq_lengths"] if output.packing is not None else [])):
        if column not in schema.names:
            report.add(
                Problem("schema", f"column {column!r} is missing; columns are {', '.join(schema.names)}", shard=name)
            )
            ok = False
            continue
        kind = schema.field(column).type
        if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_integer(kind.value_type):
            report.add(Problem("schema", f"column {column!r} is {kind}, not a list of integers", shard=name))
            ok = False
    if ok and reference is not None and not schema.remove_metadata().equals(reference.remove_metadata()):
        report.add(Problem("schema", f"schema differs from the first shard's: {schema.remove_metadata()}", shard=name))
    return ok


def _check_rows(
    output: BuiltOutput,
    name: str,
    report: ValidationReport,
    *,
    id2label: dict[int, str] | None,
    vocab_size: int | None,
) -> int:
    """Run the per-row checks on one shard, batch by batch; return its row count."""
    offset = 0
    known_labels = np.array(sorted(id2label), dtype=np.int64) if id2label is not None else None
    packing = output.packing
    columns = [*output.token_columns, *(["seq_lengths"] if packing is not None else [])]
    for batch in iter_batches(output, name, columns):
        _check_batch(
            batch,
            _Where(report, name, offset),
            known_labels=known_labels,
            vocab_size=vocab_size,
            packing=packing,
        )
        offset += batch.num_rows
    return offset


@dataclass(frozen=True)
class _Where:
    report: ValidationReport
    shard: str
    offset: int
    """Shard row of the batch's first row."""

    def rows(self, check: str, bad: BoolArray, describe: Callable[[int], str]) -> None:
        """Report the batch rows flagged in `bad` (described only while the report has room)."""
        rows = np.flatnonzero(bad)
        room = max(self.report.max_problems - len(self.report.problems), 0)
        for r in rows[:room].tolist():
            self.report.add(Problem(check, describe(r), shard=self.shard, row=self.offset + r))
        self.report.problem_count += len(rows) - min(room, len(rows))


def _check_batch(
    batch: pa.RecordBatch,
    where: _Where,
    *,
    known_labels: IntArray | None,
    vocab_size: int | None,
    packing: dict[str, Any] | None,
) -> None:
    # Packed rows: position_ids stands where attention_mask does (a per-token column of equal length).
    second = "position_ids" if packing is not None else "attention_mask"
    ids_col, mask_col, labels_col = (_column(batch, c) for c in ("input_ids", second, "labels"))
    n = batch.num_rows
    nulls = np.zeros(n, dtype=np.bool_)
    for col in (ids_col, mask_col, labels_col):
        if col.null_count:
            nulls |= np.asarray(col.is_null())
    where.rows("lengths", nulls, lambda r: "a token column is null")

    len_ids, len_mask, len_labels = _lengths(ids_col), _lengths(mask_col), _lengths(labels_col)
    unequal = ~nulls & ((len_ids != len_mask) | (len_ids != len_labels))
    where.rows(
        "lengths",
        unequal,
        lambda r: f"lengths differ: input_ids {len_ids[r]}, {second} {len_mask[r]}, labels {len_labels[r]}",
    )
    good = np.flatnonzero(~unequal & ~nulls)
    if len(good) < n:  # leave broken rows out so the flat columns line up
        ids_col, mask_col, labels_col = (c.take(pa.array(good)) for c in (ids_col, mask_col, labels_col))
    rows = _Rows(good, len_ids[good], _flat(ids_col).astype(np.int64), _flat(labels_col).astype(np.int64), n)
    masked = rows.labels == IGNORE_INDEX
    if known_labels is not None:
        bad_label = ~masked & ~np.isin(rows.labels, known_labels)
        where.rows("labels", rows.any(bad_label), rows.describe(lambda k: rows.word_label_message(bad_label, k)))
    else:
        bad_label = ~masked & (rows.labels != rows.ids)
        where.rows("labels", rows.any(bad_label), rows.describe(lambda k: rows.lm_label_message(bad_label, k)))
    trained = _row_sums(~masked, rows.lengths)
    where.rows("trained", rows.scatter(trained == 0), lambda r: "no trained label (all -100)")
    if packing is not None:
        pack_length = packing.get("pack_length")
        for check, bad, describe in packed_problems(
            rows.lengths,
            _flat(mask_col).astype(np.int64),
            rows.labels,
            _column(batch, "seq_lengths").take(pa.array(good)),
            pack_length if isinstance(pack_length, int) else None,
        ):
            where.rows(check, rows.scatter(bad), rows.describe(describe))
    else:
        bad_mask = _flat(mask_col) != 1
        where.rows(
            "attention-mask",
            rows.any(bad_mask),
            rows.describe(lambda k: f"attention_mask[{rows.first(bad_mask, k)}] is not 1"),
        )
    if vocab_size is not None:
        bad_id = (rows.ids < 0) | (rows.ids >= vocab_size)
        where.rows(
            "token-ids",
            rows.any(bad_id),
            rows.describe(
                lambda k: f"input_ids[{rows.first(bad_id, k)}] is outside the vocabulary (size {vocab_size})"
            ),
        )
    where.report.rows += n
    where.report.tokens += int(len_ids[~nulls].sum())
    where.report.trained_tokens += int(trained.sum())


@dataclass(frozen=True)
class _Rows:
    """The well-formed rows of a batch as flat arrays; `k` indexes these rows, `r` the batch's."""

    batch_rows: IntArray
    lengths: IntArray
    ids: IntArray
    labels: IntArray
    n: int

    @property
    def starts(self) -> IntArray:
        return np.cumsum(self.lengths) - self.lengths

    def scatter(self, flags: BoolArray) -> BoolArray:
        """Flags per checked row -> flags per batch row."""
        out = np.zeros(self.n, dtype=np.bool_)
        out[self.batch_rows[flags]] = True
        return out

    def any(self, flat_flags: BoolArray) -> BoolArray:
        """Batch rows with a flagged position."""
        return self.scatter(_row_sums(flat_flags, self.lengths) > 0)

    def describe(self, describe: Callable[[int], str]) -> Callable[[int], str]:
        return lambda r: describe(int(np.searchsorted(self.batch_rows, r)))

    def first(self, flat_flags: BoolArray, k: int) -> int:
        lo = int(self.starts[k])
        return int(np.flatnonzero(flat_flags[lo : lo + self.lengths[k]])[0])

    def word_label_message(self, bad: BoolArray, k: int) -> str:
        pos = self.first(bad, k)
        return f"labels[{pos}] = {self.labels[int(self.starts[k]) + pos]} is neither -100 nor a label id of id2label"

    def lm_label_message(self, bad: BoolArray, k: int) -> str:
        pos = self.first(bad, k)
        lo = int(self.starts[k])
        message = f"labels[{pos}] = {self.labels[lo + pos]} is neither -100 nor its input_id {self.ids[lo + pos]}"
        row_ids, row_labels = self.ids[lo : lo + self.lengths[k]], self.labels[lo : lo + self.lengths[k]]
        trained = row_labels[:-1] != IGNORE_INDEX
        if trained.any() and np.array_equal(row_labels[:-1][trained], row_ids[1:][trained]):
            message += "; the labels look shifted left by one: sftmask labels are unshifted (the model shifts)"
        return message
