"""Batch encoding of prompt/response columns: prompts as at inference, responses as they continue
them, word starts, and the check for tokens that would merge across the boundary."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from sftmask.labels.strategies import EncodedBatch, first_true, response_mask_from_lengths
from sftmask.ragged import BoolArray, IntArray, Ragged, pairwise_index, row_sums, segment_index
from sftmask.tokenization.bounded import encode_bounded, gap_cut
from sftmask.tokenization.load import LoadedTokenizer
from sftmask.tokenization.normalform import Encoder
from sftmask.tokenization.seams import SeamRule
from sftmask.tokenization.traits import traits

# Characters of context on each side of the prompt/response boundary re-encoded to detect
# tokens that a joint encoding would merge across it (plus the longest added token's length).
BOUNDARY_WINDOW = 16


def encode_ids(encoder: Encoder, texts: Sequence[str], *, add_special_tokens: bool) -> Ragged:
    """Batch-encode with the Rust tokenizer (all cores, no offsets) into a Ragged."""
    if not texts:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
    encodings = encoder.encode_batch(texts, add_special_tokens=add_special_tokens)
    return Ragged.from_lists([enc.ids for enc in encodings])


def encode_prompts(tok: LoadedTokenizer, prompts: Sequence[str]) -> Ragged:
    """Encode prompts exactly as ``tokenizer(prompt)`` does, encoding repeated prompts once."""
    index: dict[str, int] = {}
    rows = np.fromiter((index.setdefault(p, len(index)) for p in prompts), np.int64, len(prompts))
    unique = encode_ids(tok.full_encoder, list(index), add_special_tokens=True)
    return unique if len(index) == len(prompts) else unique.take(rows)


def encode_responses_with_word_starts(
    tok: LoadedTokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    *,
    add_eos: bool,
    word_starts: bool,
    max_tokens: int | None = None,
) -> tuple[Ragged, BoolArray | None]:
    """Encode responses as they continue their prompts (then EOS when asked) and, when
    `word_starts`, a flat mask of the tokens that start a word.

    Words are the tokenizer's own pre-tokenization units (``Encoding.word_ids``), except for
    SentencePiece-style tokenizers that do not split text before the model (Metaspace with
    ``split=false``), where a word starts at a token beginning with the ``▁`` marker, and for
    byte-level BPE, where words are what whitespace delimits (`_whitespace_word_rule`). EOS
    counts as a word start.

    With `max_tokens`, a response may be encoded only as far as its first `max_tokens` tokens
    (`text_cuts.encode_bounded`): a row then holds at least that many, exactly the first tokens
    of the whole response's encoding, or the whole response.
    """
    starts_of = _word_start_rule(tok) if word_starts else None
    if max_tokens is None:
        encoded, starts = _encode_responses(tok, prompts, responses, starts_of)
    else:

        def encode(rows: IntArray, texts: list[str]) -> tuple[Ragged, BoolArray | None]:
            return _encode_responses(tok, [prompts[i] for i in rows.tolist()], texts, starts_of)

        encoded, starts = encode_bounded(
            responses,
            np.full(len(responses), max_tokens, dtype=np.int64),
            functools.partial(response_cut, tok),
            encode,
            lambda result, which: result[0].lengths[which],
            lambda result, rows, new: _replace_rows(result[0], result[1], rows, new[0], new[1]),
        )
    if not add_eos:
        return encoded, starts
    assert tok.eos_id is not None
    values = np.insert(encoded.values, encoded.offsets[1:], np.int32(tok.eos_id))
    if starts is not None:
        starts = np.insert(starts, encoded.offsets[1:], True)
    return Ragged(values, encoded.offsets + np.arange(len(encoded.offsets), dtype=np.int64)), starts


def response_cut(tok: LoadedTokenizer) -> int | None:
    """`text_cuts.gap_cut` for responses, which both of `tok`'s tokenizers may encode."""
    cut = gap_cut(tok.continuation)
    return cut if cut is not None and gap_cut(tok.full) == cut else None


