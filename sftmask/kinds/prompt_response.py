"""Prompt/response data: a prompt (masked) and a response (trained), optionally from a prompt template."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from sftmask.config.options import CHAT, PromptResponseOptions
from sftmask.errors import ConfigError
from sftmask.io.readers import InputFile
from sftmask.kinds.base import DataKind, EncodingSession, Fields, StatelessSession
from sftmask.labels.strategies import STRATEGIES, EncodedBatch
from sftmask.prompts.templates import load_template, render_records
from sftmask.tokenization.encode import count_boundary_merges, segment
from sftmask.tokenization.load import LoadedTokenizer

if TYPE_CHECKING:
    from sftmask.chat.choice import TemplateChoice

# The chat machinery (jinja2) is imported only by `template: chat` builds (`ExchangeSession`).


def encode_prompt_response(
    tok: LoadedTokenizer, table: pa.RecordBatch, config: PromptResponseOptions
) -> tuple[EncodedBatch, dict[str, int]]:
    """Prompt + response text: the prompt as `tokenizer(prompt)`, the response as its continuation.

    With ``template`` set, the prompt and response are rendered from the record first by a
    prompt template (``template: chat`` is `ExchangeSession`'s).
    """
    invalid: dict[int, tuple[str, str]] = {}
    if config.prompt_template is not None:
        template = load_template(config.prompt_template)
        columns = {name: table.column(name).to_pylist() for name in template.required_fields}
        for name in template.optional_fields:
            columns[name] = [None if v is None else orjson.loads(v) for v in table.column(name).to_pylist()]
        prompts, responses, invalid = render_records(template, columns, table.num_rows)
    else:
        prompts = table.column(config.prompt_field).to_pylist()
        responses = table.column(config.response_field).to_pylist()
    word_starts = "word_start" in STRATEGIES[config.strategy].needs
    encoded = segment(
        tok, prompts, responses, add_eos=config.add_eos, word_starts=word_starts, max_length=config.max_length
    )
    if invalid:
        encoded = dataclasses.replace(encoded, invalid=invalid)
    return encoded, {"boundary_merges": count_boundary_merges(tok, prompts, responses)}


@dataclass(frozen=True)
class ExchangeSession:
    """``template: chat``: each prompt and response rendered as a user/assistant exchange by the
    chat template chosen once for the build (picklable)."""

    config: PromptResponseOptions
    tok: LoadedTokenizer
    choice: TemplateChoice
    options: dict[str, Any]
    """`ChatRenderer` options (reasoning, template variables, the pinned date)."""

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        prompts: list[str] = table.column(self.config.prompt_field).to_pylist()
        responses: list[str] = table.column(self.config.response_field).to_pylist()
        conversations: list[list[dict[str, Any]] | None] = [
            [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
            for p, r in zip(prompts, responses, strict=True)
        ]
        tools = [None] * len(prompts)
        from sftmask.chat.encode import encode_chat_batch

        chat = encode_chat_batch(
            self.tok,
            self.choice.text,
            self.options,
            conversations,
            tools,
            {},
            last_turn=False,
            max_length=self.config.max_length,
            name=self.choice.name,
        )
        return dataclasses.replace(chat, response_mask=chat.assistant_mask, assistant_mask=None), {}

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        from sftmask.chat.choice import chat_manifest

        return {"chat_template": chat_manifest(self.choice, self.options)}


class PromptResponse(DataKind[PromptResponseOptions]):
    name = "prompt-response"
    description = "records with a prompt and a response string"
    options = PromptResponseOptions
    provides = frozenset({"lm_targets", "response_mask", "word_start"})

    def fields(self, config: PromptResponseOptions) -> Fields:
        if config.prompt_template is None:
            return Fields(text=[config.prompt_field, config.response_field])
        template = load_template(config.prompt_template)
        return Fields(
            text=template.required_fields,
            optional_objects=template.optional_fields,
            hints={name: f"; template {config.template!r} uses it" for name in template.required_fields},
        )

    def open(self, config: PromptResponseOptions, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        if config.template == CHAT:
            from sftmask.chat.choice import choose_template, pin_today
            from sftmask.chat.encode import renderer_options

            options = renderer_options(config)
            choice = choose_template(tok.hf, config.chat_template, **options)
            return ExchangeSession(config, tok, choice, pin_today(choice, options))
        return StatelessSession(encode_prompt_response, config, tok)

    def appends_eos(self, config: PromptResponseOptions) -> bool:
        return config.add_eos and config.template != CHAT

    def check(self, config: PromptResponseOptions, *, chosen: bool) -> None:
        if config.template is None:
            return
        if not chosen:
            raise ValueError("--template applies to prompt/response data; chat data uses --chat-template FILE")
        if config.prompt_template is not None:
            try:
                load_template(config.prompt_template)
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
