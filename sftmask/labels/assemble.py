"""Row assembly: truncation to `--max-length` and dropping rows with nothing to train, per batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sftmask import reasons
from sftmask.config.common import Truncation
from sftmask.labels.strategies import IGNORE_INDEX, EncodedBatch
from sftmask.ragged import BoolArray, Ragged, TokenArray, row_sums, segment_index


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


def assemble(
    batch: EncodedBatch,
    labels: TokenArray,
    *,
    max_length: int | None,
    truncation: Truncation,
    next_token: bool = False,
) -> AssembledBatch:
    """Apply truncation and drop untrainable rows, over the whole batch at once.

    Each output row is gathered from three segments of its input row: the prompt's kept head
    (leading specials), the prompt's kept tail, and the response's kept start.

    Args:
        batch: tokenized rows.
        labels: flat labels aligned with ``batch.ids.values``.
        max_length: maximum row length, or None for no limit.
        truncation: ``prompt``, ``response`` or ``drop`` (see `BuildConfig.truncation`).
        next_token: the labels are next-token targets (a causal model shifts them: position i is
            predicted from the tokens before it), so a label on a row's first position is never
            scored and a row trained only there has nothing to train (token-classification tags
            are not shifted).
    """
    starts = batch.ids.offsets[:-1]
    p_len = batch.prompt_len
    r_len = batch.ids.lengths - p_len
    n_rows = len(p_len)
    head = p_len.copy()
    tail = np.zeros(n_rows, dtype=np.int64)
    r_keep = r_len.copy()
    rejected: dict[int, str] = {row: reason for row, (reason, _) in batch.invalid.items()}
    too_long = np.zeros(n_rows, dtype=np.bool_)
    if max_length is not None:
        too_long = (p_len + r_len) > max_length
        if truncation == "drop":
            for row in np.flatnonzero(too_long).tolist():
                rejected.setdefault(row, reasons.TOO_LONG)
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

    scored = trained
    if next_token:  # a row's first label predicts nothing (e.g. --max-length 1 keeping one response token)
        nonempty = np.flatnonzero(np.diff(row_offsets) > 0)
        first_trained = np.zeros(n_rows, dtype=np.int64)
        first_trained[nonempty] = out_labels[row_offsets[nonempty]] != IGNORE_INDEX
        scored = trained - first_trained
    accepted = scored > 0
    if batch.invalid:
        accepted[list(batch.invalid)] = False
    for row in np.flatnonzero(~accepted).tolist():
        rejected.setdefault(row, reasons.NO_TRAINABLE)
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
        reject_reasons=rejected,
        truncated=int((too_long & accepted).sum()),
        trained_tokens=int(trained[accepted].sum()),
    )
