"""Data kinds: how a record's fields become a tokenized row (prompt part / trained part).

Each kind names the fields the reader must deliver and encodes a batch of records into an
`EncodedBatch`. Strategies say which kinds they apply to (`Strategy.data_kinds`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import orjson
import pyarrow as pa

from sftmask.chat import ChatRenderer, MessageFormat, encode_conversations, load_renderer, parse_messages
from sftmask.encoding import count_boundary_merges, segment
from sftmask.errors import RecordRejected
from sftmask.plain_text import encode_text, text_field
from sftmask.prompt_templates import load_template, render_records
from sftmask.strategies import STRATEGIES, EncodedBatch, first_true
from sftmask.tokenizer import LoadedTokenizer
from sftmask.words import encode_words, start_words

if TYPE_CHECKING:
    from sftmask.config import BuildConfig
    from sftmask.readers import InputFile

KindEncoder = Callable[[LoadedTokenizer, pa.RecordBatch, "BuildConfig"], tuple[EncodedBatch, dict[str, int]]]


class EncodingSession(Protocol):
    """A data kind's encoder for one build: prepared once, then called per batch."""

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        """Encode one batch; also return counts (`boundary_merges`, `truncated`) for the stats."""
        ...

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        """Extra top-level manifest entries, once the build is done, from the totals of the
        counts `encode` returned (summed; keys starting ``max_`` take the maximum)."""
        ...


Starter = Callable[["BuildConfig", LoadedTokenizer, "list[InputFile]"], EncodingSession]