def _encode_responses(
    tok: LoadedTokenizer, prompts: Sequence[str], responses: Sequence[str], starts_of: WordStartRule | None
) -> tuple[Ragged, BoolArray | None]:
    encoded, starts = _encode_continuing(tok, prompts, responses, starts_of)
    after = tok.segment_prefix_texts
    fresh_rows = [i for i, p in enumerate(prompts) if not p or (after and p.endswith(after))]
    if fresh_rows:
        # With no prompt the response starts the text: encode it as the start of a text
        # (dummy prefix and all), without special tokens, which the prompt part holds. So does a
        # response after a special token when the tokenizer prefixes every segment.
        fresh, fresh_starts = _encode_rows(tok.full_encoder, [responses[i] for i in fresh_rows], starts_of)
        encoded, starts = _replace_rows(encoded, starts, np.array(fresh_rows, dtype=np.int64), fresh, fresh_starts)
    if after:
        encoded, starts = _prefix_later_segments(tok, prompts, encoded, starts, responses, set(fresh_rows), starts_of)
    return encoded, starts


WordStartRule = Callable[[Ragged, list[Any]], BoolArray]
"""Turns a batch's ids and its `Encoding`s into a flat word-start mask."""


def _encode_rows(
    encoder: Encoder, texts: Sequence[str], starts_of: WordStartRule | None
) -> tuple[Ragged, BoolArray | None]:
    if starts_of is None:
        return encode_ids(encoder, texts, add_special_tokens=False), None
    if not texts:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64)), np.zeros(0, dtype=np.bool_)
    encodings = encoder.encode_batch(texts, add_special_tokens=False, offsets=True)
    ids = Ragged.from_lists([enc.ids for enc in encodings])
    return ids, starts_of(ids, encodings)


def _word_start_rule(tok: LoadedTokenizer) -> WordStartRule:
    kind = traits(tok.continuation)
    if kind.byte_level_pre_tokenizer:
        return _whitespace_word_rule(tok.continuation)
    marker = kind.unsplit_metaspace
    if marker is None:
        return lambda ids, encodings: first_of_word(ids, flat_word_ids(encodings))
    vocab = tok.continuation.get_vocab(with_added_tokens=True)
    starts_word = np.zeros(max(vocab.values(), default=0) + 1, dtype=np.bool_)
    for token, token_id in vocab.items():
        starts_word[token_id] = token.startswith(marker)

    def rule(ids: Ragged, encodings: list[Any]) -> BoolArray:
        mask: BoolArray = starts_word[ids.values]
        mask[ids.offsets[:-1][ids.lengths > 0]] = True
        return mask

    return rule


def _whitespace_word_rule(tokenizer: Tokenizer) -> WordStartRule:
    """Byte-level BPE: a word is what whitespace delimits, as for pre-split words (the regex
    pieces of `word_ids` would make "U.S." three words). A token starts a word when it holds text
    other than whitespace and either starts with whitespace or follows whitespace, an added token
    or the row's start; an added token (``<think>``) is a word of its own."""
    leads, after_break, blank, added = _whitespace_tables(tokenizer)

    def rule(ids: Ragged, encodings: list[Any]) -> BoolArray:
        values = ids.values
        follows = np.zeros(len(values), dtype=np.bool_)
        follows[1:] = after_break[values[:-1]]
        follows[ids.offsets[:-1][ids.lengths > 0]] = True
        mask: BoolArray = added[values] | (~blank[values] & (leads[values] | follows))
        return mask

    return rule


