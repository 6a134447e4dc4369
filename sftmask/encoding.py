"""Batch encoding of prompt/response columns: prompts as at inference, responses as they continue
them, word starts, and the check for tokens that would merge across the boundary."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from sftmask.normalform import Encoder
from sftmask.ragged import BoolArray, IntArray, Ragged, pairwise_index, row_sums, segment_index
from sftmask.strategies import EncodedBatch, first_true, response_mask_from_lengths
from sftmask.tokenizer import LoadedTokenizer
from sftmask.tokenizer_variants import component_spec

# Characters of context on each side of the prompt/response boundary re-encoded to detect
# tokens that a joint encoding would merge across it.
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


def encode_responses(
    tok: LoadedTokenizer, prompts: Sequence[str], responses: Sequence[str], *, add_eos: bool
) -> Ragged:
    """Encode responses as they continue their prompts, then append EOS when asked."""
    return encode_responses_with_word_starts(tok, prompts, responses, add_eos=add_eos, word_starts=False)[0]


def encode_responses_with_word_starts(
    tok: LoadedTokenizer, prompts: Sequence[str], responses: Sequence[str], *, add_eos: bool, word_starts: bool
) -> tuple[Ragged, BoolArray | None]:
    """`encode_responses`, plus (when `word_starts`) a flat mask of tokens that start a word.

    Words are the tokenizer's own pre-tokenization units (``Encoding.word_ids``), except for
    SentencePiece-style tokenizers that do not split text before the model (Metaspace with
    ``split=false``): there a word starts at a token beginning with the ``▁`` marker. EOS
    counts as a word start.
    """
    starts_of = _word_start_rule(tok) if word_starts else None
    encoded, starts = _encode_rows(tok.continuation_encoder, responses, starts_of)
    after = tok.segment_prefix_texts
    fresh_rows = [i for i, p in enumerate(prompts) if not p or (after and p.endswith(after))]
    if fresh_rows:
        # With no prompt the response starts the text: encode it as the start of a text
        # (dummy prefix and all), without special tokens, which the prompt part holds. So does a
        # response after a special token when the tokenizer prefixes every segment.
        fresh, fresh_starts = _encode_rows(tok.full_encoder, [responses[i] for i in fresh_rows], starts_of)
        encoded, starts = _replace_rows(encoded, starts, np.array(fresh_rows, dtype=np.int64), fresh, fresh_starts)
    if after:
        encoded, starts = _prefix_later_segments(tok, encoded, starts, responses, set(fresh_rows), starts_of)
    if not add_eos:
        return encoded, starts
    assert tok.eos_id is not None
    values = np.insert(encoded.values, encoded.offsets[1:], np.int32(tok.eos_id))
    if starts is not None:
        starts = np.insert(starts, encoded.offsets[1:], True)
    return Ragged(values, encoded.offsets + np.arange(len(encoded.offsets), dtype=np.int64)), starts


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
    marker = _unsplit_metaspace(tok.continuation)
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


def _unsplit_metaspace(tokenizer: Tokenizer) -> str | None:
    """The word marker of a Metaspace pre-tokenizer that does not split (whole text = one word)."""
    spec = component_spec(tokenizer.pre_tokenizer)
    parts = spec.get("pretokenizers", [spec]) if isinstance(spec, dict) else []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "Metaspace" and part.get("split") is False:
            return str(part.get("replacement", "\u2581"))
    return None


def flat_word_ids(encodings: list[Any]) -> IntArray:
    """The batch's ``Encoding.word_ids`` as one flat array, -1 where None (special tokens)."""
    import pyarrow as pa

    words = pa.array([enc.word_ids for enc in encodings], type=pa.list_(pa.int64()))
    flat: IntArray = words.flatten().fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
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
    head_ids, head_starts = _encode_rows(tok.continuation_encoder, heads, starts_of)
    tail_ids, tail_starts = _encode_rows(tok.full_encoder, tails, starts_of)
    order, offsets = pairwise_index(head_ids, tail_ids)
    joined = Ragged(np.concatenate([head_ids.values, tail_ids.values])[order], offsets)
    joined_starts = None
    if head_starts is not None and tail_starts is not None:
        joined_starts = np.concatenate([head_starts, tail_starts])[order]
    return _replace_rows(encoded, starts, np.array(rows, dtype=np.int64), joined, joined_starts)


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

    Only a short window of text on each side is re-encoded: the joint window's tokens are
    compared with the two halves' tokens.
    """
    rows = [i for i, (p, r) in enumerate(zip(prompts, responses, strict=True)) if p and r]
    if not rows:
        return 0
    left = [prompts[i][-BOUNDARY_WINDOW:] for i in rows]
    right = [responses[i][:BOUNDARY_WINDOW] for i in rows]
    joint = [a + b for a, b in zip(left, right, strict=True)]
    encoded = encode_ids(tok.continuation_encoder, joint + left + right, add_special_tokens=False)
    k = len(rows)
    together = encoded.take(np.arange(k))
    apart = concat_rows(encoded.take(np.arange(k, 2 * k)), encoded.take(np.arange(2 * k, 3 * k)))
    same_len = together.lengths == apart.lengths
    keep = np.flatnonzero(same_len)
    a, b = together.take(keep), apart.take(keep)
    differ = row_sums(a.values != b.values, a.offsets) > 0
    return int((~same_len).sum() + differ.sum())


def segment(
    tok: LoadedTokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    *,
    add_eos: bool,
    word_starts: bool = False,
) -> EncodedBatch:
    """Tokenize a batch of prompt/response pairs: prompt exactly as at inference, then the response.

    With `word_starts`, also mark the response tokens that start a word (False on the prompt).
    """
    prompt_ids = encode_prompts(tok, prompts)
    response_ids, starts = encode_responses_with_word_starts(
        tok, prompts, responses, add_eos=add_eos, word_starts=word_starts
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
