"""Which chat template a build renders with: a file, a shipped marked template, or the tokenizer's own
(replaced by the shipped marked template that renders the same text, when there is one, as TRL
does for templates it knows); what the manifest says about it; hints for a tokenizer without one.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftmask.chat.render import GENERATION_TAG, MARKER, ChatRenderer
from sftmask.chat.templates import SHIPPED, read_shipped
from sftmask.errors import ConfigError, RecordRejected, SftmaskError, TokenizerError
from sftmask.limits import read_text_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemplateChoice:
    """The chat template a build renders with, and where it came from (for the manifest)."""

    text: str
    source: str
    """``file PATH``, ``shipped NAME`` or ``tokenizer``."""
    marked_as: str | None = None
    """The shipped marked template used in place of the tokenizer's own (it renders the same)."""

    @property
    def name(self) -> str:
        """How messages name the template: ``--chat-template FILE``, ``the tokenizer's chat template``."""
        if self.source == "tokenizer":
            return "the tokenizer's chat template"
        return f"--chat-template {self.source.split(' ', 1)[1]}"

    def describe(self) -> dict[str, Any]:
        """The manifest entry."""
        entry: dict[str, Any] = {"source": self.source}
        if self.marked_as is not None:
            entry["rendered_as"] = f"shipped {self.marked_as}"
        entry["assistant_spans"] = "generation markers" if GENERATION_TAG.search(self.text) else "located"
        return entry


def own_template(hf: Any) -> str | None:
    """The tokenizer's own (default) chat template, or None."""
    own = getattr(hf, "chat_template", None)
    if isinstance(own, dict):
        own = own.get("default")
    return own if isinstance(own, str) and own else None


def choose_template(
    hf: Any, chat_template: str | None, samples: Sequence[tuple[list[dict[str, Any]], Any]] = (), **options: Any
) -> TemplateChoice:
    """The template for ``--chat-template FILE|NAME``, or the tokenizer's own.

    Without ``--chat-template``, a tokenizer template without markers is replaced by a shipped
    marked one when the two render the same text on `samples` (the first records) and on a few
    built-in conversations (system prompt, several turns, reasoning, a tool call), as TRL does for
    templates it knows.

    A template without markers whose turn shape the renderings do not settle (`TurnShape.doubts`)
    is used all the same, with a warning in the log.

    Raises:
        ConfigError: the template file cannot be read.
        TokenizerError: no template given and the tokenizer has none.
    """
    choice = _choose(hf, chat_template, samples, **options)
    if not GENERATION_TAG.search(choice.text):
        warn_if_unsure(ChatRenderer(hf, choice.text, **options), choice.source)
    return choice


def warn_if_unsure(renderer: ChatRenderer, source: str) -> None:
    """Log a warning for each doubt about the turn shape of an unmarked template (`sftmask.chat.spans`)."""
    shape = renderer.shape
    hint = "check the spans with `sftmask template check`, or add {%% generation %%} markers to the template"
    if shape is None:
        log.warning(
            "chat template (%s) refuses a one-exchange conversation, so every assistant turn is found by prefix "
            "analysis; " + hint,
            source,
        )
        return
    for doubt in shape.doubts:
        log.warning("chat template (%s): %s; " + hint, source, doubt)


def _choose(
    hf: Any, chat_template: str | None, samples: Sequence[tuple[list[dict[str, Any]], Any]] = (), **options: Any
) -> TemplateChoice:
    if chat_template is not None:
        if chat_template in SHIPPED and not Path(chat_template).is_file():
            choice = TemplateChoice(read_shipped(chat_template), f"shipped {chat_template}")
        else:
            template = read_text_file(chat_template, "--chat-template", ConfigError)
            choice = TemplateChoice(template, f"file {chat_template}")
        problems = marker_problems(hf, choice.text)
        if problems:
            log.warning(
                "--chat-template %s writes %s, which %s not a special token of this tokenizer: it is encoded as "
                "plain text, which is not what the model was trained on; use a template with this tokenizer's own "
                "special tokens%s",
                chat_template,
                ", ".join(problems[:6]),
                "is" if len(problems) == 1 else "are",
                _fitting_hint(hf),
            )
        return choice
    own = own_template(hf)
    if own is None:
        raise TokenizerError(_no_template_hint(hf))
    if GENERATION_TAG.search(own) or options.get("template_kwargs"):
        # With template variables (enable_thinking=false) the generation prompt can hold more than
        # a header (an empty thinking block); located spans leave it to the prompt, markers cannot.
        return TemplateChoice(own, "tokenizer")
    conversations = [*PROBE_CONVERSATIONS, *samples]
    mine = ChatRenderer(hf, own, name="the tokenizer's chat template", **options)
    own_texts = []
    for messages, tools in conversations:
        texts = _texts(mine, messages, tools)
        if texts[0] == "limit":  # a template stopped for time or memory is not a known one
            return TemplateChoice(own, "tokenizer")
        own_texts.append(texts)
    for name in SHIPPED:
        shipped = ChatRenderer(hf, read_shipped(name), **options)
        if all(_texts(shipped, m, t) == texts for (m, t), texts in zip(conversations, own_texts, strict=True)):
            return TemplateChoice(shipped.template, "tokenizer", name)
    return TemplateChoice(own, "tokenizer")


