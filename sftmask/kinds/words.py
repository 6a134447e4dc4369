"""Word-labelled records (NER, POS, chunking): words + tags -> input_ids and first-subtoken labels.

`input_ids` are exactly ``tokenizer(words, is_split_into_words=True)["input_ids"]`` (special tokens
included); byte-level BPE tokenizers get ``add_prefix_space=True``, as Hugging Face requires for
pre-split words. Labels follow the transformers token-classification recipe
(``tokenize_and_align_labels``): the first sub-token of each word carries the word's tag id,
continuations and special tokens are -100 (or, with ``label_all_subtokens``, continuations carry
the tag with ``B-X`` turned into ``I-X``).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer

from sftmask import reasons
from sftmask.arrays import fill_null, from_strings, to_numpy
from sftmask.config.options import WordsOptions
from sftmask.errors import ConfigError, TokenizerError
from sftmask.io.readers import InputFile, RecordReader
from sftmask.kinds.base import DataKind, EncodingSession, Fields, Scan, scan_here
from sftmask.labels.strategies import IGNORE_INDEX, EncodedBatch
from sftmask.ragged import BoolArray, IntArray, Ragged, TokenArray, offsets_of, segment_index
from sftmask.tokenization.encode import first_of_word, flat_word_ids
from sftmask.tokenization.load import LoadedTokenizer
from sftmask.tokenization.variants import WordsTokenizer, words_tokenizer

log = logging.getLogger(__name__)

MAX_TAG_ID = (1 << 20) - 1
"""The largest integer tag taken as a label id without --label-names: the manifest's `label2id`
and `id2label` (what a model config's `num_labels` follows) name every id up to the largest, and a
tag of 10**12 would make a trillion of them; with names, ids stop at the last name."""


def read_label_names(value: str | Sequence[str] | None) -> list[str] | None:
    """Label names from `--label-names`: a file (one name per line; line order is the id), a
    comma-separated string, or a list.

    Raises:
        ConfigError: empty names, blank lines inside the file, or duplicates.
    """
    if value is None:
        return None
    if isinstance(value, str):
        path = Path(value).expanduser()
        if path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"--label-names {value}: cannot read the file: {exc}") from exc
            while lines and not lines[-1].strip():
                lines.pop()
            blank = [i + 1 for i, line in enumerate(lines) if not line.strip()]
            if blank:
                raise ConfigError(f"{value}:{blank[0]}: blank line in --label-names file; one name per line")
            names = [line.strip() for line in lines]
        else:
            names = [part.strip() for part in value.split(",")]
    else:
        names = [str(part).strip() for part in value]
    if not names or any(not name for name in names):
        raise ConfigError("--label-names: empty label name; give a file with one name per line or B-PER,I-PER,...")
    seen: set[str] = set()
    duplicates = [name for name in names if name in seen or seen.add(name)]  # type: ignore[func-returns-value]
    if duplicates:
        raise ConfigError(f"--label-names: {duplicates[0]!r} appears twice; each label needs one id")
    return names


def b_to_i(names: Sequence[str]) -> IntArray:
    """Per label id, the id continuation sub-tokens get: ``I-X`` for ``B-X`` when it exists (BIO)."""
    index = {name: i for i, name in enumerate(names)}
    table = np.arange(len(names), dtype=np.int64)
    for i, name in enumerate(names):
        if name.startswith("B-") and "I-" + name[2:] in index:
            table[i] = index["I-" + name[2:]]
    return table


def check_word_ids(tok: Tokenizer, name: str) -> None:
    """Fail at start-up when the tokenizer cannot map tokens to words.

    Raises:
        TokenizerError: `word_ids` is unavailable or wrong on a two-word probe.
    """
    try:
        probe = tok.encode(["a", "b"], is_pretokenized=True, add_special_tokens=True)
        word_ids = [w for w in probe.word_ids if w is not None]
    except Exception as exc:  # a tokenizer without pre-split input support raises various errors
        raise TokenizerError(
            f"tokenizer {name!r} cannot encode pre-split words with word_ids ({exc}); "
            "first-subtoken needs a fast tokenizer"
        ) from exc
    if sorted(set(word_ids)) != [0, 1]:
        raise TokenizerError(
            f"tokenizer {name!r} does not report word_ids for pre-split words; first-subtoken needs a fast tokenizer"
        )


@dataclass(frozen=True)
class LabelSet:
    """How tags become ids: through label names, or integer tags as they are."""

    names: list[str] | None
    """Label names in id order; None when the tags are integers without names."""
    source: str
    """`label-names`, `sorted-string-tags` or `integer-tags`."""


def scan_tags(files: list[InputFile], config: WordsOptions, scan: Scan = scan_here) -> set[Any]:
    """Every distinct tag value in the inputs (one extra pass, only without --label-names), by
    `scan`: batch by batch here, or the engine's way (one task per file on Ray)."""
    reader = RecordReader(
        files,
        text_fields=[],
        object_fields=[config.resolved_tags_field],
        keep_fields=[],
        batch_size=10_000,
        skip_errors=True,
        delimiter=config.delimiter,
        warnings=False,
        max_chars=config.max_chars,  # a line too long for the build is not read whole here either
    )
    return scan(reader, functools.partial(tags_in_batch, config.resolved_tags_field))


def tags_in_batch(tags_field: str, table: pa.RecordBatch) -> set[Any]:
    """The distinct tag values of one batch (the `Collect` of the label-set pass)."""
    values: set[Any] = set()
    for text in table.column(tags_field).to_pylist():
        tags = _decode(text)
        if isinstance(tags, list):
            try:
                values.update(tags)
            except TypeError:  # nested lists: reported when the record is encoded
                continue
    return values


def resolve_labels(config: WordsOptions, files: list[InputFile] | None, scan: Scan = scan_here) -> LabelSet:
    """Label names from the config, or from the tags in the inputs (sorted, with a warning),
    collected by `scan`."""
    names = read_label_names(config.label_names)
    if names is not None:
        return LabelSet(names, "label-names")
    if files is None or any(f.name == "-" for f in files):
        return LabelSet(None, "integer-tags")
    values = scan_tags(files, config, scan)
    strings = sorted(v for v in values if isinstance(v, str))
    if not strings:
        return LabelSet(None, "integer-tags")
    if len(strings) != len(values):
        raise ConfigError(
            f"tags in --tags-field {config.resolved_tags_field!r} mix strings ({strings[0]!r}, ...) and other "
            f"values ({json.dumps(min((v for v in values if not isinstance(v, str)), key=repr))}); "
            "pass --label-names so integer tags and names share one id space"
        )
    log.warning(
        "string tags without --label-names: ids follow sorted order (%s); pass --label-names to fix the order",
        ", ".join(f"{i}={name}" for i, name in enumerate(strings[:12])) + (", ..." if len(strings) > 12 else ""),
    )
    return LabelSet(strings, "sorted-string-tags")


@dataclass
class WordsSession:
    """Encodes batches of word-labelled records for one build; accumulates manifest facts."""

    config: WordsOptions
    tok: LoadedTokenizer
    labels: LabelSet
    words_tok: WordsTokenizer = field(init=False)
    adjustments: list[str] = field(init=False)
    continuation_ids: IntArray | None = field(init=False)

    def __post_init__(self) -> None:
        self.words_tok = words_tokenizer(self.tok.full)
        self.adjustments = self.words_tok.adjustments
        check_word_ids(self.words_tok.tokenizer, self.tok.name)
        self.continuation_ids = b_to_i(self.labels.names) if self.labels.names is not None else None

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        """Encode a batch; rows with bad words or tags become `invalid` (and empty)."""
        n_rows = table.num_rows
        invalid: dict[int, tuple[str, str]] = {}
        rows, words, tags = self._decode_rows(table, invalid)
        tag_flat, tag_offsets, rows, words = self._tag_ids(rows, words, tags, invalid)
        encodings = self.words_tok.tokenizer.encode_batch(
            self.words_tok.prepare(words), is_pretokenized=True, add_special_tokens=True
        )
        ids = Ragged.from_lists([enc.ids for enc in encodings])
        word_ids = flat_word_ids(encodings)
        first = first_of_word(ids, word_ids)
        labelled = self._past_bare_prefixes(ids, word_ids, first, encodings)
        labels = self._labels(ids, word_ids, labelled, first & ~labelled, tag_flat, tag_offsets)
        words_without_tokens = int(len(tag_flat) - first.sum())
        truncated = 0
        if self.config.max_length is not None and self.config.truncation != "drop":
            ids, labels, first, truncated = truncate_at_words(ids, labels, word_ids, first, self.config.max_length)
        lengths = np.zeros(n_rows, dtype=np.int64)
        lengths[np.array(rows, dtype=np.int64)] = ids.lengths
        offsets = offsets_of(lengths)
        batch = EncodedBatch(
            ids=Ragged(ids.values, offsets),
            prompt_len=np.zeros(n_rows, dtype=np.int64),
            prompt_head=np.zeros(n_rows, dtype=np.int64),
            invalid=invalid,
            word_start=first,
            tag_labels=labels,
        )
        # Counts go back to the pipeline (from worker processes too) and reach `manifest` summed.
        max_tag = int(tag_flat.max()) if len(tag_flat) else -1
        return batch, {"truncated": truncated, "words_without_tokens": words_without_tokens, "max_tag": max_tag}

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        """`label2id`/`id2label` (keys of id2label are strings, as in model configs) and notes."""
        names = self.labels.names
        if names is None:
            names = [f"LABEL_{i}" for i in range(counts.get("max_tag", -1) + 1)]
        return {
            "label2id": {name: i for i, name in enumerate(names)},
            "id2label": {str(i): name for i, name in enumerate(names)},
            "words": {
                "tokens_field": self.config.resolved_tokens_field,
                "tags_field": self.config.resolved_tags_field,
                "label_source": self.labels.source,
                "label_all_subtokens": bool(self.config.label_all_subtokens),
                "words_encoding": self.adjustments or ["as is"],
                "truncated_rows": counts.get("truncated", 0),
                "words_without_tokens": counts.get("words_without_tokens", 0),
            },
        }

    def _decode_rows(
        self, table: pa.RecordBatch, invalid: dict[int, tuple[str, str]]
    ) -> tuple[list[int], list[list[str]], list[list[Any]]]:
        tokens_field, tags_field = self.config.resolved_tokens_field, self.config.resolved_tags_field
        rows: list[int] = []
        all_words: list[list[str]] = []
        all_tags: list[list[Any]] = []
        for row, (words_text, tags_text) in enumerate(
            zip(table.column(tokens_field).to_pylist(), table.column(tags_field).to_pylist(), strict=True)
        ):
            words, tags = _decode(words_text), _decode(tags_text)
            problem = _shape_problem(words, tags, tokens_field, tags_field)
            if problem is not None:
                invalid[row] = problem
                continue
            rows.append(row)
            all_words.append(words)
            all_tags.append(tags)
        if all_words and not _all_strings(all_words):
            # Slow path, only for a batch holding a bad row: find which rows.
            keep = []
            for k, words in enumerate(all_words):
                bad = [w for w in words if not isinstance(w, str)]
                if not bad:
                    keep.append(k)
                    continue
                invalid[rows[k]] = (
                    reasons.BAD_WORDS,
                    f"field {tokens_field!r} holds {json.dumps(bad[0])}; words must be strings",
                )
            rows, all_words, all_tags = _pick(keep, rows, all_words, all_tags)
        return rows, all_words, all_tags

    def _tag_ids(
        self, rows: list[int], words: list[list[str]], tags: list[list[Any]], invalid: dict[int, tuple[str, str]]
    ) -> tuple[IntArray, IntArray, list[int], list[list[str]]]:
        """Tag ids of the valid rows, flat, with offsets; rows with bad tags go to `invalid`."""
        kinds = _tag_kinds(tags)
        names = self.labels.names
        n_labels = len(names) if names is not None else None
        flat_parts: list[IntArray] = []
        keep: list[int] = []
        ints = [k for k, kind in enumerate(kinds) if kind == "int"]
        strings = [k for k, kind in enumerate(kinds) if kind == "str"]
        per_row: dict[int, IntArray] = {}
        tags_field = self.config.resolved_tags_field
        for k, kind in enumerate(kinds):
            if kind == "bad":
                bad = [t for t in tags[k] if type(t) is not int and not isinstance(t, str)]
                what = f"holds {json.dumps(bad[0])}" if bad else "mixes integers and strings"
                invalid[rows[k]] = (
                    reasons.BAD_TAGS,
                    f"field {tags_field!r} {what}; tags must be all integers or all strings",
                )
        if ints:
            # Without names the ids are the labels, at most MAX_TAG_ID. An id past the top (or past
            # int64) sends the batch through a Python pass that reports the rows holding one; other
            # negative and out-of-range ids are found below, with numpy.
            top = MAX_TAG_ID if n_labels is None else n_labels - 1
            offsets, flat = _int_tags([tags[k] for k in ints])
            if flat is None or (len(flat) and int(flat.max()) > top):
                for k in ints:
                    bad = [t for t in tags[k] if not 0 <= t <= top]
                    if bad:
                        invalid[rows[k]] = (reasons.UNKNOWN_TAG, self._unknown(bad[0]))
                ints = [k for k in ints if rows[k] not in invalid]
                offsets, flat = _int_tags([tags[k] for k in ints])
                assert flat is not None  # every tag left is in 0..top
            self._collect(ints, offsets, flat, per_row)
        if strings:
            offsets = _row_offsets([tags[k] for k in strings])
            if names is None:
                for k in strings:
                    invalid[rows[k]] = (
                        reasons.UNKNOWN_TAG,
                        f"field {tags_field!r} holds string tags; reading stdin they need --label-names",
                    )
            else:
                values = from_strings(list(chain.from_iterable(tags[k] for k in strings)))
                found = pc.index_in(values, value_set=from_strings(names))
                flat = to_numpy(fill_null(found, -1)).astype(np.int64)
                self._collect(strings, offsets, flat, per_row)
        for k, ids in per_row.items():
            if rows[k] in invalid:
                continue
            bad_at = np.flatnonzero((ids < 0) | (ids >= n_labels if n_labels is not None else False))
            if len(bad_at):
                invalid[rows[k]] = (reasons.UNKNOWN_TAG, self._unknown(tags[k][int(bad_at[0])]))
                continue
            keep.append(k)
        keep.sort()
        flat_parts = [per_row[k] for k in keep]
        tag_flat = np.concatenate(flat_parts) if flat_parts else np.zeros(0, dtype=np.int64)
        tag_offsets = offsets_of(np.array([len(part) for part in flat_parts], dtype=np.int64))
        kept_rows, kept_words, _ = _pick(keep, rows, words, tags)
        return tag_flat, tag_offsets, kept_rows, kept_words

    @staticmethod
    def _collect(group: list[int], offsets: IntArray, flat: IntArray, per_row: dict[int, IntArray]) -> None:
        for j, k in enumerate(group):
            per_row[k] = flat[offsets[j] : offsets[j + 1]]

    def _unknown(self, tag: Any) -> str:
        names = self.labels.names
        if names is None:
            return f"tag {json.dumps(tag)} is not a label id (0 to {MAX_TAG_ID:,}, or pass --label-names)"
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        if isinstance(tag, str):
            return f"unknown tag {tag!r}; label names are {shown}"
        return f"tag {tag} is out of range: there are {len(names)} label names ({shown})"

    def _past_bare_prefixes(self, ids: Ragged, word_ids: IntArray, first: BoolArray, encodings: Any) -> BoolArray:
        """The token each word's tag sits on: its first token, or the next one when the first holds
        only the space put before the word (byte-level BPE that splits digits or CJK from a
        leading space: Llama 3's `` 1996`` is ``Ġ`` ``199`` ``6``), never a bare space token."""
        bare = self.words_tok.bare_prefix_ids
        if not bare or not len(word_ids):
            return first
        candidates = np.flatnonzero(first & np.isin(ids.values, list(bare)))
        if not len(candidates):
            return first
        row_of = np.repeat(np.arange(len(ids), dtype=np.int64), ids.lengths)
        prefix = len(self.words_tok.word_prefix)
        labelled = first.copy()
        for position in candidates.tolist():
            row = int(row_of[position])
            local = position - int(ids.offsets[row])
            following = position + 1
            same_word = following < ids.offsets[row + 1] and word_ids[following] == word_ids[position]
            if same_word and encodings[row].offsets[local][1] <= prefix:
                labelled[position], labelled[following] = False, True
        return labelled

    def _labels(
        self,
        ids: Ragged,
        word_ids: IntArray,
        first: BoolArray,
        bare: BoolArray,
        tag_flat: IntArray,
        tag_offsets: IntArray,
    ) -> TokenArray:
        """Tags on `first`; continuations -100 (or, with label_all_subtokens, their I- tag); a word's
        `bare` leading space token -100 either way."""
        in_word = word_ids >= 0
        row_of = np.repeat(np.arange(len(ids), dtype=np.int64), ids.lengths)
        source = np.where(in_word, tag_offsets[row_of] + word_ids, 0)
        tag = tag_flat[source] if len(tag_flat) else np.zeros(len(word_ids), dtype=np.int64)
        labels = np.where(first, tag, IGNORE_INDEX)
        if self.config.label_all_subtokens:
            continuation = tag if self.continuation_ids is None else self.continuation_ids[tag]
            labels = np.where(in_word & ~first & ~bare, continuation, labels)
        return labels.astype(np.int32)


def truncate_at_words(
    ids: Ragged, labels: TokenArray, word_ids: IntArray, first: BoolArray, max_length: int
) -> tuple[Ragged, TokenArray, BoolArray, int]:
    """Cut rows longer than `max_length` at a word boundary, keeping leading and trailing specials.

    A row keeps its leading special tokens ([CLS], BOS), as many whole words as fit, and its
    trailing special tokens ([SEP], EOS); only when not even the first word fits is it cut
    inside that word. Returns the rows, their labels and word starts, and how many were cut.
    """
    lengths = ids.lengths
    too_long = lengths > max_length
    if not too_long.any():
        return ids, labels, first, 0
    n_rows = len(ids)
    starts = ids.offsets[:-1]
    in_word = word_ids >= 0
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    position = np.arange(len(word_ids), dtype=np.int64) - np.repeat(starts, lengths)
    # Leading specials end at each row's first word token; trailing ones start after its last.
    word_pos = np.flatnonzero(in_word)
    first_word = np.searchsorted(word_pos, starts)
    last_word = np.searchsorted(word_pos, starts + lengths) - 1
    has_words = (first_word < len(word_pos)) & (first_word <= last_word)
    padded = np.append(word_pos, 0)  # safe to index with len(word_pos) (rows without words)
    head = np.where(has_words, padded[first_word] - starts, lengths)
    end = np.where(has_words, padded[np.clip(last_word, 0, None)] - starts + 1, head)
    tail = lengths - end
    budget = np.clip(max_length - head - tail, 0, None)
    # The last word start at or before the budget, per row: keeping everything before it keeps
    # whole words. Word starts are sorted by (row, position), so one searchsorted finds it.
    start_pos = np.flatnonzero(first)
    rows = np.arange(n_rows, dtype=np.int64)
    cut = np.zeros(n_rows, dtype=np.int64)
    if len(start_pos):
        span = int(lengths.max()) + 1
        start_row = row_of[start_pos]
        key = start_row * span + (position[start_pos] - head[start_row])
        found = np.searchsorted(key, rows * span + budget, side="right") - 1
        safe = np.clip(found, 0, None)
        hit = (found >= 0) & (start_row[safe] == rows)
        cut = np.where(hit, key[safe] - rows * span, 0)
    keep = np.where(cut > 0, cut, budget)
    body = end - head
    keep = np.where(too_long, np.minimum(keep, body), body)
    seg_starts = np.stack([starts, starts + head, starts + end], axis=1).ravel()
    seg_lengths = np.stack([head, keep, tail], axis=1).ravel()
    index, seg_offsets = segment_index(seg_starts, seg_lengths)
    return Ragged(ids.values[index], seg_offsets[::3]), labels[index], first[index], int(too_long.sum())


def _all_strings(rows: list[list[str]]) -> bool:
    return _value_types(rows) <= {str}


def _value_types(rows: list[list[Any]]) -> set[type]:
    """The types of the values in the rows (one C-level pass; the rows are decoded JSON)."""
    return set(map(type, chain.from_iterable(rows)))


def _row_offsets(rows: list[list[Any]]) -> IntArray:
    return offsets_of(np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)))


