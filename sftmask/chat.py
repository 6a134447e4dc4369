"""Chat data: conversations rendered by a chat template, with each assistant turn's span found.

A conversation is rendered to text by the tokenizer's chat template (or ``--chat-template``),
exactly as ``apply_chat_template(messages, tokenize=False)`` renders it; the texts of a batch
are then encoded by the Rust tokenizer without adding special tokens, which is what
``apply_chat_template(messages, tokenize=True)`` does. Assistant turns are character spans of
the rendered text, mapped to tokens with the encoder's offsets:

- with ``{% generation %}`` markers in the template, the spans are what the markers enclose;
- without them, each assistant turn ``k`` spans from the end of
  ``render(messages[:k], add_generation_prompt=True)`` to the end of ``render(messages[:k+1])``
  in the full rendering, minus trailing whitespace (the ``\\n`` a template writes after
  ``<|im_end|>`` is between turns, not part of one). Both prefixes must be prefixes of the full
  rendering; a template for which they are not cannot be analysed and the record is reported.

A token is trained when it lies between the token holding a span's first character and the
token holding its last character, as in ``apply_chat_template(return_assistant_tokens_mask=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sftmask.errors import ConfigError, RecordRejected, TokenizerError
from sftmask.normalform import Encoder
from sftmask.ragged import BoolArray, IntArray, Ragged

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
SHAREGPT_ROLES |= {"tool": "tool", "function_call": "assistant", "observation": "tool"}
MESSAGE_FORMATS: dict[str, tuple[str, str, dict[str, str]]] = {
    "openai": ("role", "content", {role: role for role in ROLES}),
    "sharegpt": ("from", "value", SHAREGPT_ROLES),
}
"""Format name -> (role key, content key, role name -> role)."""

REASON_INVALID_CONVERSATION = "invalid-conversation"
REASON_UNKNOWN_ROLE = "unknown-role"
REASON_NOT_A_STRING = "not-a-string"
REASON_NO_FINAL_ASSISTANT = "no-final-assistant-turn"
REASON_CHAT_TEMPLATE = "chat-template"

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


@dataclass(frozen=True)
class MessageFormat:
    """How conversation records spell roles and content."""

    role_key: str
    content_key: str
    roles: dict[str, str]

    @classmethod
    def named(cls, name: str, role_key: str | None = None, content_key: str | None = None) -> MessageFormat:
        default_role, default_content, roles = MESSAGE_FORMATS[name]
        return cls(role_key or default_role, content_key or default_content, roles)


def parse_messages(value: Any, fmt: MessageFormat) -> list[dict[str, Any]]:
    """Validate a decoded conversation and turn it into OpenAI-style messages.

    Other keys of a message (``tool_calls``, ``name``, ...) are kept for the template.

    Raises:
        RecordRejected: not a non-empty list of messages, an unknown role, or content that is
            not a string (``null`` content is allowed only beside ``tool_calls``).
    """
    if not isinstance(value, list):
        kind = "null" if value is None else type(value).__name__
        raise RecordRejected(REASON_INVALID_CONVERSATION, f"conversation is {kind}, not a list of messages")
    if not value:
        raise RecordRejected(REASON_INVALID_CONVERSATION, "conversation is empty")
    messages = []
    for number, message in enumerate(value, start=1):
        if not isinstance(message, dict):
            raise RecordRejected(
                REASON_INVALID_CONVERSATION, f"message {number} is {type(message).__name__}, not an object"
            )
        name = message.get(fmt.role_key)
        role = fmt.roles.get(name) if isinstance(name, str) else None
        if role is None:
            known = ", ".join(fmt.roles)
            got = f"role {name!r}" if fmt.role_key in message else f"no {fmt.role_key!r} key"
            raise RecordRejected(REASON_UNKNOWN_ROLE, f"message {number} has {got}; roles are {known}")
        content = message.get(fmt.content_key)
        if not isinstance(content, str) and not (content is None and message.get("tool_calls")):
            kind = "missing" if fmt.content_key not in message else type(content).__name__
            kind = "null" if content is None and fmt.content_key in message else kind
            raise RecordRejected(
                REASON_NOT_A_STRING, f"message {number} ({name}): {fmt.content_key!r} is {kind}, not a string"
            )
        rest = {k: v for k, v in message.items() if k not in (fmt.role_key, fmt.content_key) and v is not None}
        messages.append({"role": role, "content": content, **rest} if content is not None else {"role": role, **rest})
    return messages


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

    def __init__(self, hf: Any, template: str) -> None:
        try:
            import jinja2  # noqa: F401  (transformers renders chat templates with it)
        except ImportError as exc:
            raise ConfigError("chat templates need jinja2: pip install 'jinja2>=3.1'") from exc
        from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

        try:
            _compile_jinja_template(template)
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise ConfigError(f"chat template does not compile: {' '.join(str(exc).split())}") from exc
        self._render_jinja: Any = render_jinja_template  # annotated "-> str", returns (texts, indices)
        self.template = template
        self.has_markers = bool(_GENERATION_TAG.search(template))
        # apply_chat_template passes the special tokens (bos_token, eos_token, ...) to the template.
        self._kwargs: dict[str, Any] = dict(hf.special_tokens_map)

    def render(self, messages: Sequence[dict[str, Any]], tools: Any = None, *, generation_prompt: bool = False) -> str:
        """The text ``apply_chat_template(messages, tools=tools, tokenize=False)`` returns."""
        texts, _ = self._render_jinja(
            conversations=[list(messages)],
            tools=tools,
            chat_template=self.template,
            add_generation_prompt=generation_prompt,
            **self._kwargs,
        )
        return texts[0]  # type: ignore[no-any-return]

    def analyse(self, messages: list[dict[str, Any]], tools: Any = None, *, final_turn: bool = False) -> Rendered:
        """Render a conversation and find its assistant spans (see the module docstring).

        Args:
            messages: parsed messages.
            tools: tool schemas for the template, or None.
            final_turn: also find the spans of the final message (for last-turn masking).

        Raises:
            RecordRejected: the template fails on the conversation, or cannot be analysed.
        """
        try:
            if self.has_markers:
                texts, indices = self._render_jinja(
                    conversations=[messages],
                    tools=tools,
                    chat_template=self.template,
                    return_assistant_tokens_mask=True,
                    **self._kwargs,
                )
                full, spans = texts[0], [(s, e) for s, e in indices[0] if e > s]
                last: list[tuple[int, int]] = []
                if final_turn:
                    # The final turn's blocks are those after the rest of the conversation.
                    before = self.render(messages[:-1], tools, generation_prompt=True)
                    _check_prefix(full, before, len(messages) - 1, generation_prompt=True)
                    last = [span for span in spans if span[0] >= len(before)]
                return Rendered(full, spans, last)
            return self._analyse_prefixes(messages, tools)
        except RecordRejected:
            raise
        except Exception as exc:  # jinja2 errors and the template's own raise_exception(...)
            reason = " ".join(str(exc).split())[:200]
            raise RecordRejected(REASON_CHAT_TEMPLATE, f"chat template failed on this conversation: {reason}") from exc

    def _analyse_prefixes(self, messages: list[dict[str, Any]], tools: Any) -> Rendered:
        full = self.render(messages, tools)
        spans = []
        last: list[tuple[int, int]] = []
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
            turn = [(start, end)] if end > start else []
            spans += turn
            if k == len(messages) - 1:
                last = turn
        return Rendered(full, spans, last)


def _check_prefix(full: str, prefix: str, count: int, *, generation_prompt: bool) -> None:
    """Raise when rendering the first `count` messages does not give a prefix of the full text."""
    if full.startswith(prefix):
        return
    at = next((i for i, (a, b) in enumerate(zip(prefix, full, strict=False)) if a != b), len(full))
    what = f"the first {count} messages" + (" with add_generation_prompt" if generation_prompt else "")
    raise RecordRejected(
        REASON_CHAT_TEMPLATE,
        f"chat template cannot be analysed: rendering {what} is not a prefix of rendering the whole "
        f"conversation (they differ at character {at}: {prefix[at : at + 24]!r} vs {full[at : at + 24]!r}), "
        "so the assistant turns cannot be located; add {% generation %} ... {% endgeneration %} around "
        "assistant content in the template and pass it with --chat-template FILE",
    )


CHAT_TEMPLATE_DIR = Path(__file__).resolve().parent / "builtin_templates" / "chat"
"""Shipped chat templates (package data): ``--chat-template chatml`` is ``chat/chatml.jinja`` there."""


def available_chat_templates() -> list[str]:
    """Names of the shipped chat templates."""
    return sorted(p.stem for p in CHAT_TEMPLATE_DIR.glob("*.jinja"))


def resolve_chat_template(name_or_file: str) -> Path:
    """The Jinja file of ``--chat-template``: a file path, or the name of a shipped template.

    Raises:
        ConfigError: neither a file nor a shipped name.
    """
    path = Path(name_or_file)
    if path.is_file():
        return path
    shipped = CHAT_TEMPLATE_DIR / f"{name_or_file}.jinja"
    if path.name == name_or_file and shipped.is_file():
        return shipped
    raise ConfigError(
        f"chat template file not found: {name_or_file}; pass a Jinja file or a shipped name: "
        + ", ".join(available_chat_templates())
    )


def load_renderer(hf: Any, chat_template: str | None) -> ChatRenderer:
    """A renderer for ``--chat-template FILE_OR_NAME``, or for the tokenizer's own chat template.

    Raises:
        ConfigError: the template file cannot be found or read.
        TokenizerError: no file given and the tokenizer has no chat template.
    """
    if chat_template is not None:
        try:
            template = resolve_chat_template(chat_template).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--chat-template {chat_template}: cannot read: {exc.strerror or exc}") from exc
        return ChatRenderer(hf, template)
    own = getattr(hf, "chat_template", None)
    if isinstance(own, dict):
        own = own.get("default")
    if not isinstance(own, str) or not own:
        raise TokenizerError(
            "the tokenizer has no chat template (or no 'default' one); pass --chat-template FILE, or a "
            f"shipped one: {', '.join(available_chat_templates())}"
        )
    return ChatRenderer(hf, own)


@dataclass(frozen=True)
class ChatEncoding:
    """A batch of conversations as token rows with assistant and last-turn masks."""

    ids: Ragged
    assistant: BoolArray
    last_turn: BoolArray
    invalid: dict[int, tuple[str, str]]


def encode_conversations(
    encoder: Encoder,
    renderer: ChatRenderer,
    conversations: Sequence[list[dict[str, Any]] | None],
    tools: Sequence[Any],
    *,
    invalid: dict[int, tuple[str, str]],
    need_final_assistant: bool,
) -> ChatEncoding:
    """Render, tokenize and mask a batch of parsed conversations (None: already invalid)."""
    texts: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    last_spans: list[list[tuple[int, int]]] = []
    for row, messages in enumerate(conversations):
        rendered = None
        if messages is not None:
            try:
                if need_final_assistant and messages[-1]["role"] != "assistant":
                    raise RecordRejected(
                        REASON_NO_FINAL_ASSISTANT,
                        f"conversation ends with a {messages[-1]['role']} turn; --strategy last-turn trains "
                        "the final assistant turn, so the last message must be an assistant's",
                    )
                rendered = renderer.analyse(messages, tools[row], final_turn=need_final_assistant)
            except RecordRejected as exc:
                invalid[row] = (exc.reason, exc.message)
        texts.append(rendered.text if rendered else "")
        spans.append(rendered.spans if rendered else [])
        last_spans.append(rendered.last if rendered else [])
    encodings = encoder.encode_batch(texts, add_special_tokens=False, offsets=True) if texts else []
    ids = Ragged.from_lists([enc.ids for enc in encodings])
    token_ends = np.fromiter((end for enc in encodings for _, end in enc.offsets), np.int64, len(ids.values))
    assistant = spans_to_mask(ids, texts, token_ends, spans)
    last = spans_to_mask(ids, texts, token_ends, last_spans)
    return ChatEncoding(ids, assistant, last, invalid)


def spans_to_mask(
    ids: Ragged, texts: Sequence[str], token_ends: IntArray, spans: Sequence[Sequence[tuple[int, int]]]
) -> BoolArray:
    """Token mask of character spans, for a whole batch at once.

    Rows are laid end to end on one character axis so a single ``searchsorted`` finds, for
    every span, the tokens holding its first and last characters.
    """
    n_tokens = len(ids.values)
    mask = np.zeros(n_tokens, dtype=np.bool_)
    counts = np.fromiter((len(s) for s in spans), np.int64, len(spans))
    if not counts.sum():
        return mask
    base = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts], out=base[1:])
    global_ends = np.repeat(base[:-1], ids.lengths) + token_ends
    np.maximum.accumulate(global_ends, out=global_ends)
    flat = np.array([pair for row in spans for pair in row], dtype=np.int64).reshape(-1, 2)
    rows = np.repeat(np.arange(len(spans)), counts)
    row_start, row_end = ids.offsets[rows], ids.offsets[rows + 1]
    first = np.searchsorted(global_ends, base[rows] + flat[:, 0], side="right")
    last = np.searchsorted(global_ends, base[rows] + flat[:, 1] - 1, side="right")
    first = np.clip(first, row_start, row_end)
    last = np.clip(last, row_start, row_end - 1)
    keep = first <= last
    delta = np.zeros(n_tokens + 1, dtype=np.int64)
    np.add.at(delta, first[keep], 1)
    np.add.at(delta, last[keep] + 1, -1)
    mask = np.cumsum(delta[:-1]) > 0
    return mask


def decode_json(text: str | None) -> Any:
    """A JSON text column value (None when the field was absent)."""
    return None if text is None else orjson.loads(text)
