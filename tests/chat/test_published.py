"""Published chat templates of real models, used as published: the spans sftmask finds equal the
`{% generation %}` mask of the same template with markers added (tests/published_templates.py),
token for token, with input_ids exactly `apply_chat_template(messages)`, on varied conversations
per family (1-6 turns, system or not, tool calls, reasoning), with the template's default
variables and with the ones that change its generation prompt (thinking on or off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sftmask.chat import samples as chat_samples
from sftmask.chat.choice import marker_problems
from sftmask.chat.templates import SHIPPED, read_shipped
from sftmask.tokenization.load import LoadedTokenizer
from tests import published_templates
from tests.chat.test_render import labelled

STANDIN_DIR = Path(__file__).resolve().parents[1] / "data" / "chat_templates"
FAMILIES = [*published_templates.MARKINGS, *published_templates.STANDINS]
# The tokenizer each family's rows are encoded with: its own (tests/families.py), so the
# template's markers are special tokens; Gemma 2's markers are not in Gemma 4's vocabulary.
# Cohere's and EXAONE's are stand-ins: Qwen's BPE with their special tokens (tests/conftest.py).
TOKENIZER = {
    "qwen3": "qwen",
    "qwen3.5": "qwen",
    "deepseek-r1": "deepseek",
    "deepseek-v3.1": "deepseek",
    "phi-3.5": "phi3",
    "mistral-nemo": "tekken",
    "mistral-small-3.2": "tekken",
    "llama-3.1": "llama3",
    "llama-3.2": "llama3",
    "llama-3.3": "llama3",
    "gemma-2": "gemma4",
    "gemma-4": "gemma4",
    "command-r7b": "cohere_standin",
    "command-a": "cohere_standin",
    "exaone-4": "exaone_standin",
}
# Markers the family's template writes that the test tokenizer lacks (encoded as plain text):
# Gemma 2's turn markers are not in Gemma 4's vocabulary; Nemo's Tekken predates Small 3.2's
# [CALL_ID] and [ARGS].
MISSING_MARKERS = {"gemma-2": ["<end_of_turn>", "<start_of_turn>"], "mistral-small-3.2": ["[ARGS]", "[CALL_ID]"]}
# Template variables that change what the generation prompt writes: an empty thinking block
# (Qwen3, Qwen3.5, EXAONE 4 with thinking off), an open one (DeepSeek-V3.1, EXAONE 4 with
# thinking on), Command A's reasoning off, EXAONE's reasoning kept in the last turn.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("qwen3", {"enable_thinking": False}),
    ("qwen3.5", {"enable_thinking": False}),
    ("deepseek-v3.1", {"thinking": True}),
    ("command-a", {"reasoning": False}),
    ("exaone-4", {"enable_thinking": True}),
    ("exaone-4", {"skip_think": False}),
]


def published_text(published: Path, family: str) -> str:
    """The family's template as published (or its stand-in)."""
    if family in published_templates.STANDINS:
        return (STANDIN_DIR / published_templates.STANDINS[family][0]).read_text(encoding="utf-8")
    return (published / published_templates.MARKINGS[family][0]).read_text(encoding="utf-8")


def _files(published: Path, family: str, tmp_path: Path) -> tuple[Path, Path]:
    text = published_text(published, family)
    plain, marked = tmp_path / f"{family}.jinja", tmp_path / f"{family}-marked.jinja"
    plain.write_text(text, encoding="utf-8")
    marked.write_text(published_templates.marked(text, family), encoding="utf-8")
    return plain, marked


def _reference(tok: LoadedTokenizer, messages: list[dict[str, Any]], tools: Any, template: Path, **kwargs: Any) -> Any:
    return tok.hf.apply_chat_template(
        messages,
        tools=tools,
        chat_template=template.read_text(encoding="utf-8"),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        **kwargs,
    )


def _last_block(mask: list[int]) -> list[int]:
    """The final run of trained tokens: the final assistant turn's block."""
    end = max(i for i, m in enumerate(mask) if m) + 1
    start = end
    while start > 0 and mask[start - 1]:
        start -= 1
    return [1 if start <= i < end else 0 for i in range(len(mask))]


def last_block(mask: list[int]) -> list[int]:
    """The final run of trained tokens: the final assistant turn's block."""
    return _last_block(mask) if any(mask) else mask


