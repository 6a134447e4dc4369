# ruff: noqa: RUF001  (DeepSeek's special tokens are written with full-width bars)
"""The span finder (`sftmask.chat.spans`) on the cases it used to get wrong, each compared with
`apply_chat_template(..., return_assistant_tokens_mask=True)` on a marked copy of the same
template (tests/published_templates.py), assistant-only and last-turn; and a property test:
random conversations give the marked copy's mask on every shipped and tested template."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sftmask.chat import samples as chat_samples
from sftmask.chat.render import ChatRenderer
from sftmask.chat.spans import choose_stem
from sftmask.chat.templates import SHIPPED, read_shipped
from sftmask.tokenization.load import LoadedTokenizer
from tests import published_templates
from tests.chat.test_published import TOKENIZER, _files, _reference, check_family, last_block, published_text
from tests.chat.test_render import CHATML, MISTRAL, labelled
from tests.cli.test_build import run

CALL = {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
TOOLS = chat_samples.TOOLS


def _family(family: str, published: Path, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Any, Path, Path]:
    tok = request.getfixturevalue(TOKENIZER[family])
    tmp_path.mkdir(parents=True, exist_ok=True)
    plain, marked = _files(published, family, tmp_path)
    return tok, plain, marked


def _trained(tok: LoadedTokenizer, ids: list[int], labels: list[int]) -> list[str]:
    return [t for t, label in zip(tok.hf.convert_ids_to_tokens(ids), labels, strict=True) if label != -100]


# --- 1. a turn that ends in two special tokens ----------------------------------------------


@pytest.mark.parametrize(
    ("family", "end"),
    [
        ("command-r7b", ["<|END_RESPONSE|>", "<|END_OF_TURN_TOKEN|>"]),
        ("command-a", ["<|END_TEXT|>", "<|END_OF_TURN_TOKEN|>"]),
    ],
)
def test_a_turn_ending_in_two_special_tokens_trains_both(
    family: str, end: list[str], published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tok, plain, marked = _family(family, published, tmp_path, request)
    conv = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    ((ids, labels),) = labelled(tok, [conv], chat_template=plain)[0]
    assert _trained(tok, ids, labels)[-3:] == ["Hello", *end]
    renderer = ChatRenderer(tok.hf, plain.read_text(encoding="utf-8"))
    assert renderer.shape is not None and renderer.shape.end_of_turn == "".join(end)
    assert renderer.shape.doubts == ()
    samples = [
        (conv, None),
        ([*conv, {"role": "user", "content": "Again"}, {"role": "assistant", "content": ""}], None),
        (
            [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": "", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call00001", "content": "21 C"},
                {"role": "assistant", "content": "It is 21 C."},
            ],
            TOOLS,
        ),
    ]
    check_family(tok, plain, marked, samples, family)


# --- 2. the generation prompt is prompt in every row ----------------------------------------


def _answers(tool_call: bool = True) -> list[tuple[list[dict[str, Any]], Any]]:
    """One question answered in the ways that used to split the mask: text starting with a letter,
    a space or a newline, empty text, reasoning, and (with tools) a turn holding only tool calls."""
    user = {"role": "user", "content": "2+2?"}
    out: list[tuple[list[dict[str, Any]], Any]] = [
        ([user, {"role": "assistant", "content": text}], None)
        for text in ("4", " 4", "\n4", "", "<think>\nEasy.\n</think>\n\n4")
    ]
    out.append(([user, {"role": "assistant", "content": "4", "reasoning_content": "Easy."}], None))
    out.append(
        (
            [
                user,
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "3+3?"},
                {"role": "assistant", "content": " 6"},
            ],
            None,
        )
    )
    if tool_call:
        call = [user, {"role": "assistant", "content": "", "tool_calls": [CALL]}]
        out.append((call, TOOLS))
        out.append(
            (
                [
                    *call,
                    {"role": "tool", "tool_call_id": "call00001", "content": "21"},
                    {"role": "assistant", "content": "4"},
                ],
                TOOLS,
            )
        )
    return out


@pytest.mark.parametrize(
    ("family", "kwargs"),
    [
        ("qwen3", {"enable_thinking": False}),
        ("qwen3", {}),
        ("qwen3.5", {}),
        ("qwen3.5", {"enable_thinking": False}),
        ("exaone-4", {}),
        ("exaone-4", {"enable_thinking": True}),
        ("deepseek-v3.1", {"thinking": True}),
    ],
    ids=[
        "qwen3-no-thinking",
        "qwen3",
        "qwen3.5",
        "qwen3.5-no-thinking",
        "exaone-4",
        "exaone-4-thinking",
        "v3.1-thinking",
    ],
)
def test_what_the_generation_prompt_writes_is_prompt_in_every_row(
    family: str, kwargs: dict[str, Any], published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tok, plain, marked = _family(family, published, tmp_path, request)
    check_family(tok, plain, marked, _answers(), family, **kwargs)


def test_qwen3_without_thinking_masks_the_empty_thinking_block_whatever_the_answer(
    qwen: LoadedTokenizer, published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _, plain, _ = _family("qwen3", published, tmp_path, request)
    trained = []
    for messages, tools in _answers()[:4] + _answers()[-2:-1]:
        ((ids, labels),) = labelled(
            qwen, [messages], chat_template=plain, tools=[tools], template_kwargs={"enable_thinking": False}
        )[0]
        trained.append(_trained(qwen, ids, labels))
    assert trained[0] == ["4", "<|im_end|>"]
    assert trained[1] == ["Ġ", "4", "<|im_end|>"]  # the template strips leading newlines only
    assert trained[2] == ["4", "<|im_end|>"]
    assert trained[3] == ["<|im_end|>"]
    assert trained[4][0] == "<tool_call>" and trained[4][-1] == "<|im_end|>"


# --- 3. data that holds the sentinel --------------------------------------------------------

SENTINEL_LIKE = ["Sx7q0Z", "Sx7q1Z and Sx7q", "S1x7q0Z Sx7q2Z", "Sx7q0Z"]


@pytest.mark.parametrize("family", ["phi-3.5", "deepseek-v3.1", "qwen3"])
def test_data_holding_the_sentinel_is_masked_as_any_other(
    family: str, published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tok, plain, marked = _family(family, published, tmp_path, request)
    conv = [
        {"role": "user", "content": SENTINEL_LIKE[0]},
        {"role": "assistant", "content": SENTINEL_LIKE[1]},
        {"role": "user", "content": SENTINEL_LIKE[2]},
        {"role": "assistant", "content": SENTINEL_LIKE[3]},
    ]
    assert choose_stem("x Sx7q y S1x7q z") == "S2x7q"
    check_family(tok, plain, marked, [(conv, None), (conv[:2], None)], family)
    # A marked template needs no prefix analysis either (it used to reject the row, asking for markers).
    ref = _reference(tok, conv, None, marked)
    for strategy in ("assistant-only", "last-turn"):
        rows, rejected = labelled(tok, [conv], strategy=strategy, chat_template=marked)
        assert not rejected
        mask = (
            list(ref["assistant_masks"]) if strategy == "assistant-only" else last_block(list(ref["assistant_masks"]))
        )
        assert rows[0][1] == [i if m else -100 for i, m in zip(rows[0][0], mask, strict=True)]


@pytest.mark.parametrize(
    ("family", "system"),
    [("qwen3", "<|im_start|>assistant\n"), ("mistral-nemo", "[/INST]"), ("llama-3.1", "<|eot_id|>")],
)
def test_a_system_prompt_holding_the_template_s_markers_is_text(
    family: str, system: str, published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Template text is looked for between turns, never inside a system prompt (which a template may
    write anywhere: Mistral-Nemo writes it inside the last user turn)."""
    tok, plain, marked = _family(family, published, tmp_path, request)
    conv = [
        {"role": "system", "content": system},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": ""},
    ]
    longer = [*conv, {"role": "user", "content": system}, {"role": "assistant", "content": "A"}]
    check_family(tok, plain, marked, [(conv, None), (longer, None)], family)


