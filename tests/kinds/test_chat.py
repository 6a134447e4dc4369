"""The chat data kind (`sftmask.kinds.chat`): parsing a batch of conversations."""

from __future__ import annotations

import json

import pyarrow as pa

from sftmask.config.options import ChatOptions
from sftmask.kinds.chat import parse_conversations


def test_records_with_the_same_tools_share_one_parsed_list() -> None:
    messages = json.dumps([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
    tools = [json.dumps([{"type": "function", "function": {"name": name}}]) for name in ("a", "a", "b")]
    table = pa.RecordBatch.from_pydict({"messages": [messages] * 4, "tools": [*tools, None]})
    parsed = parse_conversations(
        table, ChatOptions(inputs=["in.jsonl"], tokenizer="tok", output="out", strategy="assistant-only")
    )
    first, second, third, absent = parsed.tools
    assert first is second  # one parsed list: a template writes its JSON once
    assert first == [{"type": "function", "function": {"name": "a"}}]
    assert third == [{"type": "function", "function": {"name": "b"}}] and third is not first
    assert absent is None
