"""Chat templates: conversations rendered to text and tokens, with each assistant turn's span found.

A conversation is rendered to text by the chosen chat template (`sftmask.chat.choice`),
exactly as ``apply_chat_template(messages, tokenize=False)`` renders it; the texts of a batch
are then encoded by the Rust tokenizer (`sftmask.chat.encode`) without adding special tokens, which is what
``apply_chat_template(messages, tokenize=True)`` does. Assistant turns are character spans of
the rendered text, mapped to tokens with the encoder's offsets:

- with ``{% generation %}`` markers in the template, the spans are what the markers enclose;
- without them, the spans are located in the final rendering (`sftmask.chat.spans`: the
  conversation rendered again with sentinel contents), so templates that render earlier turns
  differently from a prefix (reasoning stripped, an empty thinking block in the generation
  prompt, the system prompt moved, EOS at the end) still give each turn's tokens as rendered;
- where that is ambiguous, by prefix analysis: turn ``k`` spans from the end of
  ``render(messages[:k], add_generation_prompt=True)`` to the end of ``render(messages[:k+1])``,
  minus trailing whitespace; both must be prefixes of the full rendering, else the record is
  reported. Last-turn spans need only ``render(messages[:-1], add_generation_prompt=True)``.

A token is trained when it lies between the token holding a span's first character and the
token holding its last character, as in ``apply_chat_template(return_assistant_tokens_mask=True)``.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sftmask import limits, reasons
from sftmask.chat.content import content_format, template_content
from sftmask.chat.sandbox import (
    REASONING_FIELDS,
    TEMPLATE_INPUTS,
    check_tools,
    compile_template,
    plain_data,
    render,
    template_messages,
)
from sftmask.chat.spans import THINK_CLOSE, THINK_OPEN, TurnShape, learn_shape, locate_spans, place_pieces
from sftmask.chat.turns import Span, attribute, contents_with_ends, cut_turn_ends
from sftmask.config.common import Reasoning
from sftmask.config.options import TrainOnEos
from sftmask.errors import ConfigError, RecordRejected, SftmaskError
from sftmask.limits import (
    RenderLimitExceeded,
    RenderMemoryExceeded,
    RenderSizeExceeded,
    RenderTimeExceeded,
    render_limit,
)

GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
MARKER = re.compile(r"<\|[^|<>\s'\"]+\|>|<\uff5c[^\uff5c<>\s'\"]+\uff5c>|\[/?[A-Z_]{3,}\]|<(?:start|end)_of_turn>")
"""Special-token-like text in a template: <|im_start|>, DeepSeek's full-width bars, [INST], <start_of_turn>."""


@dataclass(frozen=True)
class Rendered:
    """A conversation rendered to text, with its assistant turns as character spans."""

    text: str
    spans: list[tuple[int, int]]
    """Non-empty (start, end) character spans of the assistant turns, in order."""
    last: list[tuple[int, int]]
    """The spans of the final message when it is an assistant turn (when asked for)."""