@functools.lru_cache(maxsize=8)
def _whitespace_tables(tokenizer: Tokenizer) -> tuple[BoolArray, BoolArray, BoolArray, BoolArray]:
    """Per token id: starts with whitespace; ends with whitespace or is added; is only
    whitespace; is an added token. Built once per tokenizer (a pass over the vocabulary)."""
    to_byte = byte_level_decoder()
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    size = max(vocab.values(), default=0) + 1
    leads, ends, blank = (np.zeros(size, dtype=np.bool_) for _ in range(3))
    added = np.zeros(size, dtype=np.bool_)
    added[list(tokenizer.get_added_tokens_decoder())] = True
    for token, token_id in vocab.items():
        if not added[token_id] and all(char in to_byte for char in token):
            text = bytes(to_byte[char] for char in token).decode("utf-8", errors="replace")
            leads[token_id], ends[token_id] = text[:1].isspace(), text[-1:].isspace()
            blank[token_id] = not text.strip()
    return leads, ends | added, blank, added


def byte_level_decoder() -> dict[str, int]:
    """Byte-level BPE's character -> byte table (GPT-2's ``bytes_to_unicode``, inverted): printable
    Latin-1 bytes stand for themselves, the other bytes, in order, for U+0100 onwards. Written here
    so that a build need not import transformers for it (tests compare it with transformers')."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


def flat_word_ids(encodings: list[Any]) -> IntArray:
    """The batch's ``Encoding.word_ids`` as one flat array, -1 where None (special tokens)."""
    # As floats, None becomes NaN in numpy's C loop (word ids are far below 2**53).
    words = np.array(list(chain.from_iterable(enc.word_ids for enc in encodings)), dtype=np.float64)
    flat: IntArray = np.nan_to_num(words, nan=-1).astype(np.int64)
    return flat


def first_of_word(ids: Ragged, word_ids: IntArray) -> BoolArray:
    """True on tokens whose word id differs from the previous token's (the recipe's rule)."""
    previous = np.empty_like(word_ids)
    if len(word_ids):
        previous[1:] = word_ids[:-1]
        previous[ids.offsets[:-1][ids.lengths > 0]] = -1
    first: BoolArray = (word_ids >= 0) & (word_ids != previous)
    return first


def _prefix_later_segments(
    tok: LoadedTokenizer,
    prompts: Sequence[str],
    encoded: Ragged,
    starts: BoolArray | None,
    responses: Sequence[str],
    done: set[int],
    starts_of: WordStartRule | None,
) -> tuple[Ragged, BoolArray | None]:
    """For tokenizers that prefix every segment: a response holding a special token has its
    later segments prefixed, as in a joint encoding; only its first segment continues the prompt."""
    pattern = re.compile("|".join(map(re.escape, sorted(tok.segment_prefix_texts, key=len, reverse=True))))
    rows, heads, tails = [], [], []
    for i, response in enumerate(responses):
        match = pattern.search(response) if i not in done else None
        if match is not None:
            rows.append(i)
            heads.append(response[: match.start()])
            tails.append(response[match.start() :])
    if not rows:
        return encoded, starts
    head_ids, head_starts = _encode_continuing(tok, [prompts[i] for i in rows], heads, starts_of)
    tail_ids, tail_starts = _encode_rows(tok.full_encoder, tails, starts_of)
    joined, joined_starts = _join_rows(head_ids, head_starts, tail_ids, tail_starts)
    return _replace_rows(encoded, starts, np.array(rows, dtype=np.int64), joined, joined_starts)