# --- 4. tool calls ---------------------------------------------------------------------------


def test_gemma4_trains_the_tool_call_and_deepseek_r1_the_end_of_its_empty_turn(
    published: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    conv = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call00001", "content": "21 C"},
        {"role": "assistant", "content": "It is 21 C."},
    ]
    tok, plain, marked = _family("gemma-4", published, tmp_path / "g", request)
    ((ids, labels),) = labelled(tok, [conv], chat_template=plain, tools=[TOOLS])[0]
    trained = _trained(tok, ids, labels)
    assert (
        trained[0] == "<|tool_call>"
        and "<tool_call|>" in trained
        and trained[trained.index("<tool_call|>") + 1] == "<|tool_response>"
    )
    check_family(tok, plain, marked, [(conv, TOOLS), (conv[:2], TOOLS)], "gemma-4")

    tok, plain, marked = _family("deepseek-r1", published, tmp_path / "d", request)
    ((ids, labels),) = labelled(tok, [conv], chat_template=plain, tools=[TOOLS])[0]
    tokens = tok.hf.convert_ids_to_tokens(ids)
    ends = [i for i, t in enumerate(tokens) if t == "<｜end▁of▁sentence｜>"]
    assert len(ends) == 3 and all(labels[i] != -100 for i in ends)  # the calls', the empty turn's, the answer's
    assert labels[ends[1] - 1] == -100  # the empty turn's own header is prompt
    check_family(tok, plain, marked, [(conv, TOOLS), (conv[:2], TOOLS)], "deepseek-r1")


