"""Chat data: records holding a conversation, rendered by the chat template; assistant turns trained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from sftmask import reasons
from sftmask.chat.choice import TemplateChoice, chat_manifest, choose_template, pin_today
from sftmask.chat.render import encode_chat_batch, renderer_options
from sftmask.config.options import ChatOptions, MessagesFormat
from sftmask.errors import RecordRejected, SftmaskError
from sftmask.io.readers import STDIN, InputFile, RecordReader
from sftmask.kinds.base import DataKind, EncodingSession, Fields
from sftmask.labels.strategies import STRATEGIES, EncodedBatch
from sftmask.tokenization.load import LoadedTokenizer

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
SHAREGPT_ROLES |= {"tool": "tool", "function_call": "assistant", "observation": "tool"}
MESSAGE_FORMATS: dict[MessagesFormat, tuple[str, str, dict[str, str]]] = {
    "openai": ("role", "content", {role: role for role in ROLES}),
    "sharegpt": ("from", "value", SHAREGPT_ROLES),
}
"""Format name -> (role key, content key, role name -> role)."""


@dataclass(frozen=True)
class MessageFormat:
    """How conversation records spell roles and content."""

    role_key: str
    content_key: str
    roles: dict[str, str]

    @classmethod
    def named(cls, name: MessagesFormat, role_key: str | None = None, content_key: str | None = None) -> MessageFormat:
        default_role, default_content, roles = MESSAGE_FORMATS[name]
        return cls(role_key or default_role, content_key or default_content, roles)


def parse_messages(value: Any, fmt: MessageFormat) -> list[dict[str, Any]]:
    """Validate a decoded conversation and turn it into OpenAI-style messages.

    Other keys of a message (``tool_calls``, ``name``, ...) are kept for the template.

    Raises:
        RecordRejected: not a non-empty list of messages, an unknown role, or content that is
            not a string (``null`` content is allowed only beside ``tool_calls``).
    """
    if not isinstance(value, list):
        kind = "null" if value is None else type(value).__name__
        raise RecordRejected(reasons.INVALID_CONVERSATION, f"conversation is {kind}, not a list of messages")
    if not value:
        raise RecordRejected(reasons.INVALID_CONVERSATION, "conversation is empty")
    messages = []
    for number, message in enumerate(value, start=1):
        if not isinstance(message, dict):
            raise RecordRejected(
                reasons.INVALID_CONVERSATION, f"message {number} is {type(message).__name__}, not an object"
            )
        name = message.get(fmt.role_key)
        role = fmt.roles.get(name) if isinstance(name, str) else None
        if role is None:
            known = ", ".join(fmt.roles)
            got = f"role {name!r}" if fmt.role_key in message else f"no {fmt.role_key!r} key"
            raise RecordRejected(reasons.UNKNOWN_ROLE, f"message {number} has {got}; roles are {known}")
        content = message.get(fmt.content_key)
        if not isinstance(content, str) and not (content is None and message.get("tool_calls")):
            kind = "missing" if fmt.content_key not in message else type(content).__name__
            kind = "null" if content is None and fmt.content_key in message else kind
            raise RecordRejected(
                reasons.NOT_A_STRING, f"message {number} ({name}): {fmt.content_key!r} is {kind}, not a string"
            )
        rest = {k: v for k, v in message.items() if k not in (fmt.role_key, fmt.content_key) and v is not None}
        messages.append({"role": role, "content": content, **rest} if content is not None else {"role": role, **rest})
    return messages


def parse_conversations(
    table: pa.RecordBatch, config: ChatOptions
) -> tuple[list[list[dict[str, Any]] | None], list[Any], dict[int, tuple[str, str]]]:
    """A batch's conversations and tools (None where a record is invalid, with the reason why)."""
    fmt = MessageFormat.named(config.messages_format, config.role_key, config.content_key)
    conversations: list[list[dict[str, Any]] | None] = []
    tools: list[Any] = []
    invalid: dict[int, tuple[str, str]] = {}
    raw_tools = table.column(config.tools_field).to_pylist()
    for row, text in enumerate(table.column(config.resolved_messages_field).to_pylist()):
        try:
            messages = parse_messages(_json_cell(orjson.loads(text), config.resolved_messages_field), fmt)
            value = None
            if raw_tools[row] is not None:
                value = _json_cell(orjson.loads(raw_tools[row]), config.tools_field, empty_is_absent=True)
            if value is not None and not isinstance(value, list):
                raise RecordRejected(
                    reasons.INVALID_TOOLS, f"field {config.tools_field!r} must be a list of tool schemas"
                )
            conversations.append(messages)
            tools.append(value)
        except RecordRejected as exc:
            invalid[row] = (exc.reason, exc.message)
            conversations.append(None)
            tools.append(None)
    return conversations, tools, invalid


