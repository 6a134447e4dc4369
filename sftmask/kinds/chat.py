"""Chat data: records holding a conversation, rendered by the chat template; assistant turns trained."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from sftmask import reasons
from sftmask.config.options import ROLES, ChatOptions, MessagesFormat
from sftmask.errors import ConfigError, RecordRejected, SftmaskError, did_you_mean
from sftmask.io.readers import STDIN, InputFile, RecordReader
from sftmask.kinds.base import DataKind, EncodingSession, Fields
from sftmask.labels.strategies import STRATEGIES, EncodedBatch
from sftmask.tokenization.load import LoadedTokenizer

if TYPE_CHECKING:
    from sftmask.chat.choice import TemplateChoice

# The chat machinery (`sftmask.chat.render` and `encode`, jinja2) is imported where a chat build
# uses it, so that a build of other data does not pay for it at start-up.

log = logging.getLogger(__name__)

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
SHAREGPT_ROLES |= {"tool": "tool", "function_call": "assistant", "observation": "tool"}
MESSAGE_FORMATS: dict[MessagesFormat, tuple[str, str, dict[str, str]]] = {
    "openai": ("role", "content", {role: role for role in ROLES}),
    "sharegpt": ("from", "value", SHAREGPT_ROLES),
}
"""Format name -> (role key, content key, role name -> role)."""
FUNCTION_CALL = "function_call"
"""LLaMA-Factory's ShareGPT role of a message holding the assistant's tool call(s) as JSON text."""
WEIGHT = "weight"
"""OpenAI fine-tuning's per-message key: 0 leaves an assistant message out of training, 1 keeps it."""
TEXT_PART = "text"
"""The one content part type that is text (``{"type": "text", "text": ...}``)."""


@dataclass(frozen=True)
class MessageFormat:
    """How conversation records spell roles and content."""

    role_key: str
    content_key: str
    roles: dict[str, str]
    train_field: str | None = None
    """A message's boolean key that trains (true) or masks (false) it whatever its role."""

    @classmethod
    def named(
        cls,
        name: MessagesFormat,
        role_key: str | None = None,
        content_key: str | None = None,
        train_field: str | None = None,
    ) -> MessageFormat:
        default_role, default_content, roles = MESSAGE_FORMATS[name]
        return cls(role_key or default_role, content_key or default_content, roles, train_field)


def parse_messages(value: Any, fmt: MessageFormat) -> list[dict[str, Any]]:
    """Validate a decoded conversation and turn it into OpenAI-style messages (see `read_messages`)."""
    return read_messages(value, fmt)[0]


def read_messages(value: Any, fmt: MessageFormat) -> tuple[list[dict[str, Any]], list[bool | None]]:
    """Validate a decoded conversation and turn it into OpenAI-style messages, with what each
    message says about its own training.

    Other keys of a message (``tool_calls``, ``name``, ...) are kept for the template. Content is
    a string, a list of text parts (``{"type": "text", "text": ...}``, passed on: the renderer
    joins them for templates that take strings), or null beside ``tool_calls``. A ShareGPT
    ``function_call`` message becomes an assistant message with ``tool_calls``; tool call
    arguments given as JSON text are passed as an object (as vLLM does).

    Returns:
        The messages, and per message True/False where its ``weight`` (0 or 1; 1 leaves it to
        its role) or `fmt.train_field` decides, else None.

    Raises:
        RecordRejected: not a non-empty list of messages, an unknown role, content that is not a
            string or text parts, a ``weight`` that is not 0 or 1, a train field that is not a boolean.
    """
    if not isinstance(value, list):
        kind = "null" if value is None else type(value).__name__
        raise RecordRejected(reasons.INVALID_CONVERSATION, f"conversation is {kind}, not a list of messages")
    if not value:
        raise RecordRejected(reasons.INVALID_CONVERSATION, "conversation is empty")
    messages = []
    flags: list[bool | None] = []
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
            if isinstance(name, str):
                got += did_you_mean(name, fmt.roles)
            raise RecordRejected(reasons.UNKNOWN_ROLE, f"message {number} has {got}; roles are {known}")
        content = message.get(fmt.content_key)
        rest = {
            k: v
            for k, v in message.items()
            if k not in (fmt.role_key, fmt.content_key, WEIGHT, fmt.train_field) and v is not None
        }
        if name == FUNCTION_CALL:
            rest["tool_calls"], content = _function_calls(content, number), None
        elif isinstance(content, list):
            _check_parts(content, number, name)
        elif not isinstance(content, str) and not (content is None and message.get("tool_calls")):
            kind = "missing" if fmt.content_key not in message else type(content).__name__
            kind = "null" if content is None and fmt.content_key in message else kind
            raise RecordRejected(
                reasons.NOT_A_STRING,
                f"message {number} ({name}): {fmt.content_key!r} is {kind}, not a string or a list of text parts",
            )
        if isinstance(rest.get("tool_calls"), list):
            rest["tool_calls"] = [_parsed_arguments(call) for call in rest["tool_calls"]]
        messages.append({"role": role, "content": content, **rest})
        flags.append(_train_flag(message, number, name, fmt.train_field))
    return messages, flags


