"""Conversations -> tokens: render each with its `ChatRenderer`, encode the renderings of a batch
at once (only what --max-length truncation can keep), and turn the assistant's character spans
into token masks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sftmask import reasons
from sftmask.chat.render import ChatRenderer
from sftmask.config.common import CommonOptions
from sftmask.config.options import TrainOnEos
from sftmask.errors import RecordRejected
from sftmask.labels.strategies import EncodedBatch, first_true
from sftmask.ragged import BoolArray, IntArray, Ragged, row_sums, segment_index
from sftmask.tokenization.bounded import encode_bounded, gap_cut
from sftmask.tokenization.load import LoadedTokenizer
from sftmask.tokenization.normalform import Encoder
from sftmask.tokenization.segments import encode_with_ends


@dataclass(frozen=True)
class ChatEncoding:
    """A batch of conversations as token rows with assistant and last-turn masks."""

    ids: Ragged
    assistant: BoolArray
    last_turn: BoolArray
    invalid: dict[int, tuple[str, str]]


def encode_conversations(
    encoder: Encoder,
    renderer: ChatRenderer,
    conversations: Sequence[list[dict[str, Any]] | None],
    tools: Sequence[Any],
    *,
    invalid: dict[int, tuple[str, str]],
    need_final_assistant: bool,
    max_length: int | None = None,
    train: Sequence[Sequence[bool] | None] | None = None,
    train_on_eos: TrainOnEos = "turn",
) -> ChatEncoding:
    """Render, tokenize and mask a batch of parsed conversations (None: already invalid).

    `train` holds per conversation which messages are trained (`ChatRenderer.analyse`; None:
    every assistant turn). With `max_length`, a long conversation is encoded only up to its first
    trained token and ``max_length + 1`` tokens more (`text_cuts.encode_bounded`): what
    truncation can keep.
    """
    texts: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    last_spans: list[list[tuple[int, int]]] = []
    for row, messages in enumerate(conversations):
        rendered = None
        if messages is not None:
            try:
                if need_final_assistant and messages[-1]["role"] != "assistant":
                    raise RecordRejected(
                        reasons.NO_FINAL_ASSISTANT,
                        f"conversation ends with a {messages[-1]['role']} turn; --strategy last-turn trains "
                        "the final assistant turn, so the last message must be an assistant's",
                    )
                rendered = renderer.analyse(
                    messages,
                    tools[row],
                    final_turn=need_final_assistant,
                    train=None if train is None else train[row],
                    train_on_eos=train_on_eos,
                )
            except RecordRejected as exc:
                invalid[row] = (exc.reason, exc.message)
        texts.append(rendered.text if rendered else "")
        spans.append(rendered.spans if rendered else [])
        last_spans.append(rendered.last if rendered else [])
    ids, token_ends = _encode_rendered(encoder, texts, last_spans if need_final_assistant else spans, max_length)
    assistant = spans_to_mask(ids, texts, token_ends, spans)
    last = spans_to_mask(ids, texts, token_ends, last_spans)
    return ChatEncoding(ids, assistant, last, invalid)


Tokens = tuple[IntArray, Ragged, IntArray]
"""Encoded texts of some rows of a batch: the rows, their tokens, each token's end (characters)."""


def _encode_rendered(
    encoder: Encoder, texts: list[str], trained: Sequence[Sequence[tuple[int, int]]], max_length: int | None
) -> tuple[Ragged, IntArray]:
    """Tokens of rendered texts and where each ends (`sftmask.tokenization.token_ends`), each text cut where what
    truncation keeps ends: ``max_length + 1`` tokens past the first trained character (the prompt
    is kept whole)."""
    if max_length is None or not texts:
        return encode_with_ends(encoder, texts)
    floor = np.array([min((start for start, _ in row), default=0) for row in trained], dtype=np.int64)

    def encode(rows: IntArray, heads: list[str]) -> Tokens:
        return (rows, *encode_with_ends(encoder, heads))

    def counted(tokens: Tokens, which: IntArray) -> IntArray:
        # Tokens ending past their row's floor (the floor of the batch row each encoded row is).
        rows, ids, ends = tokens
        return row_sums(ends > np.repeat(floor[rows], ids.lengths), ids.offsets)[which]

    def replace(tokens: Tokens, which: IntArray, new: Tokens) -> Tokens:
        rows, ids, ends = tokens
        _, new_ids, new_ends = new
        starts, lengths = ids.offsets[:-1].copy(), ids.lengths
        starts[which] = len(ids.values) + new_ids.offsets[:-1]
        lengths[which] = new_ids.lengths
        index, offsets = segment_index(starts, lengths)
        values = np.concatenate([ids.values, new_ids.values])[index]
        return rows, Ragged(values, offsets), np.concatenate([ends, new_ends])[index]

    need = np.full(len(texts), max_length + 1, dtype=np.int64)
    _, ids, ends = encode_bounded(texts, need, lambda: gap_cut(encoder.tokenizer), encode, counted, replace, floor)
    return ids, ends


