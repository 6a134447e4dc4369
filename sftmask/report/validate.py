"""`sftmask validate`: is a built output what its manifest says, row by row and shard by shard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from sftmask.errors import ShardReadError
from sftmask.io.output import (
    BuiltOutput,
    count_lines,
    flat_values,
    inside,
    iter_batches,
    list_lengths,
    row_counts,
    shard_schema,
    whole_column,
)
from sftmask.io.output_dir import REJECTS
from sftmask.io.writer import sha256_of
from sftmask.labels.strategies import IGNORE_INDEX
from sftmask.packing.packer import PACKED_CHECKS, packed_problems
from sftmask.ragged import BoolArray, IntArray
from sftmask.tokenization.load import LoadedTokenizer


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
    "counts": "rows per shard and total rows/tokens/trained tokens match the manifest; records read = rows written "
    "+ rejected = the lines of rejects.jsonl",
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
    skipped = {"attention-mask"} if output.packing is not None else set(PACKED_CHECKS)
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
        if entry.get("sha256") and sha256_of(path) != entry["sha256"]:
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

    # Packed output: counts.rows_written counts the examples; the shards' rows are packing.rows.
    counts = dict(manifest.get("counts") or {})
    if output.packing is not None:
        counts["rows_written"] = output.packing.get("rows")
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
    _check_accounting(output, report)
    return report


def _check_accounting(output: BuiltOutput, report: ValidationReport) -> None:
    """Every record read is written or rejected, and every reject is in rejects.jsonl."""
    counts = output.manifest.get("counts", {})
    read, written, rejected = (counts.get(k) for k in ("records_read", "rows_written", "rejected"))
    if read is not None and written is not None and rejected is not None:
        _check_sum("counts", counts, report)
    _check_sources(output, counts, report)
    by_reason = counts.get("rejected_by_reason")
    if rejected is not None and by_reason is not None and sum(by_reason.values()) != rejected:
        report.add(
            Problem(
                "counts",
                f"counts.rejected is {rejected:,}, but counts.rejected_by_reason adds up to {sum(by_reason.values()):,}",
            )
        )
    packing = output.packing
    if packing is not None and written is not None and packing.get("examples", written) != written:
        report.add(
            Problem("counts", f"counts.rows_written is {written:,}, but packing.examples is {packing['examples']:,}")
        )
    if rejected is None:
        return
    path = output.path / REJECTS
    if not path.exists() and not path.is_symlink():
        if rejected:
            report.add(Problem("counts", f"counts.rejected is {rejected:,}, but {REJECTS} is missing"))
        return
    if not inside(output.path, REJECTS):
        report.add(Problem("files", f"{REJECTS} is a symlink out of the output directory"))
        return
    try:
        lines = count_lines(path)
    except OSError as exc:
        report.add(Problem("files", f"cannot read {REJECTS}: {exc.strerror or exc}"))
        return
    if lines != rejected:
        report.add(Problem("counts", f"{REJECTS} holds {lines:,} rejects, but counts.rejected is {rejected:,}"))


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
            batch, _Where(report, name, offset), known_labels=known_labels, vocab_size=vocab_size, packing=packing
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
    ids_col, mask_col, labels_col = (whole_column(batch, c) for c in ("input_ids", second, "labels"))
    n = batch.num_rows
    nulls = np.zeros(n, dtype=np.bool_)
    for col in (ids_col, mask_col, labels_col):
        if col.null_count:
            nulls |= np.asarray(col.is_null())
    where.rows("lengths", nulls, lambda r: "a token column is null")

    len_ids, len_mask, len_labels = list_lengths(ids_col), list_lengths(mask_col), list_lengths(labels_col)
    unequal = ~nulls & ((len_ids != len_mask) | (len_ids != len_labels))
    where.rows(
        "lengths",
        unequal,
        lambda r: f"lengths differ: input_ids {len_ids[r]}, {second} {len_mask[r]}, labels {len_labels[r]}",
    )
    good = np.flatnonzero(~unequal & ~nulls)
    if len(good) < n:  # leave broken rows out so the flat columns line up
        ids_col, mask_col, labels_col = (c.take(pa.array(good)) for c in (ids_col, mask_col, labels_col))
    rows = _Rows(
        good, len_ids[good], flat_values(ids_col).astype(np.int64), flat_values(labels_col).astype(np.int64), n
    )
    masked = rows.labels == IGNORE_INDEX
    if known_labels is not None:
        bad_label = ~masked & ~np.isin(rows.labels, known_labels)
        where.rows("labels", rows.any(bad_label), rows.describe(lambda k: rows.word_label_message(bad_label, k)))
    else:
        bad_label = ~masked & (rows.labels != rows.ids)
        where.rows("labels", rows.any(bad_label), rows.describe(lambda k: rows.lm_label_message(bad_label, k)))
    trained = row_counts(~masked, rows.lengths)
    where.rows("trained", rows.scatter(trained == 0), lambda r: "no trained label (all -100)")
    if packing is not None:
        pack_length = packing.get("pack_length")
        for check, bad, describe in packed_problems(
            rows.lengths,
            flat_values(mask_col).astype(np.int64),
            rows.labels,
            whole_column(batch, "seq_lengths").take(pa.array(good)),
            pack_length if isinstance(pack_length, int) else None,
        ):
            where.rows(check, rows.scatter(bad), rows.describe(describe))
    else:
        bad_mask = flat_values(mask_col) != 1
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
        return self.scatter(row_counts(flat_flags, self.lengths) > 0)

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


def _check_sum(where: str, counts: dict[str, Any], report: ValidationReport) -> None:
    """records_read + repeated = rows_written + rejected + duplicates + left_out (the last three
    only when mixing left rows out: a recipe's amounts and weights, --dedup)."""
    read, written, rejected = counts["records_read"], counts["rows_written"], counts["rejected"]
    repeated = counts.get("repeated", 0)
    out = counts.get("duplicates", 0) + counts.get("left_out", 0)
    if read + repeated == written + rejected + out:
        return
    terms, total = f"rows_written + rejected is {written:,} + {rejected:,}", written + rejected
    if out:
        terms, total = (
            f"rows_written + rejected + duplicates + left_out is {written:,} + {rejected:,} + {out:,}",
            total + out,
        )
    plus = f" (+ repeated {repeated:,})" if repeated else ""
    report.add(Problem("counts", f"{where}.records_read is {read:,}{plus}, but {terms} = {total:,}"))


def _check_sources(output: BuiltOutput, counts: dict[str, Any], report: ValidationReport) -> None:
    """Each source's counts add up, and the sources' add up to the build's; each split's rows are
    its shards' (unpacked)."""
    sources = output.sources
    for name, entry in sources.items():
        if all(isinstance(entry.get(k), int) for k in ("records_read", "rows_written", "rejected")):
            _check_sum(f"sources.{name}", entry, report)
    for key in ("records_read", "rows_written", "rejected"):
        total = sum(entry.get(key, 0) for entry in sources.values())
        if sources and isinstance(counts.get(key), int) and total != counts[key]:
            report.add(Problem("counts", f"the sources' {key} add up to {total:,}, counts.{key} is {counts[key]:,}"))
    listed = output.manifest.get("splits", {})
    if output.packing is not None:
        return
    for split, entry in listed.items():
        rows = sum(s.get("rows", 0) for s in output.manifest["shards"] if s.get("split") == split)
        if entry.get("rows") != rows:
            report.add(Problem("counts", f"splits.{split}.rows is {entry.get('rows')}, its shards hold {rows:,} rows"))