def _parsed_arguments(call: Any) -> Any:
    """A tool call whose ``function.arguments`` is JSON text (OpenAI's shape) with them as an object,
    as vLLM passes them to the template (``_postprocess_messages``): templates write arguments with
    ``tojson``, which would encode the text a second time. Text that is not a JSON object is kept."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    arguments = function["arguments"]
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return call
    return {**call, "function": {**function, "arguments": parsed}} if isinstance(parsed, dict) else call


def _check_parts(parts: list[Any], number: int, role: Any) -> None:
    """Raise unless every item is a text part; a part of another type is ``non-text-content``."""
    for index, part in enumerate(parts, start=1):
        where = f"message {number} ({role}): content part {index}"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RecordRejected(
                reasons.INVALID_CONVERSATION, f'{where} is not an object with a "type" (e.g. {{"type": "text", ...}})'
            )
        if part["type"] != TEXT_PART:
            raise RecordRejected(
                reasons.NON_TEXT_CONTENT,
                f"{where} is {part['type']!r}, not text: sftmask builds text rows; drop the part or the record",
            )
        if not isinstance(part.get("text"), str):
            raise RecordRejected(reasons.NOT_A_STRING, f"{where}: 'text' is not a string")


def _function_calls(value: Any, number: int) -> list[dict[str, Any]]:
    """A ShareGPT ``function_call`` message's JSON text (one call or a list of them) as OpenAI
    ``tool_calls``."""
    try:
        calls = orjson.loads(value) if isinstance(value, str) else value
    except orjson.JSONDecodeError:
        calls = None
    calls = calls if isinstance(calls, list) else [calls]
    if not calls or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls):
        raise RecordRejected(
            reasons.INVALID_CONVERSATION,
            f'message {number} (function_call): not a JSON call {{"name": ..., "arguments": ...}} or a list of them',
        )
    return [{"type": "function", "function": {"name": c["name"], "arguments": c.get("arguments", {})}} for c in calls]


def _train_flag(message: dict[str, Any], number: int, role: Any, train_field: str | None) -> bool | None:
    # A null is a field not given: a table (Parquet, `datasets`) holds one in every message that
    # lacks the field when some message of the column has it.
    if train_field is not None and message.get(train_field) is not None:
        flag = message[train_field]
        if not isinstance(flag, bool):
            raise RecordRejected(
                reasons.BAD_TRAIN_FIELD,
                f"message {number} ({role}): {train_field!r} is {flag!r}, not true or false",
            )
        return flag
    if message.get(WEIGHT) is not None:
        weight = message[WEIGHT]
        if isinstance(weight, bool) or weight not in (0, 1):
            raise RecordRejected(
                reasons.BAD_WEIGHT,
                f"message {number} ({role}): weight is {weight!r}; OpenAI's weight is 0 (not trained) or 1 (trained)",
            )
        return False if weight == 0 else None
    return None


@dataclass
class ParsedBatch:
    """A batch's conversations, as the renderer takes them, and what the records said about them."""

    conversations: list[list[dict[str, Any]] | None]
    """Messages per row (None where the record is invalid)."""
    flags: list[list[bool | None]]
    """Per row and message: trained (True) or masked (False) whatever its role, or None (its role decides)."""
    tools: list[Any]
    invalid: dict[int, tuple[str, str]]


