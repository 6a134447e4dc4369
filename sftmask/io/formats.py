"""The dialects of SFT data, told apart by the fields of a record: TRL's dataset types, OpenAI
and ShareGPT conversations, sftmask's own prompt/response.

A build whose options leave the data kind to the defaults reads the first records of its first
input and settles on one format (`detect`); each format says which data kind reads it and which
options do (`DataFormat.settings`), and options the user gave win (`sftmask.config.build.with_format`).
A record of another format later in the inputs is an error (`mixed_format_error`): one build reads
one format.

| format                            | fields                                          |
| --------------------------------- | ----------------------------------------------- |
| prompt-response                   | ``prompt``, ``response`` (strings)              |
| prompt-completion                 | ``prompt``, ``completion`` (strings; TRL)       |
| conversational-prompt-completion  | ``prompt``, ``completion`` (lists of messages)  |
| conversational                    | ``messages`` (role/content messages)            |
| sharegpt                          | ``conversations`` (from/value messages)         |
| language-modeling                 | ``text`` (string; TRL)                          |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from sftmask.errors import InputDataError

SAMPLE_FIELDS = ("prompt", "response", "completion", "messages", "conversations", "text", "instruction")
"""The fields `classify` looks at."""
CHAT_STRATEGY = "assistant-only"
"""The strategy a build of chat data takes when none is given."""


@dataclass(frozen=True)
class DataFormat:
    """A dialect of SFT data, recognised by a record's fields."""

    name: str
    """Public name (the manifest's ``input.format``)."""
    title: str
    """What a user calls it (``TRL prompt/completion``)."""
    data_kind: str
    """The data kind that reads it (`sftmask.kinds.DATA_KINDS`)."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Options that read it, applied where the user gave none."""
    strategy: str | None = None
    """The strategy when none is given (None: the configured default)."""
    note: str = ""
    """What the build does differently from its defaults, for the log (empty: nothing to say)."""

    @property
    def key(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """Two records are of the same format when their keys are equal."""
        return self.name, tuple(sorted(self.settings.items()))


def _messages(value: Any) -> list[Any] | None:
    """`value` when it is a list of messages (dicts); a CSV cell's JSON text is decoded first."""
    if isinstance(value, str) and value.lstrip()[:1] == "[":
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        return value
    return None


def _role_style(messages: list[Any]) -> str | None:
    first = messages[0]
    if "role" in first:
        return "openai"
    if "from" in first:
        return "sharegpt"
    return None


def classify(record: Mapping[str, Any]) -> DataFormat | None:
    """The format of one record, or None when its fields are not those of a known format.

    A null value counts as an absent field (a table column of records that lack it).
    """
    record = {key: value for key, value in record.items() if value is not None}
    prompt, completion = record.get("prompt"), record.get("completion")
    if "prompt" in record and "completion" in record and "response" not in record:
        prompt_messages, completion_messages = _messages(prompt), _messages(completion)
        if prompt_messages is not None and completion_messages is not None:
            if _role_style(prompt_messages) == _role_style(completion_messages) == "openai":
                return DataFormat(
                    "conversational-prompt-completion",
                    "TRL conversational prompt/completion",
                    "chat",
                    {"messages_field": "prompt", "completion_field": "completion"},
                    CHAT_STRATEGY,
                    "the prompt messages are rendered with the completion messages by the chat template; "
                    "the completion messages are trained",
                )
            return None
        if isinstance(prompt, str) and isinstance(completion, str):
            return DataFormat(
                "prompt-completion",
                "TRL prompt/completion",
                "prompt-response",
                {"response_field": "completion"},
                note="'completion' is read as the response",
            )
        return None
    if isinstance(prompt, str) and isinstance(record.get("response"), str):
        return DataFormat("prompt-response", "prompt/response", "prompt-response")
    for name in ("messages", "conversations"):
        messages = _messages(record.get(name))
        if messages is None:
            continue
        style = _role_style(messages)
        if style == "openai":
            settings = {} if name == "messages" else {"messages_field": name}
            return DataFormat(
                "conversational", "conversational (role/content messages)", "chat", settings, CHAT_STRATEGY
            )
        if style == "sharegpt":
            settings = {"messages_format": "sharegpt"} | ({} if name == "conversations" else {"messages_field": name})
            return DataFormat("sharegpt", "ShareGPT (from/value messages)", "chat", settings, CHAT_STRATEGY)
        return None
    if isinstance(record.get("text"), str) and not {"prompt", "response", "completion", "instruction"} & set(record):
        return DataFormat(
            "language-modeling", "TRL language modeling (text)", "text", note="every token of 'text' is trained"
        )
    return None


def fields_of(record: Mapping[str, Any]) -> str:
    """The record's field names, for messages."""
    return ", ".join(map(str, record)) or "none"


def detect(records: Iterable[tuple[str, Mapping[str, Any]]]) -> DataFormat | None:
    """The format of the first records (``(where, record)``: where is ``data.jsonl:3``).

    Records of no known format are left to the build to report; None when no record has one.

    Raises:
        InputDataError: a record of another format than the first one's (naming the record).
    """
    found: DataFormat | None = None
    first = ""
    for where, record in records:
        fmt = classify(record)
        if fmt is None:
            continue
        if found is None:
            found, first = fmt, where
        elif fmt.key != found.key:
            raise InputDataError(f"{where}: {mixed_message(fmt, record, found, first)}")
    return found


def mixed_message(fmt: DataFormat, record: Mapping[str, Any], expected: DataFormat, first: str = "") -> str:
    """Why a record of format `fmt` cannot be read with records of format `expected` (the first at `first`)."""
    at = f" (the first at {first})" if first else ""
    return (
        f"a {fmt.title} record (fields {fields_of(record)}) among {expected.title} records{at}; one build reads "
        "one format: split the input, or pass the options that read every record (--data-kind and its "
        "field options)"
    )
