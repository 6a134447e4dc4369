"""Chat data: input_ids equal apply_chat_template's; assistant spans equal the template's own
`{% generation %}` mask, and come out the same when the template has no markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sftmask.errors import ConfigError, RecordRejected, TokenizerError
from sftmask.kinds.chat import MessageFormat, parse_messages
from sftmask.labels.strategies import IGNORE_INDEX
from sftmask.tokenization.load import LoadedTokenizer
from tests.helpers import encode_records, examples, label_rows, load_renderer, marked_tokens

REPO = Path(__file__).resolve().parents[2]
UNMARKED = REPO / "tests" / "data" / "chat_templates"  # ChatML and Mistral [INST] without markers
SHIPPED_DIR = REPO / "sftmask" / "chat" / "templates"  # the same, with {% generation %} markers
CHATML = UNMARKED / "chatml.jinja"
CHATML_MARKED = SHIPPED_DIR / "chatml.jinja"
MISTRAL = UNMARKED / "mistral-inst.jinja"
MISTRAL_MARKED = SHIPPED_DIR / "mistral-inst.jinja"

MULTI_TURN = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4"},
]


def labelled(
    tok: LoadedTokenizer,
    conversations: list[list[dict[str, Any]]],
    *,
    strategy: str = "assistant-only",
    chat_template: Path | str | None = None,
    max_length: int | None = None,
    tools: list[Any] | None = None,
    **options: Any,
) -> tuple[list[tuple[list[int], list[int]]], dict[int, tuple[str, str]]]:
    """Chat records through `sftmask.label`: (ids, labels) per row, (reason, message) per rejected record.

    `options` are more build options (reasoning, template_kwargs, ...)."""
    tools = tools or [None] * len(conversations)
    records = [
        {"messages": c, **({"tools": t} if t is not None else {})} for c, t in zip(conversations, tools, strict=True)
    ]
    return label_rows(
        tok,
        records,
        strategy=strategy,
        data_kind="chat",
        chat_template=str(chat_template) if chat_template else None,
        max_length=max_length,
        on_error="skip",
        **options,
    )


def reference(
    tok: LoadedTokenizer, messages: list[dict[str, Any]], template: Path, **kwargs: Any
) -> tuple[list[int], list[int]]:
    """transformers' own input_ids and assistant mask for a template with generation markers."""
    out = tok.hf.apply_chat_template(
        messages,
        chat_template=template.read_text(),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        **kwargs,
    )
    return list(out["input_ids"]), list(out["assistant_masks"])


def labels_from_mask(ids: list[int], mask: list[int]) -> list[int]:
    return [i if m else IGNORE_INDEX for i, m in zip(ids, mask, strict=True)]


def last_turn_reference(tok: LoadedTokenizer, messages: list[dict[str, Any]], template: Path) -> list[int]:
    """transformers' assistant mask, kept only after the tokens of all but the final message."""
    ids, mask = reference(tok, messages, template)
    before = tok.hf.apply_chat_template(
        messages[:-1], chat_template=template.read_text(), tokenize=True, return_dict=True
    )
    n = len(before["input_ids"])
    assert ids[:n] == list(before["input_ids"])  # the reference itself needs a token-exact prefix
    return [0] * n + mask[n:]


# --- exact tables -------------------------------------------------------------------------


def test_qwen_chatml_assistant_only_table(qwen: LoadedTokenizer) -> None:
    ((ids, labels),) = labelled(qwen, [MULTI_TURN])[0]
    assert ids == qwen.hf.apply_chat_template(MULTI_TURN, tokenize=True, return_dict=True)["input_ids"]
    assert marked_tokens(qwen, ids, labels) == [
        "<|im_start|>", "system", "Ċ", "You", "Ġare", "Ġterse", ".", "<|im_end|>", "Ċ",
        "<|im_start|>", "user", "Ċ", "Hi", "Ġthere", "<|im_end|>", "Ċ",
        "<|im_start|>", "assistant", "Ċ", "[Hello]", "[!]", "[<|im_end|>]", "Ċ",
        "<|im_start|>", "user", "Ċ", "2", "+", "2", "?", "<|im_end|>", "Ċ",
        "<|im_start|>", "assistant", "Ċ", "[4]", "[<|im_end|>]", "Ċ",
    ]  # fmt: skip