def parse_conversations(table: pa.RecordBatch, config: ChatOptions) -> ParsedBatch:
    """A batch's conversations and tools (None where a record is invalid, with the reason why).

    With `completion_field`, a conversation is the prompt's messages followed by the
    completion's, the completion's trained and the prompt's masked unless a message says otherwise.
    ShareGPT records as LLaMA-Factory writes them may hold the system prompt in a ``system``
    field and bare function descriptions in ``tools``.
    """
    fmt = MessageFormat.named(config.messages_format, config.role_key, config.content_key, config.message_train_field)
    batch = ParsedBatch([], [], [], {})
    raw_tools = table.column(config.tools_field).to_pylist()
    # Records that carry the same tools share one parsed list (never changed after parsing), so a
    # template writes their JSON once (`sftmask.chat.sandbox`).
    tools: dict[str, Any] = {}
    sharegpt = config.messages_format == "sharegpt"
    systems = table.column(SYSTEM_FIELD).to_pylist() if sharegpt else None
    field = config.resolved_messages_field
    completions = table.column(config.completion_field).to_pylist() if config.completion_field else None
    for row, text in enumerate(table.column(field).to_pylist()):
        try:
            messages, flags = read_messages(_json_cell(orjson.loads(text), field), fmt)
            if completions is not None and config.completion_field is not None:
                more, more_flags = read_messages(
                    _json_cell(orjson.loads(completions[row]), config.completion_field), fmt
                )
                prompt_flags: list[bool | None] = [False if f is None else f for f in flags]
                flags = prompt_flags + [True if f is None else f for f in more_flags]
                messages += more
            if systems is not None and systems[row] is not None:
                system = orjson.loads(systems[row])
                if system is not None and not isinstance(system, str):  # was left out, silently
                    kind = {list: "a list", dict: "an object", bool: "a boolean"}.get(type(system), "a number")
                    raise RecordRejected(
                        reasons.NOT_A_STRING, f"field {SYSTEM_FIELD!r} is {kind}, not a string: the system prompt"
                    )
                if isinstance(system, str) and system.strip() and messages[0]["role"] != "system":
                    messages.insert(0, {"role": "system", "content": system})
                    flags.insert(0, None)
            raw = raw_tools[row]
            value = None if raw is None else tools.get(raw)
            if raw is not None and value is None:
                value = _json_cell(orjson.loads(raw), config.tools_field, empty_is_absent=True)
                if value is not None and not isinstance(value, list):
                    raise RecordRejected(
                        reasons.INVALID_TOOLS, f"field {config.tools_field!r} must be a list of tool schemas"
                    )
                if value is not None and sharegpt:
                    value = [_function_schema(tool) for tool in value]
                if value is not None:
                    tools[raw] = value
            if not any(m["role"] == "assistant" for m in messages):
                roles = ", ".join(dict.fromkeys(m["role"] for m in messages))
                raise RecordRejected(
                    reasons.NO_ASSISTANT,
                    f"the conversation has no assistant message (roles: {roles}): nothing a model writes to train on",
                )
            batch.conversations.append(messages)
            batch.flags.append(flags)
            batch.tools.append(value)
        except RecordRejected as exc:
            batch.invalid[row] = (exc.reason, exc.message)
            batch.conversations.append(None)
            batch.flags.append([])
            batch.tools.append(None)
    return batch