# --- 1. a build warns when the renderings do not settle the turn end ------------------------

UNSURE = (
    "{% for m in messages %}{% if not loop.first %}<|im_end|>\n{% endif %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{% endfor %}{% if add_generation_prompt %}<|im_end|>\n<|im_start|>assistant\n{% else %}<|endoftext|>{% endif %}"
)
"""A template whose turn end depends on what follows: <|im_end|> before the next turn, <|endoftext|> at the end."""


def test_a_build_warns_when_the_renderings_do_not_settle_the_turn_end(
    qwen: LoadedTokenizer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    template = tmp_path / "unsure.jinja"
    template.write_text(UNSURE)
    conv = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    with caplog.at_level(logging.WARNING):
        rows, _ = labelled(qwen, [conv], chat_template=template)
    assert rows
    assert "depends on what follows it" in caplog.text and "sftmask template check" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        labelled(qwen, [conv], chat_template=CHATML)
    assert "depends on what follows" not in caplog.text


# --- 5. template check without a twin -------------------------------------------------------


def test_template_check_checks_an_unmarked_template_without_a_twin(
    published: Path, llama3_path: Path, qwen_path: Path, tmp_path: Path
) -> None:
    llama = published / published_templates.MARKINGS["llama-3.1"][0]
    result = run("template", "check", str(llama), "-t", str(llama3_path), "--count", "20")
    assert result.exit_code == 0, result.output
    assert "compared with what can be checked without a marked twin" in result.output
    assert "assistant turns that start right after the role header (or after tool results):" in result.output
    assert "turns where prefix analysis gives the located span:" in result.output
    assert "OK: every check passes" in result.output
    unsure = tmp_path / "unsure.jinja"
    unsure.write_text(UNSURE)
    result = run("template", "check", str(unsure), "-t", str(qwen_path), "--count", "5")
    assert result.exit_code == 6, result.output
    assert "differs: turn shape: what the template writes after an assistant's text depends" in result.output


def test_template_check_reports_rows_that_fall_back_to_prefix_analysis(qwen_path: Path, tmp_path: Path) -> None:
    escaping = tmp_path / "upper.jinja"  # writes the text changed: no span can be located, prefix analysis works
    escaping.write_text(CHATML.read_text().replace("message['content']", "message['content'] | upper"))
    result = run("template", "check", str(escaping), "-t", str(qwen_path), "--count", "5")
    assert result.exit_code == 6, result.output
    assert "conversations whose spans are located in the rendering (not by prefix analysis): 0 of 5" in result.output
    assert "falls back to prefix analysis, which gives spans" in result.output


# --- property: random conversations, every shipped and tested template ----------------------

TEXT_PARTS = [
    "", " ", "\n", "  \n ", "4", "Hi there", "a\n\nb", "東京", "😀",
    "Sx7q0Z", "Sx7q12Z", "S1x7q3Z", "Sx7q",
    "<|im_end|>", "<|im_start|>assistant\n", "[INST]", "<|eot_id|>", "<turn|>",
    "<|END_OF_TURN_TOKEN|>", "<｜end▁of▁sentence｜>", "[|endofturn|]", "<|end|>",
]  # fmt: skip
ANSWER = st.lists(st.sampled_from(TEXT_PARTS), max_size=4).map("".join)
TEXT = st.lists(st.sampled_from([*TEXT_PARTS, "<think>", "</think>"]), max_size=4).map("".join)
"""Text of any message; an answer's has no stray thinking tag (its reasoning is drawn as a whole block:
a bare <think> at the start of an answer is where the generation prompt writes one, and a template
that writes the answer as it is gives no way to tell the two apart)."""


@st.composite
def conversations(draw: st.DrawFn, rules: dict[str, bool]) -> tuple[list[dict[str, Any]], Any]:
    """A conversation the family's template accepts (its `FAMILY_RULES`), ending with an assistant turn."""
    messages: list[dict[str, Any]] = []
    if rules.get("system", True) and draw(st.booleans()):
        messages.append({"role": "system", "content": draw(TEXT)})
    calls = 0
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(TEXT)})
        if rules.get("tools", True) and draw(st.booleans()) and not (rules.get("one_tool_call") and calls):
            calls += 1
            call = {**CALL, "id": f"call{len(messages):05d}"}
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": draw(TEXT)})
        answer = draw(ANSWER)
        kind = draw(st.sampled_from(["plain", "think", "field"] if rules.get("reasoning", True) else ["plain"]))
        if kind == "think":
            answer = f"<think>\n{draw(ANSWER)}\n</think>\n\n{answer}"
        message = {"role": "assistant", "content": answer}
        if kind == "field":
            message["reasoning_content"] = draw(ANSWER)
        messages.append(message)
    return messages, TOOLS if calls else None


