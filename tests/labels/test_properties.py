"""Hypothesis properties of the token-exact rules, with real tokenizers of several families.

1. equal lengths; 2. the masked prefix is exactly tokenizer(prompt); 3. the trained part is the
response as it continues the prompt (+ EOS); 4. labels are -100 or their own id, unshifted.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import build_rows, examples

SPECIAL_LOOKING = [
    "<|im_end|>",
    "<|im_start|>",
    "<s>",
    "</s>",
    "[INST]",
    "[CLS]",
    "▁",
    "<|endoftext|>",
    "<|start_header_id|>",
    "<|eot_id|>",
    "\n\n",
    " ",
    "\t",
]
pieces = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["Hello", " world", "東京", "😀", "e\u0301", "def f(x):\n    return x", "Ünïcödé", "2+2=4"]),
    st.sampled_from(SPECIAL_LOOKING),
)
texts = st.lists(pieces, max_size=5).map("".join)
pairs = st.lists(st.tuples(texts, texts), min_size=1, max_size=6)

SETTINGS = settings(
    max_examples=examples(80),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def check_common(tok: Any, prompts: list[str], responses: list[str], *, add_eos: bool = True) -> list[tuple[Any, ...]]:
    """Rules 1, 2 and 4 for every row; returns (prompt, response, ids, labels, n_prompt) rows."""
    rows, rejected = build_rows(tok, prompts, responses, add_eos=add_eos)
    accepted = [i for i in range(len(prompts)) if i not in rejected]
    assert len(rows) == len(accepted)
    out = []
    for i, (ids, labels) in zip(accepted, rows, strict=True):
        assert len(ids) == len(labels)
        expected_prefix = tok.hf(prompts[i])["input_ids"]
        n = len(expected_prefix)
        assert ids[:n] == expected_prefix
        assert labels[:n] == [-100] * n
        assert labels[n:] == ids[n:] and len(ids) > n
        out.append((prompts[i], responses[i], ids, labels, n))
    for i in set(range(len(prompts))) - set(accepted):
        assert rejected[i] == "no-trainable-tokens"
    return out


@SETTINGS
@given(pairs)
def test_byte_level_bpe_trained_part_decodes_to_response_and_eos(qwen: Any, data: list[tuple[str, str]]) -> None:
    prompts, responses = [p for p, _ in data], [r for _, r in data]
    for _prompt, response, ids, _labels, n in check_common(qwen, prompts, responses):
        trained = qwen.hf.decode(ids[n:], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        assert trained == unicodedata.normalize("NFC", response) + qwen.eos_token
        assert ids[-1] == qwen.eos_id


@pytest.mark.parametrize("family", ["mistral", "llama_legacy"])
@SETTINGS
@given(data=pairs)
def test_sentencepiece_row_spells_prompt_plus_response_with_one_bos(
    request: pytest.FixtureRequest, family: str, data: list[tuple[str, str]]
) -> None:
    mistral = request.getfixturevalue(family)
    prompts, responses = [p for p, _ in data], [r for _, r in data]
    for prompt, response, ids, _labels, _n in check_common(mistral, prompts, responses):
        joint = mistral.hf(prompt + response)["input_ids"]
        decode = mistral.hf.decode
        # No dummy-prefix space injected and no second BOS: the text equals the joint encoding's.
        assert decode(ids[:-1], clean_up_tokenization_spaces=False) == decode(joint, clean_up_tokenization_spaces=False)
        assert ids.count(mistral.hf.bos_token_id) == joint.count(mistral.hf.bos_token_id)
        assert ids[-1] == mistral.eos_id


@SETTINGS
@given(pairs)
def test_wordpiece_response_after_whitespace_is_encoded_as_alone(wordpiece: Any, data: list[tuple[str, str]]) -> None:
    prompts = [p + " " for p, _ in data]
    responses = [r for _, r in data]
    for _prompt, response, ids, _labels, n in check_common(wordpiece, prompts, responses, add_eos=False):
        assert ids[n:] == wordpiece.hf(response, add_special_tokens=False)["input_ids"]


@SETTINGS
@given(pairs, st.integers(min_value=1, max_value=24), st.sampled_from(["prompt", "response", "drop"]))
def test_truncation_bounds_and_keeps_labels_aligned(
    mistral: Any, data: list[tuple[str, str]], max_length: int, mode: str
) -> None:
    prompts, responses = [p for p, _ in data], [r for _, r in data]
    full, _ = build_rows(mistral, prompts, responses)
    rows, rejected = build_rows(mistral, prompts, responses, max_length=max_length, truncation=mode)
    assert len(rows) + len(rejected) == len(data)
    for ids, labels in rows:
        assert 0 < len(ids) <= max_length
        assert any(lab != -100 for lab in labels)
        assert all(lab in (-100, i) for i, lab in zip(ids, labels, strict=True))
        if mode == "prompt" and len(ids) > 1:
            assert ids[0] == mistral.hf.bos_token_id  # BOS survives prompt truncation
    if mode == "drop":
        assert all(len(ids) <= max_length for ids, _ in full if len(ids) <= max_length)


@pytest.mark.parametrize("family", ["qwen", "llama3", "xlmr"])
@SETTINGS
@given(prompt=texts, response=texts)
def test_boundary_merge_window_agrees_with_full_joint_encoding(
    request: pytest.FixtureRequest, family: str, prompt: str, response: str
) -> None:
    """The windowed count equals comparing the whole joint encoding with prompt + response as trained."""
    from sftmask.tokenization.encode import count_boundary_merges, encode_responses_with_word_starts

    tok = request.getfixturevalue(family)
    joint = tok.hf(prompt + response, add_special_tokens=False)["input_ids"]
    trained = encode_responses_with_word_starts(tok, [prompt], [response], add_eos=False, word_starts=False)[0].row(0)
    apart = tok.hf(prompt, add_special_tokens=False)["input_ids"] + trained
    expected = int(bool(prompt) and bool(response) and joint != apart)
    assert count_boundary_merges(tok, [prompt], [response]) == expected


@SETTINGS
@given(pairs)
def test_prefix_on_every_word_response_after_whitespace_is_its_joint_encoding(
    xlmr: Any, data: list[tuple[str, str]]
) -> None:
    """XLM-R/T5 style: after whitespace the response is trained exactly as the joint text spells it
    (every word with its "▁"), and its tokens are tokenizer(response)'s."""
    prompts = [p + " " for p, _ in data]
    responses = [r for _, r in data]
    for prompt, response, ids, _labels, n in check_common(xlmr, prompts, responses):
        joint = xlmr.hf(prompt + response, add_special_tokens=False)["input_ids"]
        head = xlmr.hf(prompt, add_special_tokens=False)["input_ids"]
        assert joint[: len(head)] == head
        assert ids[n:-1] == joint[len(head) :] == xlmr.hf(response, add_special_tokens=False)["input_ids"]
        assert ids[-1] == xlmr.eos_id