SYSTEM_FIELD = "system"
"""LLaMA-Factory's ShareGPT records hold the system prompt in this field (a system message in the
conversation overrides it)."""


def _function_schema(tool: Any) -> Any:
    """A tool as a chat template takes it: LLaMA-Factory writes bare function descriptions
    (``{"name", "description", "parameters"}``); templates expect ``{"type": "function", "function": ...}``."""
    if isinstance(tool, dict) and "name" in tool and "type" not in tool and "function" not in tool:
        return {"type": "function", "function": tool}
    return tool


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
        parsed = parse_conversations(table, self.config)
        strategy = self.config.strategy
        last_turn = "last_turn_mask" in STRATEGIES[strategy].needs
        counts = dict.fromkeys(CHAT_COUNTS, 0)
        train: list[list[bool] | None] = []
        roles: set[str] = set(self.config.roles_to_train)
        for row, messages in enumerate(parsed.conversations):
            decisions = None
            if messages is not None:
                try:
                    decisions = self._decide(messages, parsed.flags[row], roles, counts)
                except RecordRejected as exc:
                    parsed.invalid[row] = (exc.reason, exc.message)
                    parsed.conversations[row] = None
            train.append(decisions)
        from sftmask.chat.encode import encode_chat_batch

        encoded = encode_chat_batch(
            self.tok,
            self.choice.text,
            self.options,
            parsed.conversations,
            parsed.tools,
            parsed.invalid,
            last_turn=last_turn,
            max_length=self.config.max_length,
            train=train if strategy == ASSISTANT_ONLY else None,
            train_on_eos=self.config.train_on_eos,
            name=self.choice.name,
        )
        return encoded, counts

    def _decide(
        self, messages: list[dict[str, Any]], flags: list[bool | None], roles: set[str], counts: dict[str, int]
    ) -> list[bool] | None:
        """Which messages the conversation trains under assistant-only (None: its assistant turns,
        as by default), counting what the manifest reports.

        Raises:
            RecordRejected: with `require_user_first`, a conversation that starts with the assistant;
                a conversation whose messages are all masked.
        """
        spoken = [m["role"] for m in messages if m["role"] != "system"]
        starts_with_assistant = bool(spoken) and spoken[0] == "assistant"
        counts[STARTS_WITH_ASSISTANT] += starts_with_assistant
        counts[NON_ALTERNATING] += any(a == b and a != "tool" for a, b in itertools.pairwise(spoken))
        if starts_with_assistant and self.config.require_user_first:
            raise RecordRejected(
                reasons.STARTS_WITH_ASSISTANT,
                "the first message after the system prompt is the assistant's (--require-user-first): "
                "its reply has no user message before it",
            )
        if self.config.strategy == LAST_TURN and flags[-1] is False:
            raise RecordRejected(
                reasons.NO_TRAINABLE,
                "the final assistant message is marked not to be trained (weight 0 or a false train field), "
                "and --strategy last-turn trains only it",
            )
        if self.config.strategy != ASSISTANT_ONLY:
            return None
        decisions = [m["role"] in roles if flag is None else flag for m, flag in zip(messages, flags, strict=True)]
        masked = sum(m["role"] == "assistant" and not d for m, d in zip(messages, decisions, strict=True))
        counts[MASKED_MESSAGES] += masked
        if not any(decisions):
            raise RecordRejected(
                reasons.NO_TRAINABLE,
                "every message is masked (weight 0, a false train field, or a role not in --roles-to-train): "
                "nothing to train",
            )
        if all(d == (m["role"] == "assistant") for m, d in zip(messages, decisions, strict=True)):
            return None
        return decisions

    def manifest(self, counts: dict[str, int]) -> dict[str, Any]:
        from sftmask.chat.choice import chat_manifest

        chat = {key: counts.get(key, 0) for key in CHAT_COUNTS}
        if chat[STARTS_WITH_ASSISTANT]:
            log.warning(
                "%s conversation(s) start with the assistant's turn after the system prompt: their first reply "
                "is trained with no user message before it; --require-user-first rejects them",
                f"{chat[STARTS_WITH_ASSISTANT]:,}",
            )
        if chat[NON_ALTERNATING]:
            log.warning(
                "%s conversation(s) have two user or two assistant messages in a row; check that turns "
                "were not lost or merged",
                f"{chat[NON_ALTERNATING]:,}",
            )
        return {"chat_template": chat_manifest(self.choice, self.options), "chat": chat}