def _encode_continuing(
    tok: LoadedTokenizer, prompts: Sequence[str], texts: Sequence[str], starts_of: WordStartRule | None
) -> tuple[Ragged, BoolArray | None]:
    """Encode texts as they continue their prompts (no dummy prefix at their start).

    A tokenizer that prefixes every word (`LoadedTokenizer.prefixes_every_word`) keeps the prefix on
    every word but a first word that continues the prompt's last word (no whitespace between): only
    that word is encoded by the continuation tokenizer, as a joint encoding would have it.
    """
    if not tok.prefixes_every_word:
        return _encode_rows(tok.continuation_encoder, texts, starts_of)
    encoded, starts = _encode_rows(tok.full_encoder, texts, starts_of)
    rows = [
        i
        for i, (prompt, text) in enumerate(zip(prompts, texts, strict=True))
        if prompt and text and not _splits(prompt[-1]) and not _splits(text[0])
    ]
    if not rows:
        return encoded, starts
    cuts = [next((k for k, ch in enumerate(texts[i]) if _splits(ch)), len(texts[i])) for i in rows]
    head_ids, head_starts = _encode_rows(
        tok.continuation_encoder, [texts[i][:cut] for i, cut in zip(rows, cuts, strict=True)], starts_of
    )
    tail_ids, tail_starts = _encode_rows(
        tok.full_encoder, [texts[i][cut:] for i, cut in zip(rows, cuts, strict=True)], starts_of
    )
    joined, joined_starts = _join_rows(head_ids, head_starts, tail_ids, tail_starts)
    return _replace_rows(encoded, starts, np.array(rows, dtype=np.int64), joined, joined_starts)


_NOT_WHITE_SPACE = frozenset("\x1c\x1d\x1e\x1f")
"""Characters Python's `str.isspace` counts as whitespace but Unicode's White_Space property (what
the tokenizers' whitespace splitting uses) does not; a normalizer may delete them (XLM-R does), so
the words on either side join in running text."""


def _splits(ch: str) -> bool:
    """Whether a whitespace pre-tokenizer splits words at `ch` (Unicode White_Space)."""
    return ch.isspace() and ch not in _NOT_WHITE_SPACE


def _join_rows(
    head: Ragged, head_starts: BoolArray | None, tail: Ragged, tail_starts: BoolArray | None
) -> tuple[Ragged, BoolArray | None]:
    """Row-wise `concat_rows`, carrying an optional per-token mask along."""
    order, offsets = pairwise_index(head, tail)
    joined = Ragged(np.concatenate([head.values, tail.values])[order], offsets)
    if head_starts is None or tail_starts is None:
        return joined, None
    return joined, np.concatenate([head_starts, tail_starts])[order]


def _replace_rows(
    base: Ragged, base_starts: BoolArray | None, rows: IntArray, new: Ragged, new_starts: BoolArray | None
) -> tuple[Ragged, BoolArray | None]:
    """`replace_rows`, carrying an optional per-token mask along."""
    seg_starts = base.offsets[:-1].copy()
    lengths = base.lengths.copy()
    seg_starts[rows] = len(base.values) + new.offsets[:-1]
    lengths[rows] = new.lengths
    index, offsets = segment_index(seg_starts, lengths)
    replaced = Ragged(np.concatenate([base.values, new.values])[index], offsets)
    if base_starts is None or new_starts is None:
        return replaced, None
    return replaced, np.concatenate([base_starts, new_starts])[index]


def count_leading_specials(rows: Ragged, special_ids: IntArray) -> IntArray:
    """Per row, how many tokens at its start are special tokens (BOS and the like)."""
    return first_true(rows, ~np.isin(rows.values, special_ids))


