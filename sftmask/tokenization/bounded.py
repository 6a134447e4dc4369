"""Encode no more of a long text than `--max-length` can keep: cut it where its tokens split.

A row keeps at most `--max-length` tokens, yet a 200 MB response used to be tokenized whole (a
2.6 GB allocation in Rust) before truncation threw almost all of it away. Here a long text is
cut at a **gap** (one space between two letters or digits) past a character budget, only the
head is encoded, and the head's tokens are *exactly* the first tokens of the whole text's
encoding, because the cut is a place the tokenizer splits at, by its structure (and checked on probes):

- *split tokenizers* (byte-level BPE's regex, WordPiece's whitespace split, Metaspace with
  ``split=true``): the pre-tokenizer cuts the text at the gap, and its pieces before the gap do
  not depend on the text after it (a letter or digit run ends at the space; no lookahead looks
  past it); the model encodes each piece on its own.
- *unsplit SentencePiece* (Llama 2, Mistral, Phi-3, Gemma 4: the whole text is one BPE or
  Unigram word): no vocabulary token holds a letter or digit followed by a space (``▁``), so no
  merge (BPE) and no piece (Unigram's Viterbi) crosses the gap, and the two sides are encoded
  independently (for byte-level symbols or normalizers that may turn a letter into something
  else, no token may hold any character followed by a space). The head is longer than any
  vocabulary token, so BPE's ``ignore_merges`` never takes it whole.

`gap_cut` decides this once per tokenizer from its components (`_CHAR_LOCAL_NORMALIZERS`, no
truncation, no added token holding whitespace) and checks it by probes: on texts of many
scripts the normalized head is a prefix of the normalized text and the pre-tokenizer's pieces
of the head are those of the text before the gap. A tokenizer that fails gets no cuts: its texts
are encoded whole, as before.

The budget (`CHARS_PER_TOKEN` per token needed, plus `MIN_CHARS`) is a first guess, not a bound:
`encode_bounded` counts the head's tokens and, for a row with fewer than it needs, cuts again
further on (at least twice as far) and re-encodes that row, until it has enough tokens or the
cut reaches the end of the text. A row holding no gap past its budget is encoded whole.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from tokenizers import Tokenizer

from sftmask.ragged import IntArray
from sftmask.tokenization.traits import traits

CHARS_PER_TOKEN = 6
"""First guess of characters per token (English is ~4; fewer tokens are made up by re-cutting)."""
MIN_CHARS = 2048
"""Characters always kept past the budget (and more than any vocabulary token's length)."""

GAP = re.compile(r"(?<=[^\W_]) (?=[^\W_])")
"""One space between two letters or digits (`[^\\W_]` is `str.isalnum`)."""

_CHAR_LOCAL_NORMALIZERS = frozenset(
    {"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "BertNormalizer", "Prepend", "Nmt", "ByteLevel"}
)
"""Normalizers that change characters one at a time (or prepend to the whole text): none joins
characters across a space between two letters."""
_SPACE_AFTER_CHAR = re.compile("[^ \u2581\u0120][ \u2581\u0120]")
"""A space after another character; a space in a vocabulary is itself, SentencePiece's ``▁`` or
byte-level BPE's ``Ġ``."""
_SPACE_AFTER_ALNUM = re.compile("[^\\W_][ \u2581]")

_PROBES = (
    "Hello world again and again",
    "The U.S. economy grew 3.2% in 1996-08-22's report on it",
    "it's 12 34 x1 y2 3z 12345678 90",
    "I'm sure you'll see they've done it now",
    "café naïve Ünïcödé Über ÀB ǅa bǅ",
    "Привет мир как дела Καλημέρα κόσμε",
    "東京 北京 日本語 한국어 문장 ไทย ภาษา",
    "مرحبا بالعالم ١٢ ٣٤ שלום עולם",
    "a b c d e f g h i j k",
    "ABC DEF ghi JKL mno 1 2 3",
    "x\u0301y z\u0308w q",
)


def gap_cut(tokenizer: Tokenizer) -> int | None:
    """Where a text may be cut at a gap (`GAP`) so that encoding the head gives exactly the first
    tokens of encoding the whole text: 0 before the gap's space, 1 after it, None never.

    Holds for encoding without special tokens (no post-processor); cached per tokenizer.
    """
    return _gap_cut(tokenizer)


@functools.lru_cache(maxsize=16)
def _gap_cut(tokenizer: Tokenizer) -> int | None:
    if tokenizer.truncation is not None or tokenizer.padding is not None:
        return None
    if any(any(ch.isspace() for ch in t.content) for t in tokenizer.get_added_tokens_decoder().values()):
        return None
    if not _char_local(traits(tokenizer).normalizer):
        return None
    for offset in (0, 1):
        if _probes_hold(tokenizer, offset, split=True):
            return offset
    return 0 if _unsplit_ok(tokenizer) else None


def _char_local(spec: Any) -> bool:
    if spec is None:
        return True
    kind = spec.get("type")
    if kind == "Sequence":
        return all(_char_local(part) for part in spec.get("normalizers", []))
    if kind == "Replace":
        pattern = spec.get("pattern", {})
        literal = pattern.get("String") if isinstance(pattern, dict) else None
        return isinstance(literal, str) and (literal == " " or not any(ch.isspace() for ch in literal))
    return kind in _CHAR_LOCAL_NORMALIZERS


def _probes_hold(tokenizer: Tokenizer, offset: int, *, split: bool) -> bool:
    """On every probe and gap: the normalized head is a prefix of the normalized text, and the
    pre-tokenizer's pieces of the head are the text's pieces before the cut (`split`: no piece
    of the text crosses the cut; else the piece crossing it is cut short there)."""
    normalize = tokenizer.normalizer.normalize_str if tokenizer.normalizer is not None else (lambda s: s)
    pieces = tokenizer.pre_tokenizer.pre_tokenize_str if tokenizer.pre_tokenizer is not None else None
    for text in _PROBES:
        whole = normalize(text)
        whole_pieces = pieces(whole) if pieces is not None else [(whole, (0, len(whole)))]
        for gap in GAP.finditer(text):
            head = normalize(text[: gap.start() + offset])
            if not whole.startswith(head):
                return False
            cut = len(head)
            head_pieces = pieces(head) if pieces is not None else [(head, (0, len(head)))]
            crossing = [p for p in whole_pieces if p[1][0] < cut < p[1][1]]
            if split and crossing:
                return False
            before = [(s, tuple(o)) for s, o in whole_pieces if o[1] <= cut]
            got = [(s, tuple(o)) for s, o in head_pieces]
            if crossing:  # the head's last piece is the crossing piece, cut short
                if not got:
                    return False
                (string, (start, _end)), (cut_string, cut_offsets) = crossing[0], got.pop()
                if cut_offsets != (start, cut) or not string.startswith(cut_string):
                    return False
            if got != before:
                return False
    return True


def _unsplit_ok(tokenizer: Tokenizer) -> bool:
    """Whether a BPE or Unigram model that sees whole texts never crosses a gap (cut before its
    space): no vocabulary token holds a space after another character."""
    model = tokenizer.model
    kind = traits(tokenizer).model
    if kind == "BPE":
        if model.dropout or model.end_of_word_suffix or model.continuing_subword_prefix:
            return False
    elif kind != "Unigram":
        return False
    if not _probes_hold(tokenizer, 0, split=False):
        return False
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    if max(map(len, vocab), default=0) >= MIN_CHARS:
        return False
    # The character before a gap's space is a letter or digit, and stays one when the normalizer
    # only replaces or prepends (or composes, NFC): a token crossing the gap holds a letter or
    # digit then a space. Otherwise (byte-level symbols, NFKC, lowercasing) any character counts.
    kind_of = traits(tokenizer)
    spec = kind_of.normalizer
    parts = spec.get("normalizers", [spec]) if isinstance(spec, dict) else []
    plain = all(part.get("type") in ("Replace", "Prepend", "NFC") for part in parts)
    pattern = _SPACE_AFTER_ALNUM if plain and not kind_of.byte_level_symbols else _SPACE_AFTER_CHAR
    return not any(map(pattern.search, vocab))


def cut_at(text: str, budget: int, offset: int) -> int:
    """The first cut at a gap at or after `budget` characters (`len(text)`: none, keep it all)."""
    if budget >= len(text):
        return len(text)
    gap = GAP.search(text, budget)
    return len(text) if gap is None else gap.start() + offset


R = TypeVar("R")


def encode_bounded(
    texts: Sequence[str],
    need: IntArray,
    cut_offset: Callable[[], int | None],
    encode: Callable[[IntArray, list[str]], R],
    counted: Callable[[R, IntArray], IntArray],
    replace: Callable[[R, IntArray, R], R],
    floor: IntArray | None = None,
) -> R:
    """Encode `texts`, each cut at a gap so that it still yields the tokens its row needs.

    Args:
        texts: the whole texts.
        need: per row, the tokens wanted (past `floor`); a row with fewer is encoded whole.
        cut_offset: the tokenizer's `gap_cut` (None: encode every text whole), asked only
            when a text is longer than its budget.
        encode: encodes texts of the given rows (row indices, texts) into an ``R`` of those rows.
        counted: for the given rows of an ``R`` (positions in it), the tokens that count towards
            `need`.
        replace: an ``R`` with the given rows replaced by another ``R``'s rows.
        floor: per row, characters that must be encoded before the budget starts (default 0).
    """
    n = len(texts)
    rows = np.arange(n, dtype=np.int64)
    base = np.zeros(n, dtype=np.int64) if floor is None else floor
    budgets = base + need.astype(np.int64) * CHARS_PER_TOKEN + MIN_CHARS
    lengths = np.fromiter(map(len, texts), np.int64, n)
    offset = cut_offset() if (lengths > budgets).any() else None
    if offset is None:
        return encode(rows, list(texts))
    cuts = np.array([cut_at(t, int(b), offset) for t, b in zip(texts, budgets, strict=True)], dtype=np.int64)
    result = encode(rows, [t[:c] for t, c in zip(texts, cuts.tolist(), strict=True)])
    pending = rows[cuts < lengths]
    got = counted(result, pending)
    while len(pending):
        short = pending[got < need[pending]]
        if not len(short):
            break
        # Twice as far, or as far as the tokens per character seen so far say (with a margin).
        seen = np.maximum(counted(result, short), 1)
        grown = base[short] + (cuts[short] - base[short]) * np.maximum(2.0, 1.25 * need[short] / seen)
        cuts[short] = [cut_at(texts[i], int(b), offset) for i, b in zip(short.tolist(), grown.tolist(), strict=True)]
        redo = encode(short, [texts[i][: cuts[i]] for i in short.tolist()])
        result = replace(result, short, redo)
        still = cuts[short] < lengths[short]
        pending = short[still]
        got = counted(redo, np.flatnonzero(still))
    return result
