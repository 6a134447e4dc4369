"""Texts encoded with where each token ends in its text (character offsets), as numpy arrays.

The Rust tokenizer gives offsets only as a Python list of tuples per encoding, so reading them
costs Python work per token. For a byte-level BPE tokenizer (GPT-2 style: Llama 3, Qwen,
DeepSeek, Tekken...) the ends follow from the ids alone: every token stands for a fixed string of
bytes and the tokens cover the text's UTF-8 bytes in order, so a token ends at the running sum of
the byte lengths before it, which the text's UTF-8 character starts turn into a character offset
(a token ending inside a character, as byte-level BPE splits emoji, ends after that character,
as the tokenizer's own offsets say). That holds only when nothing changes the text on its way to
the model, so it is used for tokenizers whose model is BPE, whose pre-tokenizer is byte-level
without an added prefix space, with no normalizer (or the `Encoder`'s twin without one, for text
already in its normal form), and whose offsets are not trimmed; and it is checked per text: the
byte lengths must add up to the text's UTF-8 length. Any other text (an added token that strips
the whitespace beside it, text the normalizer may change) and every other tokenizer is encoded
with offsets, read token by token.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer, pre_tokenizers

from sftmask.ragged import IntArray, Ragged, TokenArray, offsets_of, row_sums, segment_index
from sftmask.tokenization.normalform import Encoder, in_normal_form
from sftmask.tokenization.traits import traits


def encode_with_ends(encoder: Encoder, texts: Sequence[str]) -> tuple[Ragged, IntArray]:
    """The texts' tokens (no special tokens added) and each token's end in its text, in characters.

    Args:
        encoder: the tokenizer's `Encoder`.
        texts: the texts.

    Returns:
        The token rows, and the flat end offsets (one per token, in the rows' order).
    """
    texts = list(texts)
    direct_tokenizer = encoder.twin or encoder.tokenizer
    table = _byte_lengths(direct_tokenizer) if texts else None
    if table is None:
        return _with_offsets(encoder, texts)
    form = encoder.skips_normalizer
    # With a normalizer, only text in its normal form goes to the twin without it.
    direct = in_normal_form(form, texts) if form else np.ones(len(texts), dtype=np.bool_)
    rows = np.flatnonzero(direct)
    chosen = [texts[i] for i in rows.tolist()]
    normal = np.ones(len(chosen), dtype=np.bool_) if form else None  # the Encoder need not check again
    encodings = encoder.encode_batch(chosen, add_special_tokens=False, normal=normal)
    ids = Ragged.from_lists([e.ids for e in encodings])
    ends, good = _ends_from_bytes(table, ids, chosen)
    if len(rows) == len(texts) and good.all():
        return ids, ends
    # The rest (text the normalizer may change, lengths that do not add up): with offsets.
    redo = np.setdiff1d(np.arange(len(texts)), rows[good])
    redo_ids, redo_ends = _with_offsets(encoder, [texts[i] for i in redo.tolist()])
    kept = np.flatnonzero(good)
    first, _ = segment_index(ids.offsets[kept], ids.lengths[kept])
    values = np.concatenate([ids.values[first], redo_ids.values])
    all_ends = np.concatenate([ends[first], redo_ends])
    lengths = np.concatenate([ids.lengths[kept], redo_ids.lengths])
    offsets = offsets_of(lengths)
    order = np.argsort(np.concatenate([rows[kept], redo]), kind="stable")  # back to the texts' order
    index, ordered = segment_index(offsets[order], lengths[order])
    return Ragged(values[index], ordered), all_ends[index]


def _with_offsets(encoder: Encoder, texts: list[str]) -> tuple[Ragged, IntArray]:
    encodings = encoder.encode_batch(texts, add_special_tokens=False, offsets=True)
    ids = Ragged.from_lists([enc.ids for enc in encodings])
    # Measured on 281k tokens: this generator into fromiter takes 40 ms, np.asarray per row 170 ms,
    # chained iterators 65 ms; building `enc.offsets` itself (tuples, in tokenizers) costs more.
    ends = np.fromiter((end for enc in encodings for _, end in enc.offsets), np.int64, len(ids.values))
    return ids, ends


def _ends_from_bytes(table: ByteLengths, ids: Ragged, texts: list[str]) -> tuple[IntArray, Any]:
    """Token ends (characters) from the tokens' byte lengths; per text, whether the lengths add up."""
    lengths = table(ids.values)
    not_bytes = row_sums(lengths == ByteLengths.NOT_BYTES, ids.offsets) > 0
    running = np.zeros(len(lengths) + 1, dtype=np.int64)  # bytes before each token, over all rows
    np.cumsum(np.maximum(lengths, 0), out=running[1:])
    row_base = running[ids.offsets[:-1]]
    totals = running[ids.offsets[1:]] - row_base
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    good = (totals == np.fromiter(map(len, encoded), np.int64, len(texts))) & ~not_bytes
    ends = running[1:] - np.repeat(row_base, ids.lengths)  # bytes from the row's start
    wide = np.flatnonzero(good & ~np.fromiter((t.isascii() for t in texts), np.bool_, len(texts)))
    wide = wide[ids.lengths[wide] > 0]
    if len(wide):
        # Byte ends -> character ends, for all texts that are not ASCII at once: their bytes laid
        # end to end, the characters begun up to each byte counted over all of them, less those
        # of the texts before.
        data = np.frombuffer(b"".join([encoded[k] for k in wide.tolist()]), dtype=np.uint8)
        chars_through = np.cumsum((data & 0xC0) != 0x80)  # characters begun up to each byte
        byte_base = offsets_of(totals[wide])[:-1]
        char_base = np.zeros(len(wide), dtype=np.int64)
        char_base[1:] = chars_through[byte_base[1:] - 1]
        index, _ = segment_index(ids.offsets[wide], ids.lengths[wide])
        rows = np.repeat(np.arange(len(wide)), ids.lengths[wide])
        ends[index] = chars_through[byte_base[rows] + ends[index] - 1] - char_base[rows]
    return ends, good


class ByteLengths:
    """Per token id, the UTF-8 bytes it stands for, looked up for the ids a batch holds (reading a
    whole 250k vocabulary from the Rust tokenizer would cost more start-up than a small build takes)."""

    UNKNOWN, NOT_BYTES = -1, -2

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.alphabet = frozenset(pre_tokenizers.ByteLevel.alphabet())  # one character per byte
        added = tokenizer.get_added_tokens_decoder()
        size = max([tokenizer.get_vocab_size(with_added_tokens=True) - 1, *added]) + 1
        self.table = np.full(size, self.UNKNOWN, dtype=np.int64)
        for token_id, token in added.items():  # DeepSeek's vocabulary spells its special tokens as text
            self.table[token_id] = len(token.content.encode("utf-8"))

    def __call__(self, ids: TokenArray) -> IntArray:
        """The byte length of each id (`NOT_BYTES` for a token that is not a string of bytes)."""
        if len(ids) and int(ids.max()) >= len(self.table):
            grown = np.full(int(ids.max()) + 1, self.UNKNOWN, dtype=np.int64)
            grown[: len(self.table)] = self.table
            self.table = grown
        lengths = self.table[ids]
        missing = np.unique(ids[lengths == self.UNKNOWN])
        if len(missing):
            for token_id in missing.tolist():
                token = self.tokenizer.id_to_token(token_id)
                ok = token is not None and self.alphabet.issuperset(token)
                self.table[token_id] = len(token) if ok and token is not None else self.NOT_BYTES
            lengths = self.table[ids]
        return lengths


@functools.lru_cache(maxsize=8)
def _byte_lengths(tokenizer: Tokenizer) -> ByteLengths | None:
    """The tokenizer's `ByteLengths`; None when it is not plain byte-level BPE."""
    return ByteLengths(tokenizer) if traits(tokenizer).plain_byte_level else None
