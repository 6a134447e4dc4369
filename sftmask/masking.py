"""Masking strategies (a registry of plain functions) and row assembly with truncation.

Labels are unshifted: ``labels[i]`` belongs to ``input_ids[i]``; ``-100`` (PyTorch's
``ignore_index``) marks positions that add nothing to the loss. The model shifts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sftmask.ragged import IntArray, Ragged, TokenArray, row_sums, segment_index

IGNORE_INDEX = -100

REASON_TOO_LONG = "too-long"
REASON_NO_TRAINABLE = "no-trainable-tokens"

BoolArray = npt.NDArray[np.bool_]


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


@dataclass(frozen=True)
class AssembledBatch:
    """Rows ready to write: ids and labels of the accepted records of one batch."""

    input_ids: Ragged
    labels: TokenArray
    accepted: BoolArray
    """Per input row of the batch: True when the row was written."""
    reject_reasons: dict[int, str]
    """Input row index -> reason, for rows not written."""
    truncated: int
    trained_tokens: int


def assemble(batch: EncodedBatch, labels: TokenArray, *, max_length: int | None, truncation: str) -> AssembledBatch:
    """Apply truncation and drop untrainable rows, over the whole batch at once.

    Each output row is gathered from three segments of its input row: the prompt's kept head
    (leading specials), the prompt's kept tail, and the response's kept start.

    Args:
        batch: tokenized rows.
        labels: flat labels aligned with ``batch.ids.values``.
        max_length: maximum row length, or None for no limit.
        truncation: ``prompt``, ``response`` or ``drop`` (see `BuildConfig.truncation`).
    """
    starts = batch.ids.offsets[:-1]
    p_len = batch.prompt_len
    r_len = batch.ids.lengths - p_len
    n_rows = len(p_len)
    head = p_len.copy()
    tail = np.zeros(n_rows, dtype=np.int64)
    r_keep = r_len.copy()
    reasons: dict[int, str] = {row: reason for row, (reason, _) in batch.invalid.items()}
    too_long = np.zeros(n_rows, dtype=np.bool_)
    if max_length is not None:
        too_long = (p_len + r_len) > max_length
        if truncation == "drop":
            for row in np.flatnonzero(too_long).tolist():
                reasons.setdefault(row, REASON_TOO_LONG)
            head[too_long] = 0
            r_keep[too_long] = 0
        elif truncation == "response":
            head = np.minimum(p_len, max_length)
            r_keep = np.clip(max_length - p_len, 0, r_len)
        else:  # "prompt": keep leading specials, drop prompt from the left, then cut response end
            keep_head = np.minimum(batch.prompt_head, max_length)
            r_cut = np.clip(max_length - keep_head, 0, r_len)
            tail_cut = np.clip(max_length - keep_head - r_cut, 0, p_len - batch.prompt_head)
            head = np.where(too_long, keep_head, head)
            r_keep = np.where(too_long, r_cut, r_keep)
            tail = np.where(too_long, tail_cut, tail)

    seg_starts = np.stack([starts, starts + p_len - tail, starts + p_len], axis=1).ravel()
    lengths = np.stack([head, tail, r_keep], axis=1).ravel()
    index, seg_offsets = segment_index(seg_starts, lengths)
    row_offsets = seg_offsets[::3]
    out_labels = labels[index]
    trained = row_sums(out_labels != IGNORE_INDEX, row_offsets)

    accepted = trained > 0
    if batch.invalid:
        accepted[list(batch.invalid)] = False
    for row in np.flatnonzero(~accepted).tolist():
        reasons.setdefault(row, REASON_NO_TRAINABLE)
    if not accepted.all():
        # Gather again, with the rejected rows' segments emptied.
        lengths = np.where(np.repeat(accepted, 3), lengths, 0)
        index, seg_offsets = segment_index(seg_starts, lengths)
        row_offsets = np.append(seg_offsets[:-1:3][accepted], seg_offsets[-1])
        out_labels = labels[index]
    return AssembledBatch(
        input_ids=Ragged(batch.ids.values[index], row_offsets),
        labels=out_labels,
        accepted=accepted,
        reject_reasons=reasons,
        truncated=int((too_long & accepted).sum()),
        trained_tokens=int(trained[accepted].sum()),
    )
