"""Chat templates: conversations rendered to text and tokens, with each assistant turn's span found.

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

from sftmask import reasons
from sftmask.errors import ConfigError, RecordRejected, TokenizerError
from sftmask.limits import read_text_file
from sftmask.normalform import Encoder
from sftmask.ragged import BoolArray, IntArray, Ragged
from sftmask.strategies import EncodedBatch, first_true
from sftmask.text_cuts import encode_bounded, gap_cut
from sftmask.tokenizer import LoadedTokenizer

_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


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
            raise RecordRejected(reasons.CHAT_TEMPLATE, f"chat template failed on this conversation: {reason}") from exc

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
        reasons.CHAT_TEMPLATE,
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
        template = read_text_file(resolve_chat_template(chat_template), "--chat-template", ConfigError)
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
    max_length: int | None = None,
) -> ChatEncoding:
    """Render, tokenize and mask a batch of parsed conversations (None: already invalid).

    With `max_length`, a long conversation is encoded only up to its first trained token and
    ``max_length + 1`` tokens more (`text_cuts.encode_bounded`): what truncation can keep.
    """
    texts: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    last_spans: list[list[tuple[int, int]]] = []
    for row, messages in enumerate(conversations):
        rendered = None
        if messages is not None:
            try:
                if need_final_assistant and messages[-1]["role"] != "assistant":
                    raise RecordRejected(
                        reasons.NO_FINAL_ASSISTANT,
                        f"conversation ends with a {messages[-1]['role']} turn; --strategy last-turn trains "
                        "the final assistant turn, so the last message must be an assistant's",
                    )
                rendered = renderer.analyse(messages, tools[row], final_turn=need_final_assistant)
            except RecordRejected as exc:
                invalid[row] = (exc.reason, exc.message)
        texts.append(rendered.text if rendered else "")
        spans.append(rendered.spans if rendered else [])
        last_spans.append(rendered.last if rendered else [])
    encodings = _encode_rendered(encoder, texts, last_spans if need_final_assistant else spans, max_length)
    ids = Ragged.from_lists([enc.ids for enc in encodings])
    token_ends = np.fromiter((end for enc in encodings for _, end in enc.offsets), np.int64, len(ids.values))
    assistant = spans_to_mask(ids, texts, token_ends, spans)
    last = spans_to_mask(ids, texts, token_ends, last_spans)
    return ChatEncoding(ids, assistant, last, invalid)


def _encode_rendered(
    encoder: Encoder, texts: list[str], trained: Sequence[Sequence[tuple[int, int]]], max_length: int | None
) -> list[Any]:
    """Encodings (with offsets) of rendered texts, each cut where what truncation keeps ends:
    ``max_length + 1`` tokens past the first trained character (the prompt is kept whole)."""
    if not texts:
        return []
    if max_length is None:
        return encoder.encode_batch(texts, add_special_tokens=False, offsets=True)
    floor = np.array([min((start for start, _ in row), default=0) for row in trained], dtype=np.int64)

    def encode(rows: IntArray, heads: list[str]) -> list[Any]:
        return encoder.encode_batch(heads, add_special_tokens=False, offsets=True)

    def counted(encodings: list[Any], which: IntArray) -> IntArray:
        # Offsets only of the rows that were cut: tokens ending past the row's floor.
        return np.array(
            [sum(1 for _, end in encodings[i].offsets if end > floor[i]) for i in which.tolist()], dtype=np.int64
        )

    def replace(encodings: list[Any], rows: IntArray, new: list[Any]) -> list[Any]:
        out = list(encodings)
        for row, encoding in zip(rows.tolist(), new, strict=True):
            out[row] = encoding
        return out

    need = np.full(len(texts), max_length + 1, dtype=np.int64)
    return encode_bounded(texts, need, lambda: gap_cut(encoder.tokenizer), encode, counted, replace, floor)


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


_renderers: dict[tuple[int, str | None], tuple[Any, ChatRenderer]] = {}


def _renderer(tok: LoadedTokenizer, chat_template: str | None) -> ChatRenderer:
    key = (id(tok.hf), chat_template)
    cached = _renderers.get(key)
    if cached is None or cached[0] is not tok.hf:
        cached = _renderers[key] = (tok.hf, load_renderer(tok.hf, chat_template))
    return cached[1]


def encode_chat_batch(
    tok: LoadedTokenizer,
    chat_template: str | None,
    conversations: list[list[dict[str, Any]] | None],
    tools: list[Any],
    invalid: dict[int, tuple[str, str]],
    *,
    last_turn: bool,
    max_length: int | None = None,
) -> EncodedBatch:
    """Render and tokenize parsed conversations (None: already invalid) into an `EncodedBatch`.

    Sets ``assistant_mask``, and ``last_turn_mask`` when `last_turn` (a conversation must then
    end on an assistant turn). The prompt (what prompt truncation shortens) is everything before
    the first trained token. With `max_length`, a long conversation is encoded only as far as
    truncation can keep.
    """
    enc = encode_conversations(
        tok.full_encoder,
        _renderer(tok, chat_template),
        conversations,
        tools,
        invalid=invalid,
        need_final_assistant=last_turn,
        max_length=max_length,
    )
    prompt_len = first_true(enc.ids, enc.last_turn if last_turn else enc.assistant)
    # Prompt truncation keeps a BOS the template writes; ChatML's <|im_start|> is not kept.
    prompt_head = np.zeros(len(enc.ids), dtype=np.int64)
    nonempty = enc.ids.lengths > 0
    if tok.hf.bos_token_id is not None and nonempty.any():
        first_ids = enc.ids.values[enc.ids.offsets[:-1][nonempty]]
        prompt_head[nonempty] = first_ids == tok.hf.bos_token_id
    prompt_head = np.minimum(prompt_head, prompt_len)
    return EncodedBatch(
        ids=enc.ids,
        prompt_len=prompt_len,
        prompt_head=prompt_head,
        invalid=enc.invalid,
        assistant_mask=enc.assistant,
        last_turn_mask=enc.last_turn if last_turn else None,
    )
