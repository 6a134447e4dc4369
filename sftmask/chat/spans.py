"""Assistant spans of a template without ``{% generation %}`` markers, found in the final rendering.

Published chat templates render a conversation's earlier turns differently from how they render
a prefix of it (reasoning stripped from earlier turns, an empty thinking block in the generation
prompt, the system prompt moved into the last user turn, EOS written at the very end), so the
spans are located in the FINAL rendering instead of being read off prefix renderings:

1. The conversation is rendered twice: as it is, and with every piece of message text (each
   run of text between ``<think>``/``</think>`` tags, without its surrounding whitespace)
   replaced by a unique sentinel. The sentinel rendering, with the pieces put back, must equal
   the real rendering exactly; so each sentinel's place in it is where that piece of text is in
   the real rendering, and everything between sentinels is the template's own text.
2. What a template writes around an assistant turn is learned once per template from a probe
   conversation: the generation prompt (``render([user], add_generation_prompt=True)`` past the
   rendering without it) and the end-of-turn text written after an assistant's content.
3. Assistant turn ``k`` starts after the last assistant header (the generation prompt up to any
   thinking block it opens; for a template without one, such as Mistral's ``[/INST]answer``,
   the text between a user's content and the answer's) in the template text before its first
   piece, or at its first piece when that text ends with the whole generation prompt (an empty
   thinking block the prompt opens is prompt, then); after tool results, where no header is
   written, at the whitespace before its text. It ends with the first end-of-turn text after its
   last piece, before the next message's first piece; what the template writes after that
   (Phi-3.5's EOS, DeepSeek's empty turn after tool calls) and the newline between turns are
   not part of it.

When the sentinel rendering differs from the real one (a template that looks inside the text,
e.g. JSON-escapes it) or a turn cannot be placed, `locate_spans` returns None and the caller
falls back to prefix analysis. Two renderings per conversation: linear in its length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sftmask.chat.sandbox import REASONING_FIELDS

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
THINKING_OPENERS = (THINK_OPEN, "<|channel>")
"""How generation prompts open a thinking block (``<think>``; Gemma 4's ``<|channel>thought``)."""

_SENTINEL = re.compile(r"Sx7q(\d+)Z")
_TAGS = re.compile(f"({re.escape(THINK_OPEN)}|{re.escape(THINK_CLOSE)})")

Render = Callable[[Sequence[dict[str, Any]], bool], str]
"""render(messages, add_generation_prompt) -> text."""


@dataclass(frozen=True)
class TurnShape:
    """What a template writes around an assistant turn, learned from a probe conversation."""

    generation_prompt: str
    """The text ``add_generation_prompt`` appends (may open a thinking block)."""
    header: str
    """The generation prompt up to any thinking block: the text an assistant turn follows."""
    end_of_turn: str
    """The text a turn ends with (``<|im_end|>``, ``<|eot_id|>``, ``</s>``...); may be empty."""
    opener: str
    """What an assistant turn follows: the header, or for a template without one (Mistral's
    ``[INST] ... [/INST]answer``) the text between a user's content and the answer's."""


def learn_shape(render: Render, special_tokens: Sequence[str]) -> TurnShape:
    """Probe a template with a one-exchange conversation (see the module docstring)."""
    user = [{"role": "user", "content": "Sx7q0Z"}]
    with_prompt = render(user, True)
    without = render(user, False)
    cut = _aligned(with_prompt, _common_prefix(with_prompt, without), special_tokens)
    prompt = with_prompt[cut:]
    header = prompt
    for opener in THINKING_OPENERS:
        header = header.split(opener)[0]
    full = render([*user, {"role": "assistant", "content": "Sx7q1Z"}], False)
    between = full[full.find("Sx7q0Z") + len("Sx7q0Z") : full.find("Sx7q1Z")] if "Sx7q1Z" in full else ""
    after = full[full.find("Sx7q1Z") + len("Sx7q1Z") :] if "Sx7q1Z" in full else ""
    end = next((t for t in sorted(special_tokens, key=len, reverse=True) if t and after.startswith(t)), None)
    if end is None:
        end = re.match(r"\S*", after).group(0)  # type: ignore[union-attr]
    opener = header if header.strip() else between.rstrip()
    return TurnShape(prompt, header, end, opener)


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _aligned(text: str, cut: int, special_tokens: Sequence[str]) -> int:
    """Move a cut back to the start of a special token it falls inside."""
    for token in special_tokens:
        start = text.rfind(token, 0, cut)
        if start >= 0 and start < cut < start + len(token):
            cut = start
    return cut


def with_sentinels(messages: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str], list[list[int]]]:
    """Messages with their text pieces replaced by sentinels ``Sx7q<n>Z``.

    Non-assistant messages with equal role and text share their sentinels, so a template that
    compares messages (Mistral-Nemo's ``message == user_messages[-1]``) sees them equal still.

    Returns:
        The new messages, the piece each sentinel stands for, and the messages it belongs to
        (in order: its n-th occurrence in the rendering is the n-th of them).
    """
    pieces: list[str] = []
    owners: list[list[int]] = []
    shared: dict[tuple[str, str], list[int]] = {}

    def substitute(text: str, owner: int) -> str:
        out = []
        for part in _TAGS.split(text):
            if part in (THINK_OPEN, THINK_CLOSE):
                out.append(part)
                continue
            core = part.strip()
            if core:
                lead = part[: len(part) - len(part.lstrip())]
                trail = part[len(part.rstrip()) :]
                out.append(f"{lead}Sx7q{len(pieces)}Z{trail}")
                pieces.append(core)
                owners.append([owner])
            else:
                out.append(part)
        return "".join(out)

    result = []
    substituted: dict[tuple[str, str], dict[str, Any]] = {}
    for index, message in enumerate(messages):
        content = message.get("content")
        key = (message["role"], content) if message["role"] != "assistant" and isinstance(content, str) else None
        if key is not None and key in substituted:
            for number in shared[key]:
                owners[number].append(index)
            result.append({**message, "content": substituted[key]["content"]})
            continue
        before = len(pieces)
        message = dict(message)
        for field in ("content", *REASONING_FIELDS):
            if isinstance(message.get(field), str):
                message[field] = substitute(message[field], index)
        if key is not None:
            substituted[key] = message
            shared[key] = list(range(before, len(pieces)))
        result.append(message)
    return result, pieces, owners