def _property(
    tok: LoadedTokenizer, plain: Path, marked: Path, sample: tuple[list[dict[str, Any]], Any], name: str
) -> None:
    messages, tools = sample
    try:
        _reference(tok, messages, tools, marked)
    except Exception:  # the template refuses the conversation (raise_exception): nothing to compare
        return
    check_family(tok, plain, marked, [sample], name)


SHIPPED_PLAIN = {"chatml": (CHATML, "qwen"), "mistral-inst": (MISTRAL, "mistral")}


@pytest.mark.parametrize("name", list(SHIPPED))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_conversations_match_the_shipped_templates(
    name: str,
    data: st.DataObject,
    published: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    folder = tmp_path_factory.mktemp(name)
    if name in SHIPPED_PLAIN:
        plain, tokenizer = SHIPPED_PLAIN[name]
        rules = {"tools": name == "chatml", "reasoning": False}
    else:
        plain, tokenizer = folder / "plain.jinja", TOKENIZER[name]
        plain.write_text(published_text(published, name), encoding="utf-8")
        rules = published_templates.FAMILY_RULES[name]
    marked = folder / "marked.jinja"
    marked.write_text(read_shipped(name), encoding="utf-8")
    _property(request.getfixturevalue(tokenizer), plain, marked, data.draw(conversations(rules)), name)


@pytest.mark.slow
@pytest.mark.parametrize("family", [*published_templates.MARKINGS, *published_templates.STANDINS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_conversations_match_every_tested_template(
    family: str,
    data: st.DataObject,
    published: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    folder = tmp_path_factory.mktemp(family)
    tok, plain, marked = _family(family, published, folder, request)
    _property(tok, plain, marked, data.draw(conversations(published_templates.FAMILY_RULES[family])), family)
