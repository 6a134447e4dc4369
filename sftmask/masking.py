"""Masking strategies (a registry of plain functions) and label assembly with truncation.

Labels are unshifted: ``labels[i]`` belongs to ``input_ids[i]``; ``-100`` (PyTorch's
``ignore_index``) marks positions that add nothing to the loss. The model shifts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sftmask.ragged import IntArray, Ragged, TokenArray, segment_index

IGNORE_INDEX = -100

REASON_TOO_LONG = "too-long"
REASON_NO_TRAINABLE = "no-trainable-tokens"


@dataclass(frozen=True)
class SegmentedBatch:
    """A batch of tokenized records, split into the masked-by-default prompt and the response.

    ``prompt`` rows are exactly ``tokenizer(prompt)["input_ids"]`` (special tokens included);
    ``response`` rows are the response as it continues the prompt, EOS included when added.
    ``prompt_head`` counts each prompt's leading special tokens (BOS), which truncation keeps.
    """

    prompt: Ragged
    response: Ragged
    prompt_head: IntArray


LabelBuilder = Callable[[SegmentedBatch], tuple[TokenArray, TokenArray]]


@dataclass(frozen=True)
class Strategy:
    """A masking strategy: how labels are built for the prompt and response tokens."""

    build_labels: LabelBuilder
    description: str


def response_only(batch: SegmentedBatch) -> tuple[TokenArray, TokenArray]:
    """Prompt tokens are -100; response tokens (and EOS) are trained."""
    prompt_labels = np.full(len(batch.prompt.values), IGNORE_INDEX, dtype=np.int32)
    return prompt_labels, batch.response.values


def train_all(batch: SegmentedBatch) -> tuple[TokenArray, TokenArray]:
    """Every token is trained: labels equal input_ids."""
    return batch.prompt.values, batch.response.values


STRATEGIES: dict[str, Strategy] = {
    "response-only": Strategy(response_only, "prompt is -100; response and EOS are trained"),
    "all": Strategy(train_all, "labels equal input_ids (plain language modelling)"),
}


@dataclass(frozen=True)
class AssembledBatch:
    """Rows ready to write: ids and labels of the accepted records of one batch."""

    input_ids: Ragged
    labels: TokenArray
    accepted: npt.NDArray[np.bool_]
    """Per input row of the batch: True when the row was written."""
    reject_reasons: dict[int, str]
    """Input row index -> reason, for rows not written."""
    truncated: int
    trained_tokens: int


def assemble(
    batch: SegmentedBatch,
    prompt_labels: TokenArray,
    response_labels: TokenArray,
    *,
    max_length: int | None,
    truncation: str,
) -> AssembledBatch:
    """Concatenate prompt and response per row, apply truncation, drop untrainable rows.

    All work is array arithmetic over the whole batch: each output row is gathered from three
    segments (the prompt's kept head, the prompt's kept tail, the response's kept start).

    Args:
        batch: tokenized rows.
        prompt_labels: flat labels aligned with ``batch.prompt.values``.
        response_labels: flat labels aligned with ``batch.response.values``.
        max_length: maximum row length, or None for no limit.
        truncation: ``prompt``, ``response`` or ``drop`` (see `BuildConfig.truncation`).
    """
    p_len = batch.prompt.lengths
    r_len = batch.response.lengths
    n_rows = len(p_len)
    head = p_len.copy()
    tail = np.zeros(n_rows, dtype=np.int64)
    r_keep = r_len.copy()
    reasons: dict[int, str] = {}
    too_long = np.zeros(n_rows, dtype=np.bool_)
    if max_length is not None:
        too_long = (p_len + r_len) > max_length
        if truncation == "drop":
            for row in np.flatnonzero(too_long).tolist():
                reasons[row] = REASON_TOO_LONG
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

    n_prompt_values = len(batch.prompt.values)
    starts = np.stack(
        [
            batch.prompt.offsets[:-1],
            batch.prompt.offsets[1:] - tail,
            n_prompt_values + batch.response.offsets[:-1],
        ],
        axis=1,
    ).ravel()
    lengths = np.stack([head, tail, r_keep], axis=1).ravel()
    index, seg_offsets = segment_index(starts, lengths)
    ids = np.concatenate([batch.prompt.values, batch.response.values])[index]
    labels = np.concatenate([prompt_labels, response_labels]).astype(np.int32, copy=False)[index]

    row_offsets = seg_offsets[::3]
    trained_cum = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(labels != IGNORE_INDEX, out=trained_cum[1:])
    trained = trained_cum[row_offsets[1:]] - trained_cum[row_offsets[:-1]]

    accepted = trained > 0
    for row in np.flatnonzero(~accepted).tolist():
        reasons.setdefault(row, REASON_NO_TRAINABLE)
    if not accepted.all():
        # Rejected rows keep their tokens in `ids`; gather only the accepted rows' segments.
        keep_rows = np.flatnonzero(accepted)
        kept = Ragged(ids, row_offsets).take(keep_rows)
        label_index, _ = segment_index(row_offsets[keep_rows], np.diff(row_offsets)[keep_rows])
        ids_ragged, labels = kept, labels[label_index]
    else:
        ids_ragged = Ragged(ids, row_offsets)
    return AssembledBatch(
        input_ids=ids_ragged,
        labels=labels,
        accepted=accepted,
        reject_reasons=reasons,
        truncated=int((too_long & accepted).sum()),
        trained_tokens=int(trained[accepted].sum()),
    )
