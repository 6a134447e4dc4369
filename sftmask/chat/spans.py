"""Assistant spans of a template without ``{% generation %}`` markers, found in the final rendering.

Published chat templates render a conversation's earlier turns differently from how they render
a prefix of it (reasoning stripped from earlier turns, an empty thinking block in the generation
prompt, the system prompt moved into the last user turn, EOS written at the very end), so the
spans are located in the FINAL rendering instead of being read off prefix renderings:

1. The conversation is rendered twice: as it is, and with every piece of message text (a
   message's text, or in an assistant's each run of text between ``<think>``/``</think>`` tags,
   without its surrounding whitespace)
   replaced by a unique sentinel ``<stem><n>Z``, whose stem the real rendering does not contain
   (``Sx7q``, or another one for a conversation that holds it). The sentinel rendering, with the
   pieces put back, must equal the real rendering exactly; so each sentinel's place in it is
   where that piece of text is in the real rendering, and everything between sentinels is the
   template's own text (`place_pieces`).
2. What a template writes around an assistant turn is learned once per template from probe
   conversations (`learn_shape`), all from renderings:
   - the generation prompt: ``render([user], add_generation_prompt=True)`` past the rendering
     without it;
   - the role header: the part of the generation prompt that every assistant turn of the
     probes starts with (a plain answer, an earlier turn, an empty one, a tool call); a template
     without one (Mistral's ``[/INST]answer``, Command-R7B's header written after every
     conversation) has an opener instead: what the probes' turns all follow after a user's text;
   - the end of a turn: what the template writes after an assistant's text in every context
     (at the end of the rendering, before a user turn, before the generation prompt), up to the
     next turn's header (whose first special token is the one a rendering opens with, or the
     generation prompt's), without trailing whitespace; two special tokens
     (``<|END_RESPONSE|><|END_OF_TURN_TOKEN|>``) when the template writes two. Where the
     renderings do not settle it, the shape says so in ``doubts`` (a build warns).
3. Assistant turn ``k`` starts after the last role header before its first piece, and past as
   much of the rest of the generation prompt as the rendering repeats there: what the
   generation prompt writes (``<think>\\n\\n</think>\\n\\n``, ``<think>\\n``) is prompt, and the
   model's own text after it is trained (reasoning inside a thinking block the prompt opens
   follows ``--reasoning``). After tool results, where no header is written, it starts at the
   whitespace before its text. It ends with the first end-of-turn text after its last piece,
   before the next message's first piece; a turn the template writes again right after it with
   the same header (DeepSeek-R1's empty turn after tool calls) is a second span of the same
   message. A turn with no text of its own (tool calls only) that no end-of-turn text closes
   before the next message (Gemma 4's tool call, followed by the tool's response inside the same
   model turn) ends where rendering the conversation up to it ends. What the template writes
   after that (Phi-3.5's EOS) and the newline between turns are not part of it.

When the sentinel rendering differs from the real one (a template that looks inside the text,
e.g. JSON-escapes it) or a turn cannot be placed, `locate_spans` returns None and the caller
falls back to prefix analysis. Two renderings per conversation: linear in its length.
"""

from __future__ import annotations

import functools
import itertools
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

STEM = "Sx7q"
"""The sentinel stem a conversation gets when it does not contain it."""
_TAGS = re.compile(f"({re.escape(THINK_OPEN)}|{re.escape(THINK_CLOSE)})")

Render = Callable[[Sequence[dict[str, Any]], bool], str]
"""render(messages, add_generation_prompt) -> text."""
RenderTools = Callable[[Sequence[dict[str, Any]], Any], str]
"""render(messages, tools) -> text (no generation prompt)."""


