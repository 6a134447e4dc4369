"""Masking strategies: a registry of plain functions that build labels from an encoded batch.

Labels are unshifted: ``labels[i]`` belongs to ``input_ids[i]``; ``-100`` (PyTorch's
``ignore_index``) marks positions that add nothing to the loss. The model shifts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sftmask.ragged import BoolArray, IntArray, Ragged, TokenArray

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedBatch:
    """A batch of tokenized records: full rows plus what strategies need to label them.

    Row ``i`` is ``ids.row(i)``: its first ``prompt_len[i]`` tokens are the prompt (exactly
    ``tokenizer(prompt)["input_ids"]``), the rest the response as it continues the prompt, EOS
    included when added. ``prompt_head[i]`` counts the prompt's leading special tokens (BOS),
    which prompt truncation keeps. ``response_mask`` is True on response tokens (for chat data:
    on assistant turns); strategies decide what of that is trained. ``invalid`` holds rows that
    could not be encoded (row -> (reason, message)); their rows are empty. For chat data,
    ``last_turn_mask`` is True on the final assistant turn's tokens.

    Optional, set only by encoders of strategies that need them: ``word_start`` is True on
    tokens that start a word (flat, aligned with ``ids.values``); ``tag_labels`` holds ready
    labels of word-labelled data (a tag id on labelled tokens, -100 elsewhere).
    """

    ids: Ragged
    prompt_len: IntArray
    prompt_head: IntArray
    response_mask: BoolArray
    invalid: dict[int, tuple[str, str]] = field(default_factory=dict)
    last_turn_mask: BoolArray | None = None
    word_start: BoolArray | None = None
    tag_labels: TokenArray | None = None


LabelBuilder = Callable[[EncodedBatch], TokenArray]


@dataclass(frozen=True)
class Strategy:
    """A masking strategy: a label builder, what it does, and the data kinds it applies to."""

    build_labels: LabelBuilder
    description: str
    data_kinds: tuple[str, ...] = ("prompt-response",)
    needs_word_starts: bool = False
    """Encoders must fill `EncodedBatch.word_start` (costs offsets in the tokenizer call)."""


def response_only(batch: EncodedBatch) -> TokenArray:
    """Prompt tokens are -100; response tokens (and EOS) are trained."""
    return np.where(batch.response_mask, batch.ids.values, IGNORE_INDEX).astype(np.int32)


def train_all(batch: EncodedBatch) -> TokenArray:
    """Every token is trained: labels equal input_ids."""
    return batch.ids.values.copy()


def last_turn(batch: EncodedBatch) -> TokenArray:
    """Only the final assistant turn (with its end-of-turn token) is trained."""
    if batch.last_turn_mask is None:
        raise ValueError("last-turn needs chat data (EncodedBatch.last_turn_mask)")
    return np.where(batch.last_turn_mask, batch.ids.values, IGNORE_INDEX).astype(np.int32)


def first_subtoken(batch: EncodedBatch) -> TokenArray:
    """Only the first sub-token of each word is trained.

    Word-labelled data (``tag_labels`` set): the word's tag id on its first sub-token, -100 on
    continuations and special tokens. Prompt/response data: prompt -100; response tokens that
    start a word (``word_start``) and EOS keep their ids, continuation sub-tokens are -100.
    """
    if batch.tag_labels is not None:
        return batch.tag_labels
    if batch.word_start is None:
        raise ValueError("first-subtoken needs EncodedBatch.word_start; the encoder did not set it")
    trained = batch.response_mask & batch.word_start
    return np.where(trained, batch.ids.values, IGNORE_INDEX).astype(np.int32)


STRATEGIES: dict[str, Strategy] = {
    "response-only": Strategy(
        response_only, "prompt is -100; response and EOS are trained", data_kinds=("prompt-response", "text")
    ),
    "all": Strategy(
        train_all,
        "labels equal input_ids (plain language modelling)",
        data_kinds=("prompt-response", "chat", "text"),
    ),
    "assistant-only": Strategy(
        response_only,
        "every assistant turn and its end-of-turn token are trained; system, user and tool turns are -100",
        data_kinds=("chat",),
    ),
    "last-turn": Strategy(
        last_turn, "only the final assistant turn and its end-of-turn token are trained", data_kinds=("chat",)
    ),
    "first-subtoken": Strategy(
        first_subtoken,
        "only the first sub-token of each word is labelled: word tags for word-labelled data; "
        "for prompt/response data the response's word-initial tokens and EOS",
        data_kinds=("prompt-response", "words", "text"),
        needs_word_starts=True,
    ),
}


def first_true(ids: Ragged, mask: BoolArray) -> IntArray:
    """Per row, the position of its first True token (the row length when there is none)."""
    hits = np.flatnonzero(mask)
    starts, ends = ids.offsets[:-1], ids.offsets[1:]
    pos = np.searchsorted(hits, starts)
    first = np.append(hits, len(mask))[pos]
    found: IntArray = np.minimum(first, ends) - starts
    return found


def response_mask_from_lengths(ids: Ragged, prompt_len: IntArray) -> BoolArray:
    """True on each row's tokens from `prompt_len` on."""
    position = np.arange(len(ids.values), dtype=np.int64) - np.repeat(ids.offsets[:-1], ids.lengths)
    mask: BoolArray = position >= np.repeat(prompt_len, ids.lengths)
    return mask