class ChatRenderer:
    """Renders conversations with one chat template and finds their assistant spans."""

    def __init__(
        self,
        hf: Any,
        template: str,
        *,
        template_kwargs: dict[str, Any] | None = None,
        reasoning: Reasoning = "train",
        template_date: datetime.date | None = None,
        max_rendered_chars: int | None = None,
        name: str = "the chat template",
    ) -> None:
        self._compiled = _compile(template)
        self.template = template
        self.content_format = content_format(template)
        """How the template takes a list of content parts (`sftmask.chat.content`)."""
        self.name = name
        """How error messages name the template (``--chat-template FILE``, the tokenizer's)."""
        self._timeouts = 0
        """Renderings in a row stopped for time (`limits.RENDER_TIMEOUTS_IN_A_ROW` stop the build)."""
        self._rendered_template = template
        self.has_markers = bool(GENERATION_TAG.search(template))
        self.reasoning = reasoning
        self.max_rendered_chars = max_rendered_chars
        self.uses_date = "strftime_now" in template
        self.date = template_date or datetime.date.today()  # as transformers: local time
        # apply_chat_template passes the special tokens (bos_token, eos_token, ...) to the template,
        # and any other keyword (enable_thinking=False, ...) as a template variable.
        self.template_kwargs = dict(template_kwargs or {})
        taken = sorted(set(self.template_kwargs) & set(TEMPLATE_INPUTS))
        if taken:
            raise ConfigError(f"--template-kwargs cannot set {', '.join(taken)}: the build passes them to the template")
        self._kwargs: dict[str, Any] = plain_data(dict(hf.special_tokens_map) | self.template_kwargs)
        if self.uses_date:
            # transformers turns callables passed to a template into strings, so the pinned date is
            # written into the template: each strftime_now("FORMAT") becomes its value that day.
            template = _pin_date(template, self.date)
            self._rendered_template = template
            self._compiled = _compile(template)
        # The special tokens the template itself writes (a Mistral vocabulary has hundreds of controls).
        names = {str(t) for t in getattr(hf, "all_special_tokens", [])} | {str(t) for t in hf.added_tokens_encoder}
        self._special = sorted(t for t in names if t and (t in template or t in self._kwargs.values()))
        # and the token-like markers it writes, which another tokenizer may lack (a warning says so).
        self.literal_markers = sorted(set(MARKER.findall(template)))
        self._special += [t for t in self.literal_markers if t not in self._special]
        self._shape: TurnShape | None = None
        self._probed = False

    def render(self, messages: Sequence[dict[str, Any]], tools: Any = None, *, generation_prompt: bool = False) -> str:
        """The text ``apply_chat_template(messages, tools=tools, tokenize=False)`` returns."""
        return self._jinja(messages, tools, generation_prompt=generation_prompt)[0]

    def _jinja(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Any,
        *,
        generation_prompt: bool = False,
        spans_wanted: bool = False,
    ) -> tuple[str, list[tuple[int, int]]]:
        """The rendering of one conversation as ``apply_chat_template`` renders it (`sftmask.chat.sandbox`),
        with the spans of its generation blocks when `spans_wanted` (as transformers'
        ``return_assistant_tokens_mask`` finds them), within the time and memory limits of
        `sftmask.limits.render_limit` and `max_rendered_chars`.

        Raises:
            RecordRejected: a limit was reached (reason ``chat-template``).
            TemplateTooSlow: `limits.RENDER_TIMEOUTS_IN_A_ROW` renderings in a row ran out of time.
        """
        check_tools(tools)
        variables = {
            "messages": template_messages(template_content(list(messages), self.content_format)),
            "tools": tools,
            "documents": None,
            "add_generation_prompt": generation_prompt,
            **self._kwargs,
        }
        try:
            with render_limit():
                text, spans = render(self._compiled, variables, spans=spans_wanted)
        except RenderTimeExceeded:
            self._timeouts += 1
            if self._timeouts >= limits.RENDER_TIMEOUTS_IN_A_ROW:
                raise TemplateTooSlow(
                    f"{self.name} took more than {limits.RENDER_SECONDS:g} s on each of {self._timeouts} "
                    "conversations in a row, so the build stopped: the template is the problem, not the data "
                    "(a loop that does not end?); fix the template or choose another with --chat-template"
                ) from None
            raise RecordRejected(
                reasons.CHAT_TEMPLATE,
                f"chat template stopped: rendering this conversation took more than {limits.RENDER_SECONDS:g} s "
                "(a loop that does not end?); fix the template",
            ) from None
        except (RenderMemoryExceeded, MemoryError):  # MemoryError: past the address-space cap of render_limit
            raise RecordRejected(
                reasons.CHAT_TEMPLATE,
                f"chat template stopped: rendering this conversation took more than "
                f"{limits.RENDER_MEMORY_BYTES / 2**20:,.0f} MiB of memory; fix the template",
            ) from None
        except RenderSizeExceeded as exc:
            raise RecordRejected(reasons.CHAT_TEMPLATE, f"chat template stopped: {exc}; fix the template") from None
        self._timeouts = 0
        if self.max_rendered_chars is not None and len(text) > self.max_rendered_chars:
            raise RecordRejected(
                reasons.CHAT_TEMPLATE,
                f"chat template wrote {len(text):,} characters for this conversation, more than "
                f"{self.max_rendered_chars:,} (4 x --max-chars); fix the template, or raise --max-chars",
            )
        return text, spans

    @property
    def shape(self) -> TurnShape | None:
        """What the template writes around an assistant turn (probed once; None when the template
        refuses the probe conversation, and then spans come from prefix analysis)."""
        if not self._probed:
            self._probed = True
            try:
                self._shape = learn_shape(
                    lambda m, g: self.render(m, generation_prompt=g),
                    self._special,
                    bos_token=self._kwargs.get("bos_token"),
                    render_tools=lambda m, t: self.render(m, t),
                )
            except SftmaskError:
                raise
            except Exception:  # the template's raise_exception on a one-exchange conversation
                self._shape = None
        return self._shape

    def analyse(
        self,
        messages: list[dict[str, Any]],
        tools: Any = None,
        *,
        final_turn: bool = False,
        train: Sequence[bool] | None = None,
        train_on_eos: TrainOnEos = "turn",
    ) -> Rendered:
        """Render a conversation and find its assistant spans (see the module docstring).

        Args:
            messages: parsed messages.
            tools: tool schemas for the template, or None.
            final_turn: also find the spans of the final message (for last-turn masking).
            train: per message, whether its turn is trained (None: every assistant turn, and no
                other); a trained message of another role is trained from its text to its turn's end.
            train_on_eos: ``turn``: each trained turn keeps its end-of-turn text; ``last``: only the
                last one does; ``none``: none does.

        Raises:
            RecordRejected: the template fails on the conversation, or cannot be analysed.
        """
        messages = template_content(messages, self.content_format)
        if self.reasoning == "drop":
            messages = [drop_reasoning(m) for m in messages]
        try:
            if train is None:
                rendered = self._analyse(messages, tools, final_turn=final_turn)
            else:
                rendered = self._analyse_messages(messages, tools, list(train), final_turn=final_turn)
        except (RecordRejected, SftmaskError):
            raise
        except Exception as exc:  # jinja2 errors and the template's own raise_exception(...)
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise RecordRejected(reasons.CHAT_TEMPLATE, f"chat template failed on this conversation: {reason}") from exc
        if self.reasoning == "mask" and train is None:
            rendered = Rendered(
                rendered.text,
                _after_reasoning(rendered.text, rendered.spans),
                _after_reasoning(rendered.text, rendered.last),
            )
        if train_on_eos != "turn":
            end = self.turn_end
            rendered = Rendered(
                rendered.text,
                cut_turn_ends(rendered.text, rendered.spans, end, keep_last=train_on_eos == "last"),
                cut_turn_ends(rendered.text, rendered.last, end, keep_last=train_on_eos == "last"),
            )
        return rendered

    @property
    def turn_end(self) -> str:
        """The text that ends an assistant turn (``<|im_end|>``, ``<|eot_id|>``...), as the probe
        conversation shows it; empty when the template writes none or refuses the probe."""
        return self.shape.end_of_turn if self.shape is not None else ""

    def _analyse_messages(
        self, messages: list[dict[str, Any]], tools: Any, train: list[bool], *, final_turn: bool
    ) -> Rendered:
        """Spans of the messages `train` names: assistant turns as `_analyse` finds them, told
        apart by message; other messages from their text to their turn's end."""
        full, turns = self._assistant_turns(messages, tools)
        by_message: dict[int, list[Span]] = {}
        for index, start, end in turns:
            by_message.setdefault(index, []).append((start, end))
        others = [k for k, message in enumerate(messages) if train[k] and message["role"] != "assistant"]
        if others:
            located = contents_with_ends(
                messages,
                others,
                full,
                lambda m, g: self.render(m, tools, generation_prompt=g),
                self.turn_end,
                [start for _, start, _ in turns],
            )
            if located is None:
                roles = ", ".join(sorted({messages[k]["role"] for k in others}))
                raise RecordRejected(
                    reasons.CHAT_TEMPLATE,
                    f"chat template cannot be analysed: the text of the {roles} messages to train cannot be "
                    "located in its rendering (it is written more than once, changed, or is not a string)",
                )
            for k, span in located.items():
                by_message[k] = [span]
        trained: dict[int, list[Span]] = {}
        for k, spans in by_message.items():
            if not train[k]:
                continue
            if self.reasoning == "mask" and messages[k]["role"] == "assistant":
                spans = _after_reasoning(full, spans)
            trained[k] = spans
        spans = sorted(span for turn in trained.values() for span in turn)
        last = trained.get(len(messages) - 1, []) if final_turn else []
        return Rendered(full, spans, last)

    def _assistant_turns(self, messages: list[dict[str, Any]], tools: Any) -> tuple[str, list[tuple[int, int, int]]]:
        """The rendering and the non-empty spans of the assistant turns, each with its message
        index: a marked template's generation blocks, each given to the assistant turn it lies in."""
        if self.has_markers:
            full, blocks = self._jinja(messages, tools, spans_wanted=True)
            regions = self._locate(messages, tools, full)
            if regions is None:
                regions = self._prefix_regions(messages, tools, full)
            return full, attribute([(s, e) for s, e in blocks if e > s], regions)
        full = self.render(messages, tools)
        located = self._locate(messages, tools, full)
        if located is not None:
            return full, [(i, s, e) for i, s, e in located if e > s]
        return full, self._prefix_turns(messages, tools, full)

    def _prefix_regions(self, messages: list[dict[str, Any]], tools: Any, full: str) -> list[tuple[int, int, int]]:
        """Each assistant message's part of the rendering, from prefix renderings: from the end of
        the messages before it to the end of it."""
        regions = []
        for k, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            start = 0
            if k:
                before = self.render(messages[:k], tools)
                _check_prefix(full, before, k, generation_prompt=False)
                start = len(before)
            after = self.render(messages[: k + 1], tools)
            _check_prefix(full, after, k + 1, generation_prompt=False)
            regions.append((k, start, len(after)))
        return regions

    def _analyse(self, messages: list[dict[str, Any]], tools: Any, *, final_turn: bool) -> Rendered:
        if self.has_markers:
            full, indices = self._jinja(messages, tools, spans_wanted=True)
            spans = [(s, e) for s, e in indices if e > s]
            last: list[tuple[int, int]] = []
            if final_turn:
                # The final turn's blocks: those from where its turn starts (located as in a template
                # without markers), or after the text of the rest of the conversation.
                def render(m: Sequence[dict[str, Any]], g: bool) -> str:
                    return self.render(m, tools, generation_prompt=g)

                located = locate_spans(messages, full, render, self.shape) if self.shape is not None else None
                placed = place_pieces(messages, full, render) if not located else None
                if located and located[-1][0] == len(messages) - 1:
                    begin = min(start for i, start, _ in located if i == len(messages) - 1)
                    last = [span for span in spans if span[1] > begin]
                elif placed is not None:
                    begin = max((end for i, end in placed.last.items() if i < len(messages) - 1), default=0)
                    last = [span for span in spans if span[0] >= begin]
                else:  # a template that changes the text it writes (neither verbatim nor JSON-escaped)
                    before = self.render(messages[:-1], tools, generation_prompt=True)
                    _check_prefix(full, before, len(messages) - 1, generation_prompt=True)
                    last = [span for span in spans if span[1] > len(before)]
            return Rendered(full, spans, last)
        full = self.render(messages, tools)
        located = self._locate(messages, tools, full)
        if located is not None:
            turns = [(start, end) for _, start, end in located if end > start]
            final = [(s, e) for i, s, e in located if i == len(messages) - 1 and e > s]
            return Rendered(full, turns, final)
        if final_turn:
            return self._analyse_final_prefix(messages, tools, full)
        return self._analyse_prefixes(messages, tools, full)

    def _locate(self, messages: list[dict[str, Any]], tools: Any, full: str) -> list[tuple[int, int, int]] | None:
        if self.shape is None:
            return None
        return locate_spans(messages, full, lambda m, g: self.render(m, tools, generation_prompt=g), self.shape)

    def _analyse_final_prefix(self, messages: list[dict[str, Any]], tools: Any, full: str) -> Rendered:
        """Last-turn spans from the one prefix that matters: all but the final message."""
        before = self.render(messages[:-1], tools, generation_prompt=True)
        _check_prefix(full, before, len(messages) - 1, generation_prompt=True)
        start, end = len(before), len(full)
        while end > start and full[end - 1].isspace():
            end -= 1
        turn = [(start, end)] if end > start else []
        return Rendered(full, turn, turn)

    def _analyse_prefixes(self, messages: list[dict[str, Any]], tools: Any, full: str) -> Rendered:
        turns = self._prefix_turns(messages, tools, full)
        last = [(s, e) for i, s, e in turns if i == len(messages) - 1]
        return Rendered(full, [(s, e) for _, s, e in turns], last)

    def _prefix_turns(self, messages: list[dict[str, Any]], tools: Any, full: str) -> list[tuple[int, int, int]]:
        """Assistant turn ``k`` from the end of ``render(messages[:k], add_generation_prompt=True)``
        to the end of ``render(messages[:k+1])``, less trailing whitespace (non-empty ones)."""
        turns = []
        for k, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self.render(messages[:k], tools, generation_prompt=True)
            _check_prefix(full, before, k, generation_prompt=True)
            after = self.render(messages[: k + 1], tools)
            _check_prefix(full, after, k + 1, generation_prompt=False)
            start, end = len(before), len(after)
            while end > start and full[end - 1].isspace():
                end -= 1
            if end > start:
                turns.append((k, start, end))
        return turns