@dataclass(frozen=True)
class TurnShape:
    """What a template writes around an assistant turn, learned from probe conversations."""

    generation_prompt: str
    """The text ``add_generation_prompt`` appends (may open a thinking block)."""
    header: str
    """The part of the generation prompt every assistant turn starts with (may be empty)."""
    end_of_turn: str
    """The text a turn ends with (``<|im_end|>``, ``<|eot_id|>``, ``</s>``,
    ``<|END_RESPONSE|><|END_OF_TURN_TOKEN|>``...); may be empty."""
    opener: str
    """What an assistant turn follows: the header, or for a template without one (Mistral's
    ``[INST] ... [/INST]answer``) the text between a user's content and the answer's."""
    prompt_tokens: tuple[str, ...] = ()
    """The special tokens the generation prompt writes (a turn repeats the prompt token by token)."""
    trailer: str = ""
    """What the template writes after the last turn of every conversation (Phi-3.5's EOS,
    Command-R7B's next header), without surrounding whitespace."""
    doubts: tuple[str, ...] = ()
    """What the probes could not settle (each a sentence for a warning)."""


def sentinel(stem: str, number: int) -> str:
    """The sentinel standing for piece `number`."""
    return f"{stem}{number}Z"


@functools.lru_cache(maxsize=16)
def _sentinel_pattern(stem: str) -> re.Pattern[str]:
    return re.compile(f"{re.escape(stem)}(\\d+)Z")


def choose_stem(text: str) -> str:
    """A sentinel stem that `text` does not contain (`STEM` unless it does)."""
    if STEM not in text:
        return STEM
    return next(stem for n in itertools.count(1) if (stem := f"S{n}x7q") not in text)


_PROBE_CALL = {
    "id": "call00001",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
}
_PROBE_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def learn_shape(
    render: Render,
    special_tokens: Sequence[str],
    *,
    bos_token: str | None = None,
    render_tools: RenderTools | None = None,
) -> TurnShape:
    """Probe a template with a few short conversations (see the module docstring).

    Args:
        render: renders messages (without tools), with or without the generation prompt.
        special_tokens: the special tokens the template writes (a cut never splits one).
        bos_token: the tokenizer's BOS token (a rendering's first token, not a turn's).
        render_tools: renders messages with tools (for the tool-call probe), when available.

    Raises:
        Exception: whatever the template raises on a one-exchange conversation.
    """
    s = [sentinel(STEM, n) for n in range(6)]
    user = {"role": "user", "content": s[0]}
    answer = {"role": "assistant", "content": s[1]}
    with_prompt = render([user], True)
    without = render([user], False)
    full = render([user, answer], False)
    cut = _aligned(with_prompt, _common_prefix(with_prompt, without), special_tokens)
    prompt = with_prompt[cut:]
    doubts: list[str] = []

    def attempt(make: Callable[[], str]) -> str | None:
        try:
            return make()
        except Exception:  # the template refuses this probe (a role it lacks, tools): fewer probes
            return None

    later = attempt(lambda: render([user, answer, {"role": "user", "content": s[2]}], False))
    earlier = attempt(
        lambda: render([user, answer, {"role": "user", "content": s[2]}, {**answer, "content": s[3]}], False)
    )
    empty = attempt(lambda: render([user, {"role": "assistant", "content": ""}], False))
    call: list[dict[str, Any]] = [user, {"role": "assistant", "content": "", "tool_calls": [_PROBE_CALL]}]
    call += [{"role": "tool", "tool_call_id": "call00001", "content": s[4]}, {"role": "assistant", "content": s[5]}]
    tool = attempt(lambda: render_tools(call, _PROBE_TOOLS)) if render_tools is not None else None
    turns = [t for t in (full, earlier, empty, tool) if t is not None]

    # The role header: the generation prompt as far as every probe's assistant turn repeats it.
    header = ""
    if prompt:
        reach = [_common_prefix(prompt, t[cut:]) for t in turns if t.startswith(with_prompt[:cut]) and t[cut : cut + 1]]
        reach = [r for r in reach if r > 0]
        if reach:
            header = prompt[: _aligned(prompt, min(reach), special_tokens)]
        for opener in THINKING_OPENERS:
            header = header.split(opener)[0]
        header = header if header.strip() else ""
    # A template without one: what every probe's first assistant turn follows after the user's text.
    follows = [t[t.find(s[0]) + len(s[0]) :] for t in (*turns, without) if s[0] in t]
    follows = [f for f in follows if f.strip()]
    opener = header if header.strip() else _common_start(follows, special_tokens).rstrip()
    # The end: what follows the answer in every context, up to the next turn's header.
    contexts = [full, later, attempt(lambda: render([user, answer], True))]
    after = [c[c.find(s[1]) + len(s[1]) :] for c in contexts if c is not None and s[1] in c]
    end = _common_start(after, special_tokens)
    openers = {
        t
        for t in (_first_special(without, special_tokens, bos_token), _first_special(prompt, special_tokens, None))
        if t
    }
    for token in openers:
        if token in end:
            end = end[: end.index(token)]
    end = end.rstrip()
    if len(after) < 2:
        doubts.append(
            "the end of an assistant turn was learned from one rendering only (the template refused the others)"
        )
    elif not end and after[0].strip():
        doubts.append(
            f"what the template writes after an assistant's text depends on what follows it ({after[0][:40]!r} in one "
            f"rendering, {after[1][:40]!r} in another), so no end-of-turn text is trained"
        )
    if not opener:
        doubts.append(
            "no text was found that an assistant turn follows (a role header), so each turn starts at its own text"
        )
    trailer = after[0][len(end) :].strip() if after and after[0].startswith(end) else ""
    tokens = tuple(t for t in special_tokens if t and t in prompt)
    return TurnShape(prompt, header, end, opener, tokens, trailer, tuple(doubts))


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _common_start(texts: Sequence[str], special_tokens: Sequence[str]) -> str:
    """The longest start all `texts` share, not ending inside a special token."""
    if not texts:
        return ""
    first = texts[0]
    n = min((_common_prefix(first, t) for t in texts[1:]), default=len(first))
    return first[: _aligned(first, n, special_tokens)]