def spans_to_mask(
    ids: Ragged, texts: Sequence[str], token_ends: IntArray, spans: Sequence[Sequence[tuple[int, int]]]
) -> BoolArray:
    """Token mask of character spans, for a whole batch at once.

    Rows are laid end to end on one character axis so a single ``searchsorted`` finds, for
    every span, the tokens holding its first and last characters.
    """
    n_tokens = len(ids.values)
    mask = np.zeros(n_tokens, dtype=np.bool_)
    counts = np.fromiter((len(s) for s in spans), np.int64, len(spans))
    if not counts.sum():
        return mask
    base = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts], out=base[1:])
    global_ends = np.repeat(base[:-1], ids.lengths) + token_ends
    np.maximum.accumulate(global_ends, out=global_ends)
    flat = np.array([pair for row in spans for pair in row], dtype=np.int64).reshape(-1, 2)
    rows = np.repeat(np.arange(len(spans)), counts)
    row_start, row_end = ids.offsets[rows], ids.offsets[rows + 1]
    first = np.searchsorted(global_ends, base[rows] + flat[:, 0], side="right")
    last = np.searchsorted(global_ends, base[rows] + flat[:, 1] - 1, side="right")
    first = np.clip(first, row_start, row_end)
    last = np.clip(last, row_start, row_end - 1)
    keep = first <= last
    delta = np.zeros(n_tokens + 1, dtype=np.int64)
    np.add.at(delta, first[keep], 1)
    np.add.at(delta, last[keep] + 1, -1)
    mask = np.cumsum(delta[:-1]) > 0
    return mask


def renderer_options(config: CommonOptions) -> dict[str, Any]:
    """The `ChatRenderer` options a build config sets (reasoning, template variables, date)."""
    return {
        "template_kwargs": dict(config.template_kwargs),
        "reasoning": config.reasoning,
        "template_date": config.template_date,
        "max_rendered_chars": None if config.max_chars is None else 4 * config.max_chars,
    }


_renderers: dict[tuple[Any, ...], tuple[Any, ChatRenderer]] = {}


def _renderer(tok: LoadedTokenizer, template: str, options: dict[str, Any], name: str) -> ChatRenderer:
    """The build's renderer, made once per process (it holds the compiled template and its probe)."""
    key = (id(tok.hf), template, json.dumps(options, sort_keys=True, default=str), name)
    cached = _renderers.get(key)
    if cached is None or cached[0] is not tok.hf:
        cached = _renderers[key] = (tok.hf, ChatRenderer(tok.hf, template, name=name, **options))
    return cached[1]


def encode_chat_batch(
    tok: LoadedTokenizer,
    template: str,
    options: dict[str, Any],
    conversations: list[list[dict[str, Any]] | None],
    tools: list[Any],
    invalid: dict[int, tuple[str, str]],
    *,
    last_turn: bool,
    max_length: int | None = None,
    train: Sequence[Sequence[bool] | None] | None = None,
    train_on_eos: TrainOnEos = "turn",
    name: str = "the chat template",
) -> EncodedBatch:
    """Render and tokenize parsed conversations (None: already invalid) into an `EncodedBatch`.

    `template` is the chat template text (`sftmask.chat.choice.choose_template`), `options`
    the `ChatRenderer` options (`renderer_options`), `name` how messages name the template. Sets ``assistant_mask``, and
    ``last_turn_mask`` when `last_turn` (a conversation must then end on an assistant turn). The
    prompt (what prompt truncation shortens) is everything before the first trained token. With
    `max_length`, a long conversation is encoded only as far as truncation can keep. `train` and
    `train_on_eos`: which messages and turn ends are trained (`ChatRenderer.analyse`).
    """
    enc = encode_conversations(
        tok.full_encoder,
        _renderer(tok, template, options, name),
        conversations,
        tools,
        invalid=invalid,
        need_final_assistant=last_turn,
        max_length=max_length,
        train=train,
        train_on_eos=train_on_eos,
    )
    prompt_len = first_true(enc.ids, enc.last_turn if last_turn else enc.assistant)
    # Prompt truncation keeps a BOS the template writes; ChatML's <|im_start|> is not kept.
    prompt_head = np.zeros(len(enc.ids), dtype=np.int64)
    nonempty = enc.ids.lengths > 0
    if tok.hf.bos_token_id is not None and nonempty.any():
        first_ids = enc.ids.values[enc.ids.offsets[:-1][nonempty]]
        prompt_head[nonempty] = first_ids == tok.hf.bos_token_id
    prompt_head = np.minimum(prompt_head, prompt_len)
    return EncodedBatch(
        ids=enc.ids,
        prompt_len=prompt_len,
        prompt_head=prompt_head,
        invalid=enc.invalid,
        assistant_mask=enc.assistant,
        last_turn_mask=enc.last_turn if last_turn else None,
    )