def _int_tags(rows: list[list[int]]) -> tuple[IntArray, IntArray | None]:
    """The rows' offsets and their integer tags, flat (None when one does not fit int64)."""
    offsets = _row_offsets(rows)
    try:
        return offsets, np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(offsets[-1]))
    except OverflowError:
        return offsets, None


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    value = orjson.loads(text)
    if isinstance(value, str) and value.lstrip().startswith("["):
        # CSV/TSV cells hold lists as JSON text.
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _shape_problem(words: Any, tags: Any, tokens_field: str, tags_field: str) -> tuple[str, str] | None:
    if not isinstance(words, list):
        return reasons.BAD_WORDS, f"field {tokens_field!r} is {_kind(words)}, not a list of words"
    if not isinstance(tags, list):
        return reasons.BAD_TAGS, f"field {tags_field!r} is {_kind(tags)}, not a list of tags"
    if not words:
        return reasons.EMPTY_WORDS, f"field {tokens_field!r} is an empty list; a record needs at least one word"
    if len(words) != len(tags):
        return (
            reasons.LENGTH_MISMATCH,
            f"{len(words)} words in {tokens_field!r} but {len(tags)} tags in {tags_field!r}; they must be parallel",
        )
    return None


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _tag_kinds(tags: list[list[Any]]) -> list[str]:
    """Per row: `int` (all integers), `str` (all strings) or `bad`; one C-level check per batch."""
    if not tags:
        return []
    found = _value_types(tags)
    if found == {int}:
        return ["int"] * len(tags)
    if found == {str}:
        return ["str"] * len(tags)
    # Slow path, only for batches holding a bad or mixed row: find which rows.
    kinds = []
    for row in tags:
        if all(isinstance(t, str) for t in row):
            kinds.append("str")
        elif all(type(t) is int for t in row):
            kinds.append("int")
        else:
            kinds.append("bad")
    return kinds


