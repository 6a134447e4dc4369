"""Hypothesis properties of the token-exact rules, with real tokenizers of three families.

1. equal lengths; 2. the masked prefix is exactly tokenizer(prompt); 3. the trained part is the
response as it continues the prompt (+ EOS); 4. labels are -100 or their own id, unshifted.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import build_rows

SPECIAL_LOOKING = [
    "<|im_end|>",
    "<|im_start|>",
    "<s>",
    "</s>",
    "[INST]",
    "[CLS]",
    "▁",
    "<|endoftext|>",
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
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def check_common(tok: Any, prompts: list[str], responses: list[str], *, add_eos: bool = True) -> list[tuple[Any, ...]]:
    """Rules 1, 2 and 4 for every row; returns (prompt, response, ids, labels, n_prompt) rows."""
    rows, batch = build_rows(tok, prompts, responses, add_eos=add_eos)
    accepted = [i for i, ok in enumerate(batch.accepted.tolist()) if ok]
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
        assert batch.reject_reasons[i] == "no-trainable-tokens"
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
    rows, batch = build_rows(mistral, prompts, responses, max_length=max_length, truncation=mode)
    assert len(rows) + len(batch.reject_reasons) == len(data)
    for ids, labels in rows:
        assert 0 < len(ids) <= max_length
        assert any(lab != -100 for lab in labels)
        assert all(lab in (-100, i) for i, lab in zip(ids, labels, strict=True))
        if mode == "prompt" and len(ids) > 1:
            assert ids[0] == mistral.hf.bos_token_id  # BOS survives prompt truncation
    if mode == "drop":
        assert all(len(ids) <= max_length for ids, _ in full if len(ids) <= max_length)


@SETTINGS
@given(texts, texts)
def test_boundary_merge_window_agrees_with_full_joint_encoding(qwen: Any, prompt: str, response: str) -> None:
    from sftmask.encoding import count_boundary_merges

    joint = qwen.hf(prompt + response)["input_ids"]
    apart = qwen.hf(prompt)["input_ids"] + qwen.hf(response, add_special_tokens=False)["input_ids"]
    expected = int(bool(prompt) and bool(response) and joint != apart)
    assert count_boundary_merges(qwen, [prompt], [response]) == expected