def _json_cell(value: Any, name: str, *, empty_is_absent: bool = False) -> Any:
    """A conversation or tools value; a CSV/TSV cell holds the list as JSON text, parsed here."""
    if not isinstance(value, str):
        return value
    if empty_is_absent and not value.strip():
        return None
    if value.lstrip()[:1] not in ("[", "{"):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordRejected(
            reasons.INVALID_JSON, f"field {name!r} is text that is not valid JSON ({exc.msg} at column {exc.colno})"
        ) from exc


@dataclass(frozen=True)
class ChatSession:
    """Encodes a build's batches with the chat template chosen once for it (picklable)."""

    config: ChatOptions
    tok: LoadedTokenizer
    choice: TemplateChoice
    options: dict[str, Any]
    """`ChatRenderer` options (reasoning, template variables, the pinned date)."""

    def encode(self, table: pa.RecordBatch) -> tuple[EncodedBatch, dict[str, int]]:
        """Conversations: rendered by the chat template, tokenized, assistant turns masked in."""
        conversations, tools, invalid = parse_conversations(table, self.config)
        last_turn = "last_turn_mask" in STRATEGIES[self.config.strategy].needs
        encoded = encode_chat_batch(
            self.tok,
            self.choice.text,
            self.options,
            conversations,
            tools,
            invalid,
            last_turn=last_turn,
            max_length=self.config.max_length,
            name=self.choice.name,
        )
        return encoded, {}

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        return {"chat_template": chat_manifest(self.choice, self.options)}


SAMPLED_RECORDS = 16
"""Records of the first input whose rendering a shipped template must match to replace the tokenizer's."""


def first_conversations(
    config: ChatOptions, fields: Fields, files: list[InputFile], count: int = SAMPLED_RECORDS
) -> list[tuple[Any, Any]]:
    """The valid conversations (with tools) among the first `count` records of the first input (none
    from stdin, which can be read only once; bad records are left for the build to report)."""
    if not files or files[0].name == STDIN:
        return []
    reader = RecordReader(
        files[:1],
        text_fields=fields.text,
        object_fields=fields.objects,
        optional_object_fields=fields.optional_objects,
        keep_fields=[],
        batch_size=count,
        skip_errors=True,
        max_chars=config.max_chars,
    )
    batches = iter(reader)
    try:
        batch = next(batches, None)
    except SftmaskError:
        return []
    finally:
        batches.close()  # type: ignore[attr-defined]
    if batch is None:
        return []
    conversations, tools, _ = parse_conversations(batch.table, config)
    return [(messages, tools[row]) for row, messages in enumerate(conversations) if messages is not None]


class Chat(DataKind[ChatOptions]):
    name = "chat"
    description = "records with a conversation: a list of messages rendered by the chat template"
    options = ChatOptions
    provides = frozenset({"lm_targets", "assistant_mask", "last_turn_mask"})

    def fields(self, config: ChatOptions) -> Fields:
        return Fields(
            text=[],
            objects=[config.resolved_messages_field],
            optional_objects=[config.tools_field],
            hints={
                config.resolved_messages_field: "; pass --messages-field NAME (ShareGPT data: --messages-format sharegpt)"
            },
        )

    def open(self, config: ChatOptions, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        """Choose the chat template once, comparing renderings of the first records (see
        `sftmask.chat.choice.choose_template`)."""
        options = renderer_options(config)
        samples = first_conversations(config, self.fields(config), files)
        choice = choose_template(tok.hf, config.chat_template, samples, **options)
        return ChatSession(config, tok, choice, pin_today(choice, options))