def test_qwen_last_turn_table(qwen: LoadedTokenizer) -> None:
    ((ids, labels),) = labelled(qwen, [MULTI_TURN], strategy="last-turn")[0]
    trained = [t for t, lab in zip(marked_tokens(qwen, ids, labels), labels, strict=True) if lab != IGNORE_INDEX]
    assert trained == ["[4]", "[<|im_end|>]"]


def test_mistral_template_writes_bos_once(mistral: LoadedTokenizer) -> None:
    ((ids, labels),) = labelled(mistral, [MULTI_TURN], chat_template=MISTRAL)[0]
    expected = mistral.hf.apply_chat_template(
        MULTI_TURN, chat_template=MISTRAL.read_text(), tokenize=True, return_dict=True
    )
    assert ids == expected["input_ids"]
    assert ids[0] == mistral.hf.bos_token_id and ids.count(mistral.hf.bos_token_id) == 1
    assert marked_tokens(mistral, ids, labels) == [
        "<s>", "[INST]", "▁You", "▁are", "▁ter", "se", ".", "<0x0A>", "<0x0A>", "Hi", "▁there", "▁", "[/INST]",
        "[▁Hello]", "[!]", "[</s>]",
        "[INST]", "▁", "2", "+", "2", "?", "▁", "[/INST]",
        "[▁]", "[4]", "[</s>]",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "conversation",
    [
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        [{"role": "user", "content": "Say nothing"}, {"role": "assistant", "content": ""}],
        [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "ok"},
        ],
        [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A1"},
            {"role": "assistant", "content": "A2"},
        ],
        [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
            {"role": "tool", "content": '{"x": 1}'},
            {"role": "assistant", "content": "done"},
        ],
        [
            {"role": "user", "content": "Code?"},
            {"role": "assistant", "content": "```python\ndef f():\n    return 1\n```\n"},
        ],
        [
            {"role": "user", "content": "Écris un haïku 🌊"},
            {"role": "assistant", "content": "Vagues sous la lune 😀\n"},
            {"role": "user", "content": "東京"},
            {"role": "assistant", "content": "北京是中国的首都。"},
        ],
    ],
    ids=[
        "single-turn",
        "empty-assistant",
        "system-empty-then-more",
        "two-assistants",
        "tool-turn",
        "code",
        "non-english",
    ],
)
@pytest.mark.parametrize("family", ["qwen", "mistral"])
def test_spans_equal_generation_mask_with_and_without_markers(
    conversation: list[dict[str, Any]], family: str, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(family)
    plain, marked = (CHATML, CHATML_MARKED) if family == "qwen" else (MISTRAL, MISTRAL_MARKED)
    if family == "mistral" and any(m["role"] == "tool" for m in conversation):
        conversation = [m for m in conversation if m["role"] != "tool"]
    ref_ids, ref_mask = reference(tok, conversation, marked)
    ref_last = last_turn_reference(tok, conversation, marked)
    for template in (plain, marked):
        for strategy, mask in (("assistant-only", ref_mask), ("last-turn", ref_last)):
            ((ids, labels),) = labelled(tok, [conversation], strategy=strategy, chat_template=template)[0]
            assert ids == ref_ids, template.name
            assert labels == labels_from_mask(ids, mask), (template.name, strategy)


def test_all_strategy_trains_every_chat_token(qwen: LoadedTokenizer) -> None:
    ((ids, labels),) = labelled(qwen, [MULTI_TURN], strategy="all")[0]
    assert labels == ids


# --- unseen conversations -----------------------------------------------------------------

PIECES = [*"ab xyz\n\t.,!?éü中文😀{}[]#", "def ", "  ", "The ", "\n\n", "Ünïcödé", "return"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(TEXT)})
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(TEXT)})
        messages.append({"role": "assistant", "content": draw(TEXT)})
    return messages


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(conversations(), min_size=1, max_size=4))
def test_unseen_conversations_match_the_template_mask(
    qwen: LoadedTokenizer, mistral: LoadedTokenizer, batch: list[list[dict[str, Any]]]
) -> None:
    for tok, plain, marked in ((qwen, CHATML, CHATML_MARKED), (mistral, MISTRAL, MISTRAL_MARKED)):
        refs = [(*reference(tok, c, marked), last_turn_reference(tok, c, marked)) for c in batch]
        for template in (plain, marked):
            for strategy in ("assistant-only", "last-turn"):
                rows, _ = labelled(tok, batch, strategy=strategy, chat_template=template)
                assert len(rows) == len(batch)
                for (ids, labels), (ref_ids, ref_mask, ref_last) in zip(rows, refs, strict=True):
                    mask = ref_mask if strategy == "assistant-only" else ref_last
                    assert ids == ref_ids
                    assert labels == labels_from_mask(ids, mask), (template.name, strategy)