@dataclass(frozen=True)
class _StatelessSession:
    kind_encode: KindEncoder
    config: BuildConfig
    tok: LoadedTokenizer

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        return self.kind_encode(self.tok, table, self.config)

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class DataKind:
    """A kind of input record and how to encode it."""

    description: str
    text_fields: Callable[[BuildConfig], list[str]]
    """Fields every record must hold as strings."""
    object_fields: Callable[[BuildConfig], list[str]]
    """Fields holding JSON values (lists, objects); the reader passes them on as JSON text."""
    encode: KindEncoder
    """Encode a batch; also returns extra counts for the manifest (e.g. boundary merges)."""
    optional_object_fields: Callable[[BuildConfig], list[str]] = field(default=lambda c: [])
    """Fields that may be absent (null then), passed on as JSON text."""
    field_hints: Callable[[BuildConfig], dict[str, str] | None] = field(default=lambda c: None)
    """Per text field, how to fix a record that lacks it (None: the reader's default hints)."""
    start: Starter | None = None
    """Optional: prepare an `EncodingSession` once per build (state, start-up checks, manifest)."""
    appends_eos: bool = True
    """Whether `--add-eos` applies (and so whether the tokenizer needs an EOS token)."""

    def open(self, config: BuildConfig, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        """The session that encodes this build's batches."""
        if self.start is not None:
            return self.start(config, tok, files)
        return _StatelessSession(self.encode, config, tok)


def encode_prompt_response(
    tok: LoadedTokenizer, table: pa.RecordBatch, config: BuildConfig
) -> tuple[EncodedBatch, dict[str, int]]:
    """Prompt + response text: the prompt as `tokenizer(prompt)`, the response as its continuation.

    With ``template`` set, the prompt and response are rendered from the record first: by a
    prompt template, or (``chat``) as a user/assistant exchange by the chat template.
    """
    if config.template == "chat":
        prompts: list[str] = table.column(config.prompt_field).to_pylist()
        responses: list[str] = table.column(config.response_field).to_pylist()
        conversations: list[list[dict[str, Any]] | None] = [
            [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
            for p, r in zip(prompts, responses, strict=True)
        ]
        return _encode_chat(tok, config, conversations, [None] * len(prompts), {}), {}
    invalid: dict[int, tuple[str, str]] = {}
    if config.template is not None:
        template = load_template(config.template)
        columns = {name: table.column(name).to_pylist() for name in template.required_fields}
        for name in template.optional_fields:
            columns[name] = [None if v is None else orjson.loads(v) for v in table.column(name).to_pylist()]
        prompts, responses, invalid = render_records(template, columns, table.num_rows)
    else:
        prompts = table.column(config.prompt_field).to_pylist()
        responses = table.column(config.response_field).to_pylist()
    word_starts = STRATEGIES[config.strategy].needs_word_starts
    encoded = segment(tok, prompts, responses, add_eos=config.add_eos, word_starts=word_starts)
    if invalid:
        encoded = dataclasses.replace(encoded, invalid=invalid)
    return encoded, {"boundary_merges": count_boundary_merges(tok, prompts, responses)}


def encode_chat(
    tok: LoadedTokenizer, table: pa.RecordBatch, config: BuildConfig
) -> tuple[EncodedBatch, dict[str, int]]:
    """Conversations: rendered by the chat template, tokenized, assistant turns masked in."""
    fmt = MessageFormat.named(config.messages_format, config.role_key, config.content_key)
    conversations: list[list[dict[str, Any]] | None] = []
    tools: list[Any] = []
    invalid: dict[int, tuple[str, str]] = {}
    raw_tools = table.column(config.tools_field).to_pylist()
    for row, text in enumerate(table.column(config.resolved_messages_field).to_pylist()):
        try:
            messages = parse_messages(_json_cell(orjson.loads(text), config.resolved_messages_field), fmt)
            value = (
                None
                if raw_tools[row] is None
                else _json_cell(orjson.loads(raw_tools[row]), config.tools_field, empty_is_absent=True)
            )
            if value is not None and not isinstance(value, list):
                raise RecordRejected("invalid-tools", f"field {config.tools_field!r} must be a list of tool schemas")
            conversations.append(messages)
            tools.append(value)
        except RecordRejected as exc:
            invalid[row] = (exc.reason, exc.message)
            conversations.append(None)
            tools.append(None)
    return _encode_chat(tok, config, conversations, tools, invalid), {}


def _json_cell(value: Any, name: str, *, empty_is_absent: bool = False) -> Any:
    """A conversation or tools value: a CSV/TSV cell holds a list as JSON text."""
    if not isinstance(value, str):
        return value
    if not value.strip() and empty_is_absent:
        return None
    if value.lstrip()[:1] not in ("[", "{"):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordRejected(
            "invalid-json", f"field {name!r} is text that is not valid JSON ({exc.msg} at column {exc.colno})"
        ) from exc


_renderers: dict[tuple[int, str | None], tuple[Any, ChatRenderer]] = {}


def _renderer(tok: LoadedTokenizer, chat_template: str | None) -> ChatRenderer:
    key = (id(tok.hf), chat_template)
    cached = _renderers.get(key)
    if cached is None or cached[0] is not tok.hf:
        cached = _renderers[key] = (tok.hf, load_renderer(tok.hf, chat_template))
    return cached[1]


def _encode_chat(
    tok: LoadedTokenizer,
    config: BuildConfig,
    conversations: list[list[dict[str, Any]] | None],
    tools: list[Any],
    invalid: dict[int, tuple[str, str]],
) -> EncodedBatch:
    last_turn = config.strategy == "last-turn"
    enc = encode_conversations(
        tok.full_encoder,
        _renderer(tok, config.chat_template),
        conversations,
        tools,
        invalid=invalid,
        need_final_assistant=last_turn,
    )
    # The "prompt" that prompt truncation shortens is everything before the first trained token.
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
        response_mask=enc.assistant,
        invalid=enc.invalid,
        last_turn_mask=enc.last_turn if last_turn else None,
    )


def _template_text_fields(config: BuildConfig) -> list[str]:
    if config.template is None or config.template == "chat":
        return [config.prompt_field, config.response_field]
    return load_template(config.template).required_fields


def _template_optional_fields(config: BuildConfig) -> list[str]:
    if config.template is None or config.template == "chat":
        return []
    return load_template(config.template).optional_fields


def _template_hints(config: BuildConfig) -> dict[str, str] | None:
    if config.template is None or config.template == "chat":
        return None
    return {name: f"; template {config.template!r} uses it" for name in _template_text_fields(config)}


DATA_KINDS: dict[str, DataKind] = {
    "prompt-response": DataKind(
        "records with a prompt and a response string",
        text_fields=_template_text_fields,
        object_fields=lambda c: [],
        encode=encode_prompt_response,
        optional_object_fields=_template_optional_fields,
        field_hints=_template_hints,
    ),
    "chat": DataKind(
        "records with a conversation: a list of messages rendered by the chat template",
        text_fields=lambda c: [],
        object_fields=lambda c: [c.resolved_messages_field],
        encode=encode_chat,
        optional_object_fields=lambda c: [c.tools_field],
        field_hints=lambda c: {
            c.resolved_messages_field: "; pass --messages-field NAME (ShareGPT data: --messages-format sharegpt)"
        },
    ),
    "text": DataKind(
        "records with one pre-formatted text: all trained, or trained after --response-marker",
        text_fields=lambda c: [text_field(c)],
        object_fields=lambda c: [],
        encode=encode_text,
        field_hints=lambda c: {text_field(c): "; pass --text-field NAME"},
    ),
    "words": DataKind(
        "records with a list of words and a parallel list of tags (NER, POS, chunking)",
        text_fields=lambda c: [],
        object_fields=lambda c: [c.resolved_tokens_field, c.resolved_tags_field],
        encode=encode_words,
        start=start_words,
        appends_eos=False,
    ),
}