JOINT_FAMILIES = ["qwen", "mistral", "llama_legacy", "llama3", "gpt2", "phi3", "gemma4", "tekken", "deepseek"]
"""Families whose tokenizer(prompt) ends with the prompt's text (no [SEP] or </s> after it)."""


@pytest.mark.parametrize("family", JOINT_FAMILIES)
@settings(SETTINGS, max_examples=examples(40))
@given(data=pairs)
def test_row_is_the_joint_encoding_unless_a_boundary_merge_is_counted(
    request: pytest.FixtureRequest, family: str, data: list[tuple[str, str]]
) -> None:
    """Every family: when no boundary merge is counted, prompt + response as trained is exactly
    tokenizer(prompt + response) (+ EOS): nothing added, nothing dropped, no space moved."""
    from sftmask.tokenization.encode import count_boundary_merges

    tok = request.getfixturevalue(family)
    prompts, responses = [p for p, _ in data], [r for _, r in data]
    for prompt, response, ids, _labels, _n in check_common(tok, prompts, responses):
        if count_boundary_merges(tok, [prompt], [response]) == 0:
            assert ids[:-1] == tok.hf(prompt + response)["input_ids"], (prompt, response)
        assert ids[-1] == tok.eos_id


@pytest.mark.parametrize("response", ["<|start_header_id|>00\x1f0", "ab\x1ccd ef", "x\x1e y"])
def test_control_separators_are_not_word_breaks_for_every_word_prefixes(xlmr: Any, response: str) -> None:
    """U+001C..U+001F are whitespace to Python's `isspace` but not to the tokenizer (XLM-R's
    normalizer deletes them): a response continuing its prompt is trained as the joint text spells it."""
    from sftmask.tokenization.encode import encode_responses_with_word_starts

    prompt = "0"
    joint = xlmr.hf(prompt + response, add_special_tokens=False)["input_ids"]
    trained = encode_responses_with_word_starts(xlmr, [prompt], [response], add_eos=False, word_starts=False)[0]
    assert xlmr.hf(prompt, add_special_tokens=False)["input_ids"] + list(trained.row(0)) == joint