# --- tools, formats, truncation -----------------------------------------------------------


def test_tools_are_passed_to_the_template(qwen: LoadedTokenizer, tmp_path: Path) -> None:
    template = tmp_path / "tools.jinja"
    template.write_text(
        "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}" + CHATML.read_text()
    )
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    conv = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "Sunny."}]
    rows, _ = labelled(qwen, [conv, conv], chat_template=template, tools=[tools, None])
    with_tools = qwen.hf.apply_chat_template(
        conv, tools=tools, chat_template=template.read_text(), tokenize=True, return_dict=True
    )
    assert rows[0][0] == with_tools["input_ids"]
    assert "get_weather" in qwen.hf.decode(rows[0][0])
    assert rows[1][0] == qwen.hf.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"]
    assert [lab for lab in rows[0][1] if lab != IGNORE_INDEX] == [lab for lab in rows[1][1] if lab != IGNORE_INDEX]


def test_sharegpt_and_explicit_keys() -> None:
    sharegpt = [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]
    assert parse_messages(sharegpt, MessageFormat.named("sharegpt")) == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
    ]
    custom = [{"speaker": "user", "text": "Q", "name": "x"}, {"speaker": "assistant", "text": "A"}]
    assert parse_messages(custom, MessageFormat.named("openai", "speaker", "text")) == [
        {"role": "user", "content": "Q", "name": "x"},
        {"role": "assistant", "content": "A"},
    ]


@pytest.mark.parametrize(
    ("value", "reason", "text"),
    [
        ([], "invalid-conversation", "conversation is empty"),
        ("hi", "invalid-conversation", "not a list of messages"),
        (
            [{"role": "bot", "content": "x"}],
            "unknown-role",
            "message 1 has role 'bot'; roles are system, user, assistant, tool",
        ),
        ([{"content": "x"}], "unknown-role", "no 'role' key"),
        (
            [{"role": "user", "content": ["a", "b"]}],
            "invalid-conversation",
            'message 1 (user): content part 1 is not an object with a "type"',
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "non-text-content",
            "message 1 (user): content part 1 is 'image_url', not text",
        ),
        ({"role": "user", "content": {"text": "x"}}, "invalid-conversation", "not a list of messages"),
        ([{"role": "user", "content": {"text": "x"}}], "not-a-string", "'content' is dict, not a string"),
        ([{"role": "user", "content": None}], "not-a-string", "'content' is null, not a string"),
        ([{"role": "user"}], "not-a-string", "'content' is missing"),
        (["hi"], "invalid-conversation", "message 1 is str, not an object"),
    ],
)
def test_bad_conversations_are_rejected(value: Any, reason: str, text: str) -> None:
    with pytest.raises(RecordRejected) as info:
        parse_messages(value, MessageFormat.named("openai"))
    assert info.value.reason == reason and text in info.value.message


def test_last_turn_needs_a_final_assistant_turn(qwen: LoadedTokenizer) -> None:
    ends_on_user = [*MULTI_TURN, {"role": "user", "content": "and?"}]
    rows, rejected = labelled(qwen, [ends_on_user, MULTI_TURN], strategy="last-turn")
    assert list(rejected) == [0] and rejected[0][0] == "no-final-assistant-turn"
    assert "ends with a user turn" in rejected[0][1]
    assert rows == labelled(qwen, [MULTI_TURN], strategy="last-turn")[0]
    # assistant-only trains the earlier assistant turns and leaves the final user turn masked
    rows, rejected = labelled(qwen, [ends_on_user])
    assert not rejected and sum(lab != IGNORE_INDEX for lab in rows[0][1]) == 5