def locate_spans(
    messages: Sequence[dict[str, Any]], full: str, render: Render, shape: TurnShape
) -> list[tuple[int, int, int]] | None:
    """(message index, start, end) of each assistant turn in ``full``, or None when not found.

    ``full`` is the real rendering of ``messages``; spans are character offsets into it.
    """
    if any(_SENTINEL.search(str(m.get("content") or "")) for m in messages):
        return None  # the data itself looks like a sentinel
    marked, pieces, owners = with_sentinels(messages)
    skeleton = render(marked, False)
    # Walk the sentinel rendering and the real one together: the template's own text must be
    # equal, and at each sentinel the real text holds the piece (or, in a template that writes
    # it with `tojson`, the piece JSON-escaped).
    at = 0
    here = 0
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for match in _SENTINEL.finditer(skeleton):
        number = int(match.group(1))
        literal = skeleton[at : match.start()]
        if number >= len(pieces) or not owners[number] or not full.startswith(literal, here):
            return None
        here += len(literal)
        piece = pieces[number]
        written = (
            piece
            if full.startswith(piece, here)
            else next((p for p in _spellings(piece) if full.startswith(p, here)), None)
        )
        if written is None:
            return None
        owner = owners[number].pop(0)
        if messages[owner]["role"] != "system":
            first.setdefault(owner, here)
            last[owner] = here + len(written)
        here += len(written)
        at = match.end()
    if full[here:] != skeleton[at:]:
        return None
    order = sorted(first, key=first.__getitem__)
    if order != sorted(first):
        return None  # messages rendered out of order
    spans: list[tuple[int, int, int]] = []
    cursor = 0
    # Where the next message with text of its own begins (first positions rise with the index).
    following = [len(full)] * (len(messages) + 1)
    for index in range(len(messages) - 1, -1, -1):
        following[index] = first.get(index + 1, following[index + 1])
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            if index in last:
                cursor = max(cursor, last[index])
            continue
        bound = following[index]
        if index in first:
            body, tail = first[index], last[index]
        else:  # no text of its own (tool calls only, or empty): its turn lies between its neighbours
            body, tail = None, cursor
        found = _turn(full, cursor, body, tail, bound, shape)
        if found is None:
            return None
        start, end = found
        spans.append((index, start, end))
        cursor = end
    return spans


def _spellings(piece: str) -> tuple[str, ...]:
    escaped = json.dumps(piece, ensure_ascii=False)[1:-1]
    return (piece, escaped, json.dumps(piece)[1:-1]) if escaped != piece else (piece,)


def _turn(full: str, cursor: int, body: int | None, tail: int, bound: int, shape: TurnShape) -> tuple[int, int] | None:
    """Start and end of an assistant turn whose text (if any) is ``full[body:tail]``."""
    before_end = body if body is not None else bound
    region = full[cursor:before_end]
    opener = shape.opener
    if body is not None and shape.generation_prompt.strip() and region.endswith(shape.generation_prompt):
        start = body  # the whole generation prompt (an empty thinking block too) is prompt
    elif opener and (found := region.rfind(opener) if body is not None else region.find(opener)) >= 0:
        start = cursor + found + len(opener)
    elif body is not None:
        # No opener (an answer after tool results): the turn starts with its text, the whitespace
        # before it, or the thinking block before that.
        think = region.rfind(THINK_OPEN)
        start = cursor + think if think >= 0 else cursor + len(region.rstrip())
    else:
        return None
    if body is not None and start > body:
        return None
    # The turn ends with the first end-of-turn text after its own text (a template may write
    # more after it: an empty second turn, Phi's EOS).
    after = max(tail, start)
    if shape.end_of_turn:
        close = full.find(shape.end_of_turn, after, bound)
        end = close + len(shape.end_of_turn) if close >= 0 else after
    else:
        end = after
    return (start, end) if end >= start else None