def last_turn_mask(
    tok: LoadedTokenizer, messages: list[dict[str, Any]], tools: Any, marked: Path, ref: Any, **kwargs: Any
) -> list[int]:
    """The marked template's mask of the final message: its blocks after the tokens of the rest of
    the conversation when those render as a prefix (a turn the template writes twice, DeepSeek-R1's
    tool calls and empty turn, is two blocks), else the final run of trained tokens."""
    mask = list(ref["assistant_masks"])
    ids = list(ref["input_ids"])
    try:
        before = tok.hf.apply_chat_template(
            messages[:-1],
            tools=tools,
            chat_template=marked.read_text(encoding="utf-8"),
            tokenize=True,
            return_dict=True,
            **kwargs,
        )["input_ids"]
    except Exception:  # the template refuses the shorter conversation
        before = None
    if before is not None and len(before) < len(ids) and ids[: len(before)] == list(before):
        return [0] * len(before) + mask[len(before) :]
    return last_block(mask)


def check_family(
    tok: LoadedTokenizer,
    plain: Path,
    marked: Path,
    samples: list[tuple[list[dict[str, Any]], Any]],
    family: str,
    **kwargs: Any,
) -> None:
    """sftmask on the published template equals transformers on the marked twin, both strategies."""
    conversations = [messages for messages, _ in samples]
    tools = [t for _, t in samples]
    tools_of = {id(m): t for m, t in samples}
    refs = [_reference(tok, m, t, marked, **kwargs) for m, t in samples]
    published_ids = [_reference(tok, m, t, plain, **kwargs)["input_ids"] for m, t in samples[:10]]
    assert published_ids == [ref["input_ids"] for ref in refs[:10]]  # markers change no text
    options = {"template_kwargs": kwargs} if kwargs else {}
    for strategy in ("assistant-only", "last-turn"):
        rows, _ = labelled(tok, conversations, strategy=strategy, chat_template=plain, tools=tools, **options)
        assert len(rows) == len(samples), f"{family}: rejected conversations"
        for (ids, labels), ref, (messages, _) in zip(rows, refs, samples, strict=True):
            mask = list(ref["assistant_masks"])
            if strategy == "last-turn":
                mask = last_turn_mask(tok, messages, tools_of[id(messages)], marked, ref, **kwargs)
            assert ids == list(ref["input_ids"])
            assert labels == [i if m else -100 for i, m in zip(ids, mask, strict=True)], (family, strategy, messages)


@pytest.mark.parametrize("family", FAMILIES)
def test_published_template_spans_equal_the_marked_mask(
    family: str, published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(TOKENIZER[family])
    plain, marked = _files(published, family, tmp_path)
    assert marker_problems(tok.hf, plain.read_text(encoding="utf-8")) == MISSING_MARKERS.get(family, [])
    samples = chat_samples.conversations(120, seed=11, **published_templates.FAMILY_RULES[family])
    check_family(tok, plain, marked, samples, family)


@pytest.mark.slow  # the fast cases of each variable: tests/chat/test_spans.py
@pytest.mark.parametrize(("family", "kwargs"), VARIANTS, ids=[f"{f}-{next(iter(k))}" for f, k in VARIANTS])
def test_template_variables_that_change_the_generation_prompt(
    family: str, kwargs: dict[str, Any], published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(TOKENIZER[family])
    plain, marked = _files(published, family, tmp_path)
    samples = chat_samples.conversations(40, seed=12, **published_templates.FAMILY_RULES[family])
    check_family(tok, plain, marked, samples, family, **kwargs)


def test_the_samples_cover_what_the_issue_names() -> None:
    samples = chat_samples.conversations(120, seed=11)
    turns = [sum(m["role"] == "user" for m in messages) for messages, _ in samples]
    assert set(turns) == {1, 2, 3, 4, 5, 6}
    assert any(tools for _, tools in samples)
    assert any(messages[0]["role"] == "system" for messages, _ in samples)
    assert any("<think>" in str(m.get("content")) for messages, _ in samples for m in messages)
    assert any("reasoning_content" in m for messages, _ in samples for m in messages)


@pytest.mark.parametrize("name", [n for n in SHIPPED if SHIPPED[n].source != "sftmask"])
def test_shipped_templates_are_the_published_ones_marked(name: str, published: Path) -> None:
    assert read_shipped(name).endswith(published_templates.marked(published_text(published, name), name))
