"""`sftmask template check`: do a chat template's assistant spans agree with a second opinion?

A template with ``{% generation %}`` markers is compared with itself without them (the spans
sftmask finds in the rendering, see `sftmask.chat.spans`); a template without markers is compared
with the shipped marked template that renders the same text, when there is one. Both sides are
rendered and tokenized as `sftmask build` does; the comparison is per token, assistant-only and
last-turn.

A template without markers and without a twin is checked on what can be checked without one
(`self_check`): each located span starts after the role header (or after tool results) and ends
with the turn's end; the rendering of each prefix of the conversation is a prefix of the whole,
and where it is, prefix analysis gives the same turn; which conversations fall back to prefix
analysis, and whether that works.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sftmask import limits
from sftmask.chat.encode import encode_conversations
from sftmask.chat.render import ChatRenderer
from sftmask.chat.spans import locate_spans
from sftmask.errors import ConfigError, RecordRejected, SftmaskError
from sftmask.tokenization.normalform import Encoder

_TAGS = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")


@dataclass(frozen=True)
class Disagreement:
    """One conversation on which the two sides differ."""

    index: int
    """Position of the conversation among those checked (0-based)."""
    strategy: str
    tokens: list[tuple[str, bool, bool]]
    """Each token, and whether the template side and the other side train it."""


@dataclass
class TemplateReport:
    """What `check_template` found."""

    compared_with: str
    conversations: int = 0
    agreed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    """Reason -> conversations one side could not render or analyse (the other did)."""
    both_failed: int = 0
    """Conversations neither side renders (the template refuses them: e.g. a role it lacks)."""
    disagreements: list[Disagreement] = field(default_factory=list)
    checked: dict[str, list[int]] = field(default_factory=dict)
    """Without a twin: what was checked -> [conversations or turns that pass, checked]."""
    problems: list[str] = field(default_factory=list)
    """Without a twin: where a check fails (a sentence each, the first few of each check)."""
    notes: list[str] = field(default_factory=list)
    """Without a twin: what could not be checked (a sentence each, the first few)."""

    @property
    def ok(self) -> bool:
        """The sides agree on every conversation both could render (without a twin: every check passes)."""
        return not self.disagreements and not self.failed and not self.problems


def strip_markers(template: str) -> str:
    """The template without its ``{% generation %}`` / ``{% endgeneration %}`` tags."""
    return _TAGS.sub("", template)


def check_template(
    hf: Any,
    encoder: Encoder,
    template: str,
    conversations: Sequence[tuple[list[dict[str, Any]], Any]],
    *,
    shipped: dict[str, str] | None = None,
    name: str = "the template",
    seconds: float | None = None,
    **options: Any,
) -> TemplateReport:
    """Compare a template's assistant spans with a second opinion (see the module docstring).

    Args:
        hf: the Hugging Face tokenizer.
        encoder: its encoder (``LoadedTokenizer.full_encoder``).
        template: the template text.
        conversations: (messages, tools) pairs to render.
        shipped: name -> text of marked templates to compare an unmarked template with.
        name: how messages name the template.
        seconds: stop after this long (default `sftmask.limits.CHECK_SECONDS`).
        options: `ChatRenderer` options (template_kwargs, reasoning, template_date).

    A template without markers that renders like no shipped template is checked without a twin
    (`self_check`).

    Raises:
        ConfigError: checking took longer than `seconds` (`TemplateTooSlow` when renderings in a
            row ran out of time).
    """
    deadline = time.monotonic() + (limits.CHECK_SECONDS if seconds is None else seconds)

    def in_time(checked: int) -> None:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"template check stopped: {name} took more than "
                f"{limits.CHECK_SECONDS if seconds is None else seconds:g} s to check {checked} of "
                f"{len(conversations)} conversations (real templates take milliseconds each); fix the template"
            )

    mine = ChatRenderer(hf, template, name=name, **options)
    found: ChatRenderer | None = None
    if mine.has_markers:
        found = ChatRenderer(hf, strip_markers(template), name=f"{name} without its markers", **options)
        compared_with = "the same template without its generation markers (spans located by sftmask)"
    else:
        for shipped_name, text in (shipped or {}).items():
            candidate = ChatRenderer(hf, text, **options)
            for messages, tools in conversations[:20]:
                in_time(0)
                if not _renders_same(mine, candidate, messages, tools):
                    break
            else:
                found, compared_with = candidate, f"the shipped marked template {shipped_name!r}"
                break
        if found is None:
            return self_check(mine, conversations, in_time)
    other = found
    report = TemplateReport(compared_with)
    for index, (messages, tools) in enumerate(conversations):
        in_time(index)
        report.conversations += 1
        results = []
        for strategy_last in (False, True):
            invalid_a: dict[int, tuple[str, str]] = {}
            invalid_b: dict[int, tuple[str, str]] = {}
            a = encode_conversations(
                encoder, mine, [messages], [tools], invalid=invalid_a, need_final_assistant=strategy_last
            )
            b = encode_conversations(
                encoder, other, [messages], [tools], invalid=invalid_b, need_final_assistant=strategy_last
            )
            if invalid_a and invalid_b:
                results.append("both-failed")
                continue
            if invalid_a or invalid_b:
                reason = (invalid_a or invalid_b)[0][0]
                side = "template" if invalid_a else "other"
                results.append(f"{side}: {reason}")
                continue
            mask_a = a.last_turn if strategy_last else a.assistant
            mask_b = b.last_turn if strategy_last else b.assistant
            if a.ids.values.tolist() != b.ids.values.tolist() or mask_a.tolist() != mask_b.tolist():
                tokens = hf.convert_ids_to_tokens(a.ids.values.tolist())
                pairs = list(zip(tokens, mask_a.tolist(), mask_b.tolist(), strict=False))
                strategy = "last-turn" if strategy_last else "assistant-only"
                report.disagreements.append(Disagreement(index, strategy, pairs))
                results.append("differ")
            else:
                results.append("agree")
        if all(r == "agree" for r in results):
            report.agreed += 1
        elif all(r == "both-failed" for r in results):
            report.both_failed += 1
        for r in results:
            if ":" in r:
                report.failed[r] = report.failed.get(r, 0) + 1
    return report


def _renders_same(a: ChatRenderer, b: ChatRenderer, messages: list[dict[str, Any]], tools: Any) -> bool:
    try:
        return a.render(messages, tools) == b.render(messages, tools)
    except SftmaskError:  # TemplateTooSlow
        raise
    except Exception:  # a template's raise_exception: not the same template as one that renders
        return False


_EXAMPLES = 3
"""Problems reported per check (the counts say how many there are)."""


def self_check(
    renderer: ChatRenderer,
    conversations: Sequence[tuple[list[dict[str, Any]], Any]],
    in_time: Callable[[int], None] = lambda checked: None,
) -> TemplateReport:
    """Check an unmarked template's spans on what can be checked without a twin (module docstring)."""
    report = TemplateReport(
        "what can be checked without a marked twin: role headers, turn ends, prefix renderings, prefix analysis"
    )
    shape = renderer.shape
    if shape is None:
        report.problems.append(
            "the template refuses a one-exchange conversation, so no turn shape is learned: every conversation "
            "falls back to prefix analysis"
        )
    else:
        report.problems += [f"turn shape: {doubt}" for doubt in shape.doubts]
    seen: dict[str, int] = {}

    def tally(what: str, passed: bool, problem: str = "", *, note: bool = False) -> None:
        counts = report.checked.setdefault(what, [0, 0])
        counts[0] += passed
        counts[1] += 1
        if not passed and problem and seen.get(what, 0) < _EXAMPLES:
            seen[what] = seen.get(what, 0) + 1
            (report.notes if note else report.problems).append(problem)

    for index, (messages, tools) in enumerate(conversations):
        in_time(index)
        report.conversations += 1
        where = f"conversation {index + 1}"
        try:
            full = renderer.render(messages, tools)
        except Exception:  # the template refuses the conversation (a role it lacks, ...): nothing to check
            report.both_failed += 1
            continue

        def render(m: Sequence[dict[str, Any]], g: bool, tools: Any = tools) -> str:
            return renderer.render(m, tools, generation_prompt=g)

        located = locate_spans(messages, full, render, shape) if shape is not None else None
        if shape is None or located is None:
            try:
                renderer.analyse(messages, tools, final_turn=messages[-1]["role"] == "assistant")
                outcome = "gives spans (check them with a marked twin)"
            except RecordRejected as exc:
                outcome = f"rejects it: {exc.message[:160]}"
            tally(
                "conversations whose spans are located in the rendering (not by prefix analysis)",
                False,
                f"{where} falls back to prefix analysis, which {outcome}",
            )
            continue
        tally("conversations whose spans are located in the rendering (not by prefix analysis)", True)
        previous = 0
        turns: dict[int, tuple[int, int]] = {}
        for k, start, end in located:
            turns[k] = (min(start, turns.get(k, (start, end))[0]), end)
            after_tool = k > 0 and messages[k - 1]["role"] == "tool"
            tally(
                "assistant turns that start right after the role header (or after tool results)",
                start == end
                or after_tool
                or full[previous:start].endswith(shape.opener)
                or _past_header(full, previous, start, shape.header, shape.generation_prompt),
                f"{where}, message {k + 1}: the turn starts at {full[max(0, start - 30) : start + 20]!r}, not right after "
                f"{(shape.header or shape.opener)!r}",
            )
            tally(
                "assistant turns that end with the turn end (or where rendering up to them ends)",
                start == end
                or not shape.end_of_turn
                or full[start:end].endswith(shape.end_of_turn)
                or _rendering_ends(render, messages[: k + 1], full, shape.trailer) == end,
                f"{where}, message {k + 1}: the turn ends at {full[max(0, end - 30) : end + 20]!r}, not with "
                f"{shape.end_of_turn!r}",
            )
            previous = end
        for k, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            try:
                before = render(messages[:k], True)
                upto = render(messages[: k + 1], False)
            except Exception:  # a template that refuses a conversation ending there
                tally(
                    "prefix renderings the whole rendering starts with",
                    False,
                    f"{where}: the template refuses the first {k} messages",
                    note=True,
                )
                continue
            prefix = full.startswith(before) and full.startswith(_less_trailer(upto, shape.trailer, full))
            tally(
                "prefix renderings the whole rendering starts with",
                prefix,
                f"{where}, message {k + 1}: rendering the messages up to it is not a prefix of the whole "
                "(the template writes earlier turns differently), so only the located span is checked",
                note=True,
            )
            if prefix and k in turns:
                end = len(_less_trailer(upto, shape.trailer, full))
                span = (len(before), end)
                tally(
                    "turns where prefix analysis gives the located span",
                    span == turns[k],
                    f"{where}, message {k + 1}: located {full[turns[k][0] : turns[k][1]]!r}, prefix analysis "
                    f"{full[span[0] : span[1]]!r}",
                )
    return report


def _rendering_ends(render: Any, messages: list[dict[str, Any]], full: str, trailer: str) -> int:
    """Where rendering `messages` ends in `full` (-1: it is not a prefix of it, or fails)."""
    try:
        upto = _less_trailer(render(messages, False), trailer, full)
    except Exception:  # the template refuses a conversation ending there
        return -1
    return len(upto) if full.startswith(upto) else -1


def _past_header(full: str, previous: int, start: int, header: str, prompt: str) -> bool:
    """The turn starts after a role header and what it repeats of the generation prompt."""
    found = full.rfind(header, previous, start) if header else -1
    return found >= 0 and prompt.startswith(full[found:start])


def _less_trailer(text: str, trailer: str, full: str) -> str:
    """A prefix rendering without trailing whitespace, and without what the template writes after every
    conversation when the whole rendering continues otherwise."""
    text = text.rstrip()
    if trailer and text.endswith(trailer) and not full.startswith(text):
        text = text[: -len(trailer)].rstrip()
    return text
