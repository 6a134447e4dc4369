"""`sftmask template check`: do a chat template's assistant spans agree with a second opinion?

A template with ``{% generation %}`` markers is compared with itself without them (the spans
sftmask finds in the rendering, see `sftmask.chat.spans`); a template without markers is compared
with the shipped marked template that renders the same text, when there is one. Both sides are
rendered and tokenized as `sftmask build` does; the comparison is per token, assistant-only and
last-turn.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sftmask import limits
from sftmask.chat.render import ChatRenderer, encode_conversations
from sftmask.errors import ConfigError, SftmaskError
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

    @property
    def ok(self) -> bool:
        """The sides agree on every conversation both could render."""
        return not self.disagreements and not self.failed


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

    Raises:
        ConfigError: the template has no markers and no shipped template renders like it, or
            checking took longer than `seconds` (`TemplateTooSlow` when renderings in a row ran
            out of time).
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
            raise ConfigError(
                "the template has no {% generation %} markers and renders like no shipped marked template, so there "
                "is nothing to compare it with; add markers around what the model writes and check again"
            )
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
