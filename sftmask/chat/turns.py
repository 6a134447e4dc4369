"""Which message a trained span belongs to, where a non-assistant message's text lies in a
rendering, and the end-of-turn text of trained turns: what message-level training needs beyond the
assistant spans (`sftmask.chat.spans`, generation markers).

- A marked template's ``{% generation %}`` blocks carry no message index: each is given to the
  assistant turn it overlaps most (`attribute`), the turns located as for an unmarked template.
- A trained message of another role (a ``tool`` result, with ``--roles-to-train tool``) is
  trained from the first to the last character of its text as the template writes it, and on to
  the end of its turn when the template closes the turn before the next message begins
  (`contents_with_ends`). Its text is where `sftmask.chat.spans.place_pieces` finds it: the
  conversation rendered again with each message's text replaced by a sentinel, which with the
  texts put back (as they are or JSON-escaped, for a template that writes them with ``tojson``)
  must equal the real rendering.
- ``--train-on-eos``: a trained turn's end-of-turn text is left out of its span
  (`cut_turn_ends`), for every turn or all but the last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sftmask.chat.spans import Render, place_pieces

Span = tuple[int, int]


def attribute(blocks: Sequence[Span], regions: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(message index, start, end) of each block: the region (index, start, end) it overlaps most,
    else the last region starting before it, else the first region."""
    if not regions:
        return []
    out = []
    for start, end in blocks:
        best = max(regions, key=lambda r: min(end, r[2]) - max(start, r[1]))
        if min(end, best[2]) - max(start, best[1]) <= 0:
            before = [r for r in regions if r[1] <= start]
            best = before[-1] if before else regions[0]
        out.append((best[0], start, end))
    return out


def cut_turn_ends(text: str, spans: Sequence[Span], end_of_turn: str, *, keep_last: bool) -> list[Span]:
    """`spans` without the end-of-turn text they end with (all of them, or all but the last one
    ending with it when `keep_last`); spans left empty are dropped."""
    if not end_of_turn:
        return list(spans)
    ending = [i for i, (s, e) in enumerate(spans) if e - s >= len(end_of_turn) and text.endswith(end_of_turn, s, e)]
    keep = ending[-1] if keep_last and ending else None
    out = []
    for i, (start, end) in enumerate(spans):
        if i in ending and i != keep:
            end -= len(end_of_turn)
        if end > start:
            out.append((start, end))
    return out


def contents_with_ends(
    messages: Sequence[dict[str, Any]],
    wanted: Sequence[int],
    full: str,
    render: Render,
    end_of_turn: str,
    turn_starts: Sequence[int],
) -> dict[int, Span] | None:
    """The span of each wanted (non-assistant) message in ``full``, its rendering: from its text's
    first character to its last (where `sftmask.chat.spans.place_pieces` finds them), and on through
    `end_of_turn` when that follows before the next message's text or turn (`turn_starts`: where
    the assistant turns begin). A message with no text has no span. None when the texts cannot be
    located: the template changes them, or a wanted message's content is a list of parts it loops
    over (no one text to find).
    """
    if any(isinstance(messages[k].get("content"), list) and messages[k]["content"] for k in wanted):
        return None
    placed = place_pieces(messages, full, render)
    if placed is None:
        return None
    found = {k: (placed.first[k], placed.last[k]) for k in placed.first}
    systems = [k for k, m in enumerate(messages) if m["role"] == "system" and str(m.get("content") or "").strip()]
    if any(messages[k]["role"] == "system" for k in wanted):
        if len(systems) != len(placed.system):
            return None  # system texts written more than once, or merged: which is which is unknown
        found |= dict(zip(systems, placed.system, strict=True))
    starts = sorted([start for start, _ in found.values()] + [start for start, _ in placed.system] + list(turn_starts))
    out = {}
    for index in wanted:
        if index not in found:
            continue
        start, end = found[index]
        bound = next((s for s in starts if s >= end), len(full))
        close = full.find(end_of_turn, end, bound) if end_of_turn else -1
        out[index] = (start, close + len(end_of_turn) if close >= 0 else end)
    return out