def _pick(keep: list[int], *columns: list[Any]) -> tuple[Any, ...]:
    return tuple([column[k] for k in keep] for column in columns)


class Words(DataKind[WordsOptions]):
    name = "words"
    description = "records with a list of words and a parallel list of tags (NER, POS, chunking)"
    options = WordsOptions
    provides = frozenset({"word_start", "tag_labels"})
    options_select = True
    default_strategy = "first-subtoken"

    def fields(self, config: WordsOptions) -> Fields:
        return Fields(text=[], objects=[config.resolved_tokens_field, config.resolved_tags_field])

    def open(self, config: WordsOptions, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        """Prepare a build over word-labelled records: label names, tokenizer checks."""
        return self.open_scanning(config, tok, files, scan_here)

    def open_scanning(
        self, config: WordsOptions, tok: LoadedTokenizer, files: list[InputFile], scan: Scan
    ) -> EncodingSession:
        """`open`, with the label-set pass (string tags, no --label-names) run by `scan`."""
        return WordsSession(config, tok, resolve_labels(config, files, scan))

    def check(self, config: WordsOptions, *, chosen: bool) -> None:
        if chosen or not self.options_given(config):
            return
        given = [name.replace("_", "-") for name in self.own_options() if getattr(config, name) is not None]
        raise ValueError(
            f"{', '.join(given)} only apply to word-labelled data (--data-kind words), which strategy "
            f"{config.strategy!r} does not read; use --strategy first-subtoken"
        )