class TemplateTooSlow(ConfigError):
    """Renderings in a row ran out of time: the template, not the data, is the problem."""


_COMPILE_FAILURES: dict[str, str] = {}
"""Template text -> why it did not compile (compiling it again would pay the same time again)."""


def _compile(template: str) -> Any:
    """The compiled template (`sftmask.chat.sandbox.compile_template`), within the render limits.
    Compiled templates are cached (by `compile_template`), and so are templates that failed.

    Raises:
        ConfigError: it does not compile, or compiling ran past the time or memory limit.
    """
    failure = _COMPILE_FAILURES.get(template)
    if failure is not None:
        raise ConfigError(failure)
    try:
        with render_limit():  # Jinja computes constant expressions when compiling
            return compile_template(template)
    except (RenderLimitExceeded, MemoryError) as exc:
        failure = (
            f"chat template stopped while compiling: it took more than {limits.RENDER_SECONDS:g} s or "
            f"{limits.RENDER_MEMORY_BYTES / 2**20:,.0f} MiB of memory ({type(exc).__name__}); fix the template"
        )
    except Exception as exc:  # jinja2.TemplateSyntaxError and friends
        failure = f"chat template does not compile: {' '.join(str(exc).split()) or type(exc).__name__}"
    if len(_COMPILE_FAILURES) >= 32:
        _COMPILE_FAILURES.clear()
    _COMPILE_FAILURES[template] = failure
    raise ConfigError(failure)