def _first_special(text: str, special_tokens: Sequence[str], skip: str | None) -> str | None:
    """The first special token written in `text` (other than `skip`, the BOS)."""
    found = [(text.find(t), -len(t), t) for t in special_tokens if t and t != skip and t in text]
    return min(found)[2] if found else None


def _aligned(text: str, cut: int, special_tokens: Sequence[str]) -> int:
    """Move a cut back to the start of a special token it falls inside."""
    moved = True
    while moved:
        moved = False
        for token in special_tokens:
            start = text.rfind(token, max(0, cut - len(token) + 1), cut + len(token) - 1)
            if start >= 0 and start < cut < start + len(token):
                cut, moved = start, True
    return cut


def with_sentinels(
    messages: Sequence[dict[str, Any]], stem: str = STEM
) -> tuple[list[dict[str, Any]], list[str], list[list[int]]]:
    """Messages with their text pieces replaced by sentinels ``<stem><n>Z``.

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
        # An assistant's thinking tags stay (templates take its reasoning apart at them); in any
        # other message they are text like the rest.
        assistant = messages[owner]["role"] == "assistant"
        for part in _TAGS.split(text) if assistant else [text]:
            if assistant and part in (THINK_OPEN, THINK_CLOSE):
                out.append(part)
                continue
            core = part.strip()
            if core:
                lead = part[: len(part) - len(part.lstrip())]
                trail = part[len(part.rstrip()) :]
                out.append(f"{lead}{sentinel(stem, len(pieces))}{trail}")
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


@dataclass(frozen=True)
class Placement:
    """Where each message's text is in the real rendering (character offsets)."""

    first: dict[int, int]
    """Message index -> where its first piece starts (system messages are left out)."""
    last: dict[int, int]
    """Message index -> where its last piece ends."""
    system: tuple[tuple[int, int], ...] = ()
    """Where the system messages' pieces are (a template may write them anywhere, e.g. inside the
    last user turn): text that a header or turn end found in a gap between turns must not be in."""