@pytest.mark.parametrize(
    "template_text",
    [
        # markers around the content only: an empty answer is an empty block
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}{% if m['role'] == 'assistant' %}"
        "{% generation %}{{ m['content'] }}{% endgeneration %}{% else %}{{ m['content'] }}{% endif %}"
        "{{ '<|im_end|>\\n' }}{% endfor %}",
        # no markers, and nothing written around an answer: an empty answer is an empty span
        "{% for m in messages %}{% if m['role'] == 'user' %}{{ 'Q: ' + m['content'] + '\\nA: ' }}"
        "{% else %}{{ m['content'] + '\\n' }}{% endif %}{% endfor %}",
    ],
    ids=["markers", "no-markers"],
)
def test_an_empty_final_turn_is_not_replaced_by_an_earlier_one(
    qwen: LoadedTokenizer, tmp_path: Path, template_text: str
) -> None:
    template = tmp_path / "t.jinja"
    template.write_text(template_text)
    conv = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": ""},
    ]
    rows, rejected = labelled(qwen, [conv], strategy="last-turn", chat_template=template)
    assert rows == [] and [reason for reason, _ in rejected.values()] == ["no-trainable-tokens"]
    rows, _ = labelled(qwen, [conv], strategy="assistant-only", chat_template=template)
    assert qwen.hf.decode([lab for lab in rows[0][1] if lab != IGNORE_INDEX]).strip() == "A1"


def test_a_template_that_cannot_be_analysed_is_reported(qwen: LoadedTokenizer, tmp_path: Path) -> None:
    # The last message is written differently from earlier ones, so prefixes do not line up, and
    # the text is upper-cased, so the data's text cannot be found in the rendering either.
    template = tmp_path / "odd.jinja"
    template.write_text(
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] | upper }}{% if not loop.last %}{{ '\\n' }}{% else %}{{ '<|im_end|>' }}{% endif %}{% endfor %}"
    )
    rows, rejected = labelled(qwen, [MULTI_TURN], chat_template=template)
    reason, message = rejected[0]
    assert reason == "chat-template"
    assert "cannot be analysed" in message and "{% generation %}" in message
    assert rows == []


def test_template_errors_are_reported_per_record(qwen: LoadedTokenizer, tmp_path: Path) -> None:
    template = tmp_path / "no-tools.jinja"
    template.write_text(
        "{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('tool turns are not supported') }}"
        "{% endif %}{% endfor %}" + CHATML.read_text()
    )
    with_tool = [
        {"role": "user", "content": "x"},
        {"role": "tool", "content": "1"},
        {"role": "assistant", "content": "y"},
    ]
    rows, rejected = labelled(qwen, [with_tool, MULTI_TURN], chat_template=template)
    assert rejected == {0: ("chat-template", "chat template failed on this conversation: tool turns are not supported")}
    assert len(rows) == 1


def test_prompt_truncation_keeps_bos_and_the_assistant_turn(mistral: LoadedTokenizer) -> None:
    full, _ = labelled(mistral, [MULTI_TURN], chat_template=MISTRAL, strategy="last-turn")
    ((ids, labels),) = labelled(mistral, [MULTI_TURN], chat_template=MISTRAL, strategy="last-turn", max_length=6)[0]
    assert len(ids) == 6 and ids[0] == mistral.hf.bos_token_id
    assert ids[-3:] == full[0][0][-3:] and labels[-3:] == full[0][1][-3:]
    assert labels[:3] == [IGNORE_INDEX] * 3


def test_prompt_len_is_the_first_trained_token(qwen: LoadedTokenizer) -> None:
    for strategy in ("assistant-only", "last-turn"):
        ((_ids, labels),) = labelled(qwen, [MULTI_TURN], strategy=strategy)[0]
        encoded = encode_records(qwen, [{"messages": MULTI_TURN}], strategy=strategy, data_kind="chat")
        first = next(i for i, lab in enumerate(labels) if lab != IGNORE_INDEX)
        assert encoded.prompt_len.tolist() == [first]
        assert encoded.prompt_head.tolist() == [0]  # no BOS in ChatML; <|im_start|> is not kept


def test_renderer_needs_a_chat_template(mistral: LoadedTokenizer, tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no chat template"):
        load_renderer(mistral.hf, None)
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}")
    with pytest.raises(ConfigError, match="does not compile"):
        load_renderer(mistral.hf, str(bad))


def test_batch_encoding_matches_per_conversation_encoding(qwen: LoadedTokenizer) -> None:
    convs = [MULTI_TURN, MULTI_TURN[1:3], [{"role": "user", "content": "x"}, {"role": "assistant", "content": "😀 y"}]]
    rows, _ = labelled(qwen, convs)
    for conv, (ids, _) in zip(convs, rows, strict=True):
        assert ids == qwen.hf.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"]
    encoded = encode_records(qwen, [{"messages": c} for c in convs], strategy="assistant-only")
    assert encoded.assistant_mask is not None
    assert encoded.assistant_mask.sum() == sum(lab != IGNORE_INDEX for _, labels in rows for lab in labels)
