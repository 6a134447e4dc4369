"""Varied sample conversations for checking chat templates (`sftmask template check`, the tests):
1-6 turns, system or not, tool calls and results, assistant content with ``<think>`` reasoning or
a ``reasoning_content`` field. Deterministic for a seed."""

from __future__ import annotations

import random
from typing import Any

TEXTS = [
    "Hi there",
    "What is 2+2?",
    "4",
    "Write a Python function that adds two numbers.",
    "def add(a, b):\n    return a + b",
    "Translate into French: good morning",
    "Bonjour !",
    "東京は日本の首都です。",
    "Emoji 😀🎉 and a list: 1) one 2) two",
    "  leading and trailing spaces  ",
    "Line one\n\nLine two",
    "assistant",
    "user",
    "The answer is 4.",
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def _call(rng: random.Random, number: int) -> dict[str, Any]:
    return {
        "id": f"call{number:05d}",  # 9 characters, as Mistral's templates demand
        "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": rng.choice(["Paris", "Tokyo", "Lima"])}},
    }


def conversation(
    rng: random.Random, *, tools: bool = True, reasoning: bool = True, system: bool = True, one_tool_call: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """One conversation ending with an assistant turn, and the tools it uses (or None).

    Args:
        rng: the random source.
        tools: include tool calls and results.
        reasoning: include reasoning (``<think>`` blocks and ``reasoning_content``).
        system: start with a system message sometimes.
        one_tool_call: at most one tool call per conversation.
    """
    messages: list[dict[str, Any]] = []
    if system and rng.random() < 0.4:
        messages.append({"role": "system", "content": rng.choice(["You are terse.", "Answer in English."])})
    uses_tools = False
    for _ in range(rng.randint(1, 6)):
        messages.append({"role": "user", "content": rng.choice(TEXTS)})
        if tools and rng.random() < 0.25 and not (one_tool_call and uses_tools):
            uses_tools = True
            call = _call(rng, len(messages))
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": '{"temperature": 21}'})
        answer = rng.choice(TEXTS)
        kind = rng.random() if reasoning else 1.0
        if kind < 0.25:
            answer = f"<think>\nThe user asks; {rng.choice(TEXTS)}\n</think>\n\n{answer}"
        elif kind < 0.4:
            messages.append({"role": "assistant", "content": answer, "reasoning_content": "Let me think."})
            continue
        messages.append({"role": "assistant", "content": answer})
    return messages, TOOLS if uses_tools else None


def conversations(
    count: int, seed: int = 0, **options: bool
) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]] | None]]:
    """`count` conversations (see `conversation` for the options)."""
    rng = random.Random(seed)
    return [conversation(rng, **options) for _ in range(count)]
