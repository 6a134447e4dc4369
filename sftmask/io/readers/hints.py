"""Hints for a record that lacks the fields the build reads: the data kind it looks like, or the
option that names the field."""

from __future__ import annotations

from typing import Any

CHAT_FIELDS = ("messages", "conversations")


def suggest_data_kind(fields: list[str], record: dict[str, Any]) -> str | None:
    """How to read a record that lacks the prompt/response fields but looks like another kind of
    data: chat messages (OpenAI or ShareGPT style) or Alpaca fields. None when nothing fits."""
    for name in CHAT_FIELDS:
        if name not in fields:
            continue
        value = record.get(name)
        first = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}
        sharegpt = "from" in first or (name == "conversations" and "role" not in first)
        flags = ["--strategy assistant-only"]
        if sharegpt:
            flags.append("--messages-format sharegpt")
        if name != ("conversations" if sharegpt else "messages"):
            flags.append(f"--messages-field {name}")
        style = "ShareGPT (from/value)" if sharegpt else "OpenAI (role/content)"
        return f"; this looks like chat data ({style} messages in {name!r}): pass {' '.join(flags)}"
    if {"instruction", "output"} <= set(fields):
        return "; this looks like Alpaca data (instruction, input, output): pass --template alpaca"
    if "completion" in fields and "response" not in fields:
        return "; this looks like TRL prompt/completion data: pass --response-field completion"
    if "text" in fields and not {"prompt", "response"} & set(fields):
        return "; this looks like text data (TRL language modeling): pass --data-kind text"
    return None


def flag_hint(name: str, text_fields: list[str], close: str | None = None) -> str:
    flags = {0: "--prompt-field", 1: "--response-field"}
    flag = flags.get(text_fields.index(name)) if name in text_fields else None
    return f"; pass {flag} {close or 'NAME'}" if flag else ""