ASSISTANT_ONLY = "assistant-only"
LAST_TURN = "last-turn"
STARTS_WITH_ASSISTANT = "starts_with_assistant"
"""Conversations whose first message after the system prompt is the assistant's."""
NON_ALTERNATING = "non_alternating"
"""Conversations with two user (or two assistant) messages in a row."""
MASKED_MESSAGES = "masked_messages"
"""Assistant messages left out of training (weight 0, a false train field, or outside the completion)."""
CHAT_COUNTS = (STARTS_WITH_ASSISTANT, NON_ALTERNATING, MASKED_MESSAGES)
"""What the manifest's ``chat`` entry counts (over the conversations read, before other rejects)."""


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
        delimiter=config.delimiter,
        warnings=False,
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
    parsed = parse_conversations(batch.table, config)
    return [(messages, parsed.tools[row]) for row, messages in enumerate(parsed.conversations) if messages is not None]


class Chat(DataKind[ChatOptions]):
    name = "chat"
    description = "records with a conversation: a list of messages rendered by the chat template"
    options = ChatOptions
    provides = frozenset({"lm_targets", "assistant_mask", "last_turn_mask"})
    default_strategy = "assistant-only"

    def fields(self, config: ChatOptions) -> Fields:
        return Fields(
            text=[],
            objects=[config.resolved_messages_field, *([config.completion_field] if config.completion_field else [])],
            optional_objects=[config.tools_field, *([SYSTEM_FIELD] if config.messages_format == "sharegpt" else [])],
            hints={
                config.resolved_messages_field: "; pass --messages-field NAME (ShareGPT data: --messages-format sharegpt)"
            },
        )

    def open(self, config: ChatOptions, tok: LoadedTokenizer, files: list[InputFile]) -> EncodingSession:
        """Choose the chat template once, comparing renderings of the first records (see
        `sftmask.chat.choice.choose_template`)."""
        from sftmask.chat.choice import choose_template, pin_today
        from sftmask.chat.encode import renderer_options
        from sftmask.chat.render import ChatRenderer

        options = renderer_options(config)
        samples = first_conversations(config, self.fields(config), files)
        choice = choose_template(tok.hf, config.chat_template, samples, **options)
        options = pin_today(choice, options)
        if config.train_on_eos != "turn" and not ChatRenderer(tok.hf, choice.text, **options).turn_end:
            raise ConfigError(
                f"--train-on-eos {config.train_on_eos}: this chat template writes no end-of-turn text after an "
                "assistant's reply (or refuses a one-exchange conversation), so there is none to leave out"
            )
        return ChatSession(config, tok, choice, options)

    def check(self, config: ChatOptions, *, chosen: bool) -> None:
        if not chosen:
            return
        given = [name for name in ("roles_to_train", "message_train_field") if name in config.model_fields_set]
        if given and config.strategy != ASSISTANT_ONLY:
            flags = " and ".join(f"--{name.replace('_', '-')}" for name in given)
            raise ValueError(f"{flags} choose the messages --strategy assistant-only trains, not {config.strategy!r}")
        if config.train_on_eos != "turn" and config.strategy not in (ASSISTANT_ONLY, LAST_TURN):
            raise ValueError(f"--train-on-eos applies to assistant-only and last-turn, not {config.strategy!r}")
        if config.completion_field is not None and config.completion_field == config.resolved_messages_field:
            raise ValueError("--completion-field must differ from --messages-field (the prompt's messages)")