def place_pieces(messages: Sequence[dict[str, Any]], full: str, render: Render) -> Placement | None:
    """Each message's text located in ``full``, its real rendering (step 1 of the module
    docstring); None when the sentinel rendering does not match it."""
    stem = choose_stem(full)
    marked, pieces, owners = with_sentinels(messages, stem)
    skeleton = render(marked, False)
    # Walk the sentinel rendering and the real one together: the template's own text must be
    # equal, and at each sentinel the real text holds the piece (or, in a template that writes
    # it with `tojson`, the piece JSON-escaped).
    at = 0
    here = 0
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    system: list[tuple[int, int]] = []
    for match in _sentinel_pattern(stem).finditer(skeleton):
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
        else:
            system.append((here, here + len(written)))
        here += len(written)
        at = match.end()
    if full[here:] != skeleton[at:]:
        return None
    if sorted(first, key=first.__getitem__) != sorted(first):
        return None  # messages rendered out of order
    return Placement(first, last, tuple(system))


def locate_spans(
    messages: Sequence[dict[str, Any]], full: str, render: Render, shape: TurnShape
) -> list[tuple[int, int, int]] | None:
    """(message index, start, end) of each assistant turn in ``full``, or None when not found.

    ``full`` is the real rendering of ``messages``; spans are character offsets into it. A message
    may have two spans (a turn the template writes twice); a span may be empty.
    """
    placed = place_pieces(messages, full, render)
    if placed is None:
        return None
    first, last = placed.first, placed.last
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
            found = _turn(full, cursor, first[index], last[index], bound, shape, placed.system)
        else:  # no text of its own (tool calls only, or empty): its turn lies between its neighbours
            found = _textless_turn(messages, index, full, cursor, bound, render, shape, placed.system)
        if found is None:
            return None
        start, end = found
        spans.append((index, start, end))
        cursor = end
        # The same turn written again right after it (DeepSeek-R1's empty turn after tool calls).
        nxt = messages[index + 1]["role"] if index + 1 < len(messages) else None
        while shape.header and shape.end_of_turn and nxt != "assistant":
            gap = len(full[cursor:bound]) - len(full[cursor:bound].lstrip())
            if _find(full, shape.header, cursor + gap, cursor + gap + len(shape.header), placed.system) < 0:
                break
            start = _past_prompt(full, cursor + gap + len(shape.header), bound, shape)
            close = _find(full, shape.end_of_turn, start, bound, placed.system)
            if close < 0:
                break
            spans.append((index, start, close + len(shape.end_of_turn)))
            cursor = close + len(shape.end_of_turn)
    return spans


def _spellings(piece: str) -> tuple[str, ...]:
    escaped = json.dumps(piece, ensure_ascii=False)[1:-1]
    return (piece, escaped, json.dumps(piece)[1:-1]) if escaped != piece else (piece,)


def _past_prompt(full: str, at: int, limit: int, shape: TurnShape) -> int:
    """`at` (just past a role header) moved past the rest of the generation prompt, as far as
    the rendering repeats it before `limit`: what the generation prompt writes is prompt."""
    rest = shape.generation_prompt[len(shape.header) :] if shape.generation_prompt.startswith(shape.header) else ""
    return at + _aligned(rest, _common_prefix(full[at:limit], rest), shape.prompt_tokens)


Spans = Sequence[tuple[int, int]]


def _find(full: str, text: str, start: int, end: int, skip: Spans, *, last: bool = False) -> int:
    """Where `text` is in ``full[start:end]`` (the first or the `last` place), outside the `skip`
    spans (system messages' text); -1 when nowhere."""
    while True:
        at = full.rfind(text, start, end) if last else full.find(text, start, end)
        inside = next((e for s, e in skip if at >= 0 and s < at + len(text) and at < e), None)
        if inside is None:
            return at
        if last:
            end = at + len(text) - 1
        else:
            start = at + 1