def _texts(renderer: ChatRenderer, messages: list[dict[str, Any]], tools: Any) -> tuple[str, str]:
    """The full rendering and the prefix with the generation prompt; ("error", name) when the
    template refuses the conversation, ("limit", why) when it was stopped (`sftmask.limits`)."""
    try:
        return renderer.render(messages, tools), renderer.render(messages[:-1], tools, generation_prompt=True)
    except RecordRejected as exc:
        return "limit", exc.message
    except SftmaskError:  # TemplateTooSlow: stopped for time again and again
        raise
    except Exception as exc:  # a template's raise_exception: a twin must refuse it too
        return "error", type(exc).__name__


_CALL = {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
PROBE_CONVERSATIONS: list[tuple[list[dict[str, Any]], Any]] = [
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], None),
    (
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\n4"},
            {"role": "user", "content": "And 3+3?"},
            {"role": "assistant", "content": "<think>\nAlso easy.\n</think>\n\n6"},
        ],
        None,
    ),
    (
        [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [_CALL]},
            {"role": "tool", "tool_call_id": "call00001", "content": "21 C"},
            {"role": "assistant", "content": "It is 21 C.", "reasoning_content": "The tool said so."},
        ],
        _TOOLS,
    ),
]
"""Conversations on which a shipped template must render like the tokenizer's to replace it."""


def marker_problems(hf: Any, template: str) -> list[str]:
    """The token-like markers a template writes that are not special tokens of the tokenizer
    (they would be encoded as plain text)."""
    known = {str(t) for t in getattr(hf, "all_special_tokens", [])} | {str(t) for t in hf.added_tokens_encoder}
    return [m for m in sorted(set(MARKER.findall(template))) if m not in known]


def fitting_templates(hf: Any) -> list[str]:
    """Shipped templates whose markers are all special tokens of the tokenizer."""
    return [name for name in SHIPPED if not marker_problems(hf, read_shipped(name))]


def _fitting_hint(hf: Any) -> str:
    fits = fitting_templates(hf)
    return f" (shipped templates that fit it: {', '.join(fits)})" if fits else ""


def _no_template_hint(hf: Any) -> str:
    fits = fitting_templates(hf)
    if fits:
        hint = f"e.g. --chat-template {fits[0]}: its markers are this tokenizer's special tokens" + (
            f" (also: {', '.join(fits[1:])})" if len(fits) > 1 else ""
        )
    else:
        hint = (
            "no shipped template's markers are special tokens of this tokenizer (ChatML's <|im_start|> would be "
            "encoded as plain text); write one with the tokenizer's own special tokens"
        )
    return f"the tokenizer has no chat template (or no 'default' one); pass --chat-template FILE or NAME ({hint})"


def pin_today(choice: TemplateChoice, options: dict[str, Any]) -> dict[str, Any]:
    """`options` with the date a template's ``strftime_now`` sees fixed once for the build (today,
    local time, as transformers), so every worker renders the same date and the manifest names it."""
    if options.get("template_date") is None and "strftime_now" in choice.text:
        return {**options, "template_date": datetime.date.today()}
    return options


def chat_manifest(choice: TemplateChoice, options: dict[str, Any]) -> dict[str, Any]:
    """What the manifest records about the chat template: where it came from, how assistant turns
    were found, the reasoning mode, template variables and the date ``strftime_now`` saw.

    Args:
        choice: the template used.
        options: the `ChatRenderer` options the build rendered with (after `pin_today`).
    """
    entry = choice.describe()
    entry["reasoning"] = options["reasoning"]
    if options["template_kwargs"]:
        entry["template_kwargs"] = options["template_kwargs"]
    if "strftime_now" in choice.text and options.get("template_date") is not None:
        entry["date"] = options["template_date"].isoformat()
    return entry