def count_boundary_merges(tok: LoadedTokenizer, prompts: Sequence[str], responses: Sequence[str]) -> int:
    """Count records whose joint encoding would merge tokens across the prompt/response boundary.

    Only a window of text on each side is re-encoded: the joint window's tokens are compared with
    the two halves' tokens, the right half encoded as responses are. The window holds
    `BOUNDARY_WINDOW` characters more than the longest added token, so a special token next to
    the boundary (``<|start_header_id|>``) is never cut into plain text. Each distinct pair of
    windows is encoded once, and each distinct left window once (prompts from a template end alike).
    A pair whose two characters at the boundary prove that the tokenizer encodes it apart
    (`seam_rule`) is not encoded at all: it cannot merge, so the count is the same.
    """
    rows = [i for i, (p, r) in enumerate(zip(prompts, responses, strict=True)) if p and r]
    if not rows:
        return 0
    width = boundary_window(tok)
    pairs = Counter((prompts[i][-width:], responses[i][:width]) for i in rows)  # pair -> records
    rule = seam_rule(tok)
    if rule is not None:  # pairs the tokenizer provably encodes apart need no encoding
        pairs = Counter({pair: n for pair, n in pairs.items() if not rule.cuts(*pair)})
        if not pairs:
            return 0
    left = [a for a, _ in pairs]
    right = [b for _, b in pairs]
    lefts = list(dict.fromkeys(left))
    # A tokenizer that prefixes every word keeps the prefix on all but a continued first word, so
    # the texts around the boundary are encoded as the full tokenizer does.
    encoder = tok.full_encoder if tok.prefixes_every_word else tok.continuation_encoder
    k = len(pairs)
    encoded = encode_ids(encoder, [a + b for a, b in pairs] + lefts, add_special_tokens=False)
    together = encoded.take(np.arange(k))
    at = {text: k + n for n, text in enumerate(lefts)}
    right_ids = encode_responses_with_word_starts(tok, left, right, add_eos=False, word_starts=False)[0]
    apart = concat_rows(encoded.take(np.array([at[a] for a in left], dtype=np.int64)), right_ids)
    same_len = together.lengths == apart.lengths
    keep = np.flatnonzero(same_len)
    a, b = together.take(keep), apart.take(keep)
    merged = ~same_len
    merged[keep] = row_sums(a.values != b.values, a.offsets) > 0
    return int(np.fromiter(pairs.values(), np.int64, k)[merged].sum())


def seam_rule(tok: LoadedTokenizer) -> SeamRule | None:
    """The seams `count_boundary_merges` may skip: those where ``a + b`` is provably encoded as
    ``a`` then ``b`` by the tokenizer the windows are encoded with, when a response's window is
    encoded by that tokenizer alone (no prefix on every word or every segment)."""
    if tok.prefixes_every_word or tok.segment_prefix_texts:
        return None
    return SeamRule.for_tokenizer(tok.continuation)


def boundary_window(tok: LoadedTokenizer) -> int:
    """Characters of context on each side of the boundary that `count_boundary_merges` re-encodes."""
    return BOUNDARY_WINDOW + tok.longest_added_text


def segment(
    tok: LoadedTokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    *,
    add_eos: bool,
    word_starts: bool = False,
    max_length: int | None = None,
) -> EncodedBatch:
    """Tokenize a batch of prompt/response pairs: prompt exactly as at inference, then the response.

    With `word_starts`, also mark the response tokens that start a word (False on the prompt).
    With `max_length`, a long response is encoded only as far as a row of that length can keep
    (its first ``max_length + 1`` tokens, so the row still counts as too long): truncation then
    gives the same rows as after encoding it whole.
    """
    prompt_ids = encode_prompts(tok, prompts)
    response_ids, starts = encode_responses_with_word_starts(
        tok,
        prompts,
        responses,
        add_eos=add_eos,
        word_starts=word_starts,
        max_tokens=None if max_length is None else max_length + 1,
    )
    ids = concat_rows(prompt_ids, response_ids)
    prompt_len = prompt_ids.lengths
    response_mask = response_mask_from_lengths(ids, prompt_len)
    word_start = None
    if starts is not None:
        word_start = np.zeros(len(ids.values), dtype=np.bool_)
        word_start[response_mask] = starts
    return EncodedBatch(
        ids=ids,
        prompt_len=prompt_len,
        prompt_head=count_leading_specials(prompt_ids, tok.special_ids),
        response_mask=response_mask,
        word_start=word_start,
    )


def concat_rows(first: Ragged, second: Ragged) -> Ragged:
    """Row-wise concatenation of two Ragged batches with the same number of rows."""
    index, offsets = pairwise_index(first, second)
    return Ragged(np.concatenate([first.values, second.values])[index], offsets)