def _turn(
    full: str, cursor: int, body: int, tail: int, bound: int, shape: TurnShape, skip: Spans = ()
) -> tuple[int, int] | None:
    """Start and end of an assistant turn whose text is ``full[body:tail]``."""
    region = full[cursor:body]
    if shape.header and (found := _find(full, shape.header, cursor, body, skip, last=True)) >= 0:
        start = _past_prompt(full, found + len(shape.header), body, shape)
    elif not shape.header and shape.opener and (found := _find(full, shape.opener, cursor, body, skip, last=True)) >= 0:
        start = found + len(shape.opener)
    else:
        # No header (an answer after tool results): the turn starts with its text, the whitespace
        # before it, or the thinking block before that.
        think = region.rfind(THINK_OPEN)
        start = cursor + think if think >= 0 else cursor + len(region.rstrip())
    if start > body:
        return None
    return start, _end(full, max(tail, start), bound, shape, skip)


def _textless_turn(
    messages: Sequence[dict[str, Any]],
    index: int,
    full: str,
    cursor: int,
    bound: int,
    render: Render,
    shape: TurnShape,
    skip: Spans = (),
) -> tuple[int, int] | None:
    """Start and end of an assistant turn with no text of its own, between ``cursor`` and ``bound``.

    Rendering the conversation up to it, when that is a prefix of ``full``, tells where it ends
    (several such turns can lie between two texts: an empty answer after tool results, then a
    user's empty question and another empty answer).
    """
    upto = _rendering_up_to(messages, index, full, render, shape)
    if upto is not None and cursor <= upto <= bound:
        bound = upto
    region = full[cursor:bound]
    opener = shape.header or shape.opener
    found = _find(full, opener, cursor, bound, skip) - cursor if opener else -1
    if found < 0:
        found = -1
    close = (
        _find(full, shape.end_of_turn, cursor, cursor + found if found >= 0 else bound, skip, last=True) - cursor
        if shape.end_of_turn
        else -1
    )
    close = close if close >= 0 else -1
    if (
        index > 0
        and messages[index - 1]["role"] == "tool"
        and close >= 0
        and (found < 0 or region[close + len(shape.end_of_turn) : found].strip())
    ):
        # An answer without text after tool results, where no header is written (another turn
        # follows before the next header): its end of turn, and the whitespace or thinking block
        # before it.
        think = region.rfind(THINK_OPEN, 0, close)
        start = think if think >= 0 else len(region[:close].rstrip())
        return cursor + start, cursor + close + len(shape.end_of_turn)
    if found < 0:
        return None
    start = cursor + found + len(opener)
    if shape.header:
        start = _past_prompt(full, start, bound, shape)
    if shape.end_of_turn and _find(full, shape.end_of_turn, start, bound, skip) >= 0:
        return start, _end(full, start, bound, shape, skip)
    # Nothing closes it before the next message's text: it ends where rendering the
    # conversation up to it ends (Gemma 4's tool call, then the tool's response in the same turn).
    if upto is None or not start <= upto <= bound:
        return None
    return start, upto


def _rendering_up_to(
    messages: Sequence[dict[str, Any]], index: int, full: str, render: Render, shape: TurnShape
) -> int | None:
    """Where rendering ``messages[: index + 1]`` ends in ``full`` (without trailing whitespace and
    the template's trailer), or None when that rendering is not a prefix of ``full``."""
    try:
        upto = render(messages[: index + 1], False).rstrip()
    except Exception:  # the template refuses a conversation ending here
        return None
    if shape.trailer and upto.endswith(shape.trailer) and not full.startswith(upto):
        upto = upto[: -len(shape.trailer)].rstrip()
    return len(upto) if full.startswith(upto) else None


def _end(full: str, after: int, bound: int, shape: TurnShape, skip: Spans = ()) -> int:
    """The end of a turn: the first end-of-turn text after ``after`` (before ``bound``)."""
    if shape.end_of_turn:
        close = _find(full, shape.end_of_turn, after, bound, skip)
        if close >= 0:
            return close + len(shape.end_of_turn)
    return after
