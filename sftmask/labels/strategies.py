"""Masking strategies: a registry of plain functions that build labels from an encoded batch.

Labels are unshifted: ``labels[i]`` belongs to ``input_ids[i]``; ``-100`` (PyTorch's
``ignore_index``) marks positions that add nothing to the loss. The model shifts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sftmask.ragged import BoolArray, IntArray, Ragged, TokenArray

IGNORE_INDEX = -100


Signal = Literal["lm_targets", "response_mask", "assistant_mask", "last_turn_mask", "word_start", "tag_labels"]
"""What a data kind's encoder provides besides the token rows, and what a strategy may need.

- ``lm_targets``: the rows are text whose token ids are language-modelling targets (labels may
  be the ids themselves); word-labelled data's targets are tag ids instead.
- the others name the `EncodedBatch` field the encoder fills.
"""


@dataclass(frozen=True)
class EncodedBatch:
    """A batch of tokenized records: full rows plus the signals strategies label them with.

    Row ``i`` is ``ids.row(i)``: its first ``prompt_len[i]`` tokens are the prompt (everything
    before the first trained token: prompt truncation shortens it), the rest the response.
    ``prompt_head[i]`` counts the prompt's leading special tokens (BOS), which prompt truncation
    keeps. ``invalid`` holds rows that could not be encoded (row -> (reason, message)); their
    rows are empty.

    The per-token signals are flat, aligned with ``ids.values``, and set only by the kinds that
    provide them (`DataKind.provides`):
    ``response_mask`` is True on a prompt/response record's response tokens (EOS included);
    ``assistant_mask`` on every assistant turn of a conversation, ``last_turn_mask`` on its final
    assistant turn; ``word_start`` on tokens that start a word; ``tag_labels`` holds ready labels
    of word-labelled data (a tag id on labelled tokens, -100 elsewhere).
    """

    ids: Ragged
    prompt_len: IntArray
    prompt_head: IntArray
    invalid: dict[int, tuple[str, str]] = field(default_factory=dict)
    response_mask: BoolArray | None = None
    assistant_mask: BoolArray | None = None
    last_turn_mask: BoolArray | None = None
    word_start: BoolArray | None = None
    tag_labels: TokenArray | None = None

    def signal(self, name: Signal) -> BoolArray:
        """A mask signal; ValueError when the encoder did not set it (a kind/strategy mismatch)."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"EncodedBatch.{name} is not set: the data kind does not provide it")
        mask: BoolArray = value
        return mask


LabelBuilder = Callable[[EncodedBatch], TokenArray]


@dataclass(frozen=True)
class Strategy:
    """A masking strategy: a label builder, what it does, and the signals it needs.

    It applies to every data kind whose `provides` holds all of `needs`.
    """

    build_labels: LabelBuilder
    description: str
    needs: frozenset[Signal]


def response_only(batch: EncodedBatch) -> TokenArray:
    """Prompt tokens are -100; response tokens (and EOS) are trained."""
    return _trained_where(batch, batch.signal("response_mask"))


def assistant_only(batch: EncodedBatch) -> TokenArray:
    """Assistant turns (with their end-of-turn tokens) are trained; other turns are -100."""
    return _trained_where(batch, batch.signal("assistant_mask"))


def train_all(batch: EncodedBatch) -> TokenArray:
    """Every token is trained: labels equal input_ids."""
    return batch.ids.values.copy()


def last_turn(batch: EncodedBatch) -> TokenArray:
    """Only the final assistant turn (with its end-of-turn token) is trained."""
    return _trained_where(batch, batch.signal("last_turn_mask"))


def first_subtoken(batch: EncodedBatch) -> TokenArray:
    """Only the first sub-token of each word is trained.

    Word-labelled data (``tag_labels`` set): the word's tag id on its first sub-token, -100 on
    continuations and special tokens. Prompt/response data: prompt -100; response tokens that
    start a word (``word_start``) and EOS keep their ids, continuation sub-tokens are -100.
    """
    if batch.tag_labels is not None:
        return batch.tag_labels
    return _trained_where(batch, batch.signal("response_mask") & batch.signal("word_start"))


def _trained_where(batch: EncodedBatch, mask: BoolArray) -> TokenArray:
    return np.where(mask, batch.ids.values, IGNORE_INDEX).astype(np.int32)


STRATEGIES: dict[str, Strategy] = {
    "response-only": Strategy(
        response_only, "prompt is -100; response and EOS are trained", needs=frozenset({"response_mask"})
    ),
    "all": Strategy(train_all, "labels equal input_ids (plain language modelling)", needs=frozenset({"lm_targets"})),
    "assistant-only": Strategy(
        assistant_only,
        "every assistant turn and its end-of-turn token are trained; system, user and tool turns are -100",
        needs=frozenset({"assistant_mask"}),
    ),
    "last-turn": Strategy(
        last_turn,
        "only the final assistant turn and its end-of-turn token are trained",
        needs=frozenset({"last_turn_mask"}),
    ),
    "first-subtoken": Strategy(
        first_subtoken,
        "only the first sub-token of each word is labelled: word tags for word-labelled data; "
        "for prompt/response data the response's word-initial tokens and EOS",
        needs=frozenset({"word_start"}),
    ),
}
"""Strategies by their public name (`--strategy`)."""


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
