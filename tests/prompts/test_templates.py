"""Prompt templates (sftmask/prompts/builtin/*.yaml) and `--template chat` for prompt/response data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sftmask.config.build import make_config
from sftmask.errors import ConfigError
from sftmask.labels.strategies import IGNORE_INDEX
from sftmask.prompts.templates import TEMPLATE_DIR, available_templates, load_template
from sftmask.tokenization.load import LoadedTokenizer
from tests.helpers import label_rows

SHIPPED = sorted(TEMPLATE_DIR.glob("*.yaml"))


def encode(
    tok: LoadedTokenizer, records: list[dict[str, Any]], template: str
) -> tuple[list[tuple[list[int], list[int]]], dict[int, tuple[str, str]]]:
    """Records through `sftmask.label` with a template: rows, and (reason, message) per rejected record."""
    return label_rows(tok, records, template=template, on_error="skip")


def split(tok: LoadedTokenizer, ids: list[int], labels: list[int]) -> tuple[str, str]:
    """(masked text, trained text) of a row."""
    masked = [i for i, lab in zip(ids, labels, strict=True) if lab == IGNORE_INDEX]
    trained = [i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX]
    return tok.hf.decode(masked), tok.hf.decode(trained)


def test_shipped_templates_are_the_documented_ones() -> None:
    assert available_templates() == ["alpaca", "chatml", "question-answer"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_template_loads_by_name_and_by_path(path: Path) -> None:
    by_name, by_path = load_template(path.stem), load_template(str(path))
    assert by_name == by_path and by_name.description and by_name.required_fields


ALPACA_HEAD = "Below is an instruction that describes a task"


def test_alpaca_with_and_without_input(qwen: LoadedTokenizer) -> None:
    records = [
        {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
        {"instruction": "Say hi.", "output": "hi"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
    ]
    rows, _ = encode(qwen, records, "alpaca")
    prompt0, response0 = split(qwen, *rows[0])
    assert prompt0 == (
        f"{ALPACA_HEAD}, paired with an input that provides further context. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:\n"
    )
    assert response0 == "5<|im_end|>"
    prompt1, response1 = split(qwen, *rows[1])
    assert prompt1 == (
        f"{ALPACA_HEAD}. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nSay hi.\n\n### Response:\n"
    )
    assert "### Input" not in prompt1 and response1 == "hi<|im_end|>"
    assert rows[2] == rows[1]  # an empty input is the same as none
    masked = [i for i, lab in zip(*rows[0], strict=True) if lab == IGNORE_INDEX]
    assert masked == qwen.hf(prompt0)["input_ids"]  # the prompt is exactly tokenizer(prompt)


def test_chatml_template_with_optional_system(qwen: LoadedTokenizer) -> None:
    rows, _ = encode(
        qwen,
        [{"prompt": "Hi", "response": "Hello!", "system": "Be brief."}, {"prompt": "Hi", "response": "Hello!"}],
        "chatml",
    )
    with_system, without = split(qwen, *rows[0]), split(qwen, *rows[1])
    assert with_system == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "Hello!<|im_end|>",
    )
    assert without == ("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "Hello!<|im_end|>")
    # Written out as text, it gives the same tokens and labels as the chat template itself.
    chat = qwen.hf.apply_chat_template(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], tokenize=True, return_dict=True
    )["input_ids"]
    assert rows[1][0] == chat[:-1]  # minus the newline the chat template writes after <|im_end|>


def test_question_answer_with_optional_context(mistral: LoadedTokenizer) -> None:
    rows, _ = encode(
        mistral,
        [
            {"question": "Capital of France?", "answer": "Paris", "context": "Geography quiz."},
            {"question": "2+2?", "answer": "4", "context": None},
        ],
        "question-answer",
    )
    assert split(mistral, *rows[0]) == (
        "<s> Context: Geography quiz.\n\nQuestion: Capital of France?\nAnswer:",
        "Paris</s>",
    )
    assert split(mistral, *rows[1]) == ("<s> Question: 2+2?\nAnswer:", "4</s>")
    assert rows[0][0].count(mistral.hf.bos_token_id) == 1


def test_optional_field_that_is_not_a_string_is_invalid(qwen: LoadedTokenizer) -> None:
    rows, rejected = encode(
        qwen, [{"instruction": "x", "output": "y", "input": ["a"]}, {"instruction": "x", "output": "y"}], "alpaca"
    )
    assert rejected == {0: ("not-a-string", "field 'input' is list, not a string")}
    assert len(rows) == 1


def test_template_chat_renders_a_user_assistant_exchange(qwen: LoadedTokenizer) -> None:
    rows, _ = encode(qwen, [{"prompt": "What is 2+2?", "response": "4"}], "chat")
    conv = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]
    ids, labels = rows[0]
    assert ids == qwen.hf.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"]
    assert split(qwen, ids, labels)[1] == "4<|im_end|>"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("prompt: 'x {a'\nresponse: '{b}'\n", "bad placeholder"),
        ("prompt: '{a.b}'\nresponse: '{c}'\n", "must be a plain field name"),
        ("prompt: [{if: a, then: 1}]\nresponse: '{c}'\n", "'then' and 'else' must be strings"),
        ("prompt: '{a}'\n", "'response' must be a string"),
        ("prompt: '{a}'\nresponse: '{b}'\nextra: 1\n", "unknown key(s) extra"),
        ("- a\n", "must be a mapping"),
        ("prompt: 'x'\nresponse: 'y'\n", "uses no record field"),
    ],
)
def test_bad_template_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_template(str(path))
    assert problem in str(info.value) and str(path) in str(info.value)


def test_unknown_template_name_lists_the_choices() -> None:
    with pytest.raises(
        ConfigError, match="unknown template 'nope'; choose one of: alpaca, chatml, question-answer, chat"
    ):
        make_config({"inputs": ["x"], "tokenizer": "t", "output": "o", "template": "nope"})
    with pytest.raises(ConfigError, match="--template applies to prompt/response data"):
        make_config(
            {"inputs": ["x"], "tokenizer": "t", "output": "o", "template": "alpaca", "strategy": "assistant-only"}
        )