_STRFTIME = re.compile(r"""strftime_now\(\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\)""")


def _pin_date(template: str, date: datetime.date) -> str:
    """The template with each ``strftime_now("FORMAT")`` call replaced by its value on `date`.

    Raises:
        ConfigError: a call whose format is not a string literal (its value cannot be pinned).
    """
    moment = datetime.datetime.combine(date, datetime.time())
    pinned = _STRFTIME.sub(lambda m: json.dumps(moment.strftime(m.group(1) or m.group(2) or "")), template)
    if re.search(r"strftime_now\s*\(", pinned):
        raise ConfigError(
            "the chat template calls strftime_now with a format that is not a string literal, so its date cannot "
            "be pinned; edit the template to use a literal format or a date variable (--template-kwargs)"
        )
    return pinned


_THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


def drop_reasoning(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant message without its reasoning (``<think>`` blocks and reasoning fields)."""
    if message["role"] != "assistant":
        return message
    kept = {k: v for k, v in message.items() if k not in REASONING_FIELDS}
    content = kept.get("content")
    if isinstance(content, str) and THINK_CLOSE in content:
        # A template's own rule: what follows the last </think> is the answer.
        kept["content"] = _THINK_BLOCK.sub("", content) if THINK_OPEN in content else content.split(THINK_CLOSE)[-1]
        kept["content"] = kept["content"].lstrip()
    return kept


def _after_reasoning(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans without the reasoning they start with (up to the last ``</think>`` and whitespace)."""
    out = []
    for start, end in spans:
        close = text.rfind(THINK_CLOSE, start, end)
        if close >= 0:
            start = close + len(THINK_CLOSE)
            while start < end and text[start].isspace():
                start += 1
        if end > start:
            out.append((start, end))
    return out


def _check_prefix(full: str, prefix: str, count: int, *, generation_prompt: bool) -> None:
    """Raise when rendering the first `count` messages does not give a prefix of the full text."""
    if full.startswith(prefix):
        return
    at = next((i for i, (a, b) in enumerate(zip(prefix, full, strict=False)) if a != b), len(full))
    what = f"the first {count} messages" + (" with add_generation_prompt" if generation_prompt else "")
    raise RecordRejected(
        reasons.CHAT_TEMPLATE,
        f"chat template cannot be analysed: rendering {what} is not a prefix of rendering the whole "
        f"conversation (they differ at character {at}: {prefix[at : at + 24]!r} vs {full[at : at + 24]!r}), "
        "so the assistant turns cannot be located; add {% generation %} ... {% endgeneration %} around "
        "assistant content in the template and pass it with --chat-template FILE",
    )
