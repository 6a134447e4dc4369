"""Seams (`sftmask.tokenization.seams`): a pair of windows skipped by `count_boundary_merges` is
one the tokenizer really encodes apart, on every family; the count is the count of encoding every
pair; and the rule refuses the seams where tokens do merge."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers

from sftmask.tokenization import encode
from sftmask.tokenization.seams import GPT2_PATTERN, SeamRule
from tests.families import FAMILY_NAMES
from tests.helpers import examples, record_encoded_texts

ALL_FAMILIES = ("qwen", "mistral", "llama_legacy", "wordpiece", *FAMILY_NAMES)
SEAM_FAMILIES = ("qwen", "llama3", "deepseek", "tekken", "gpt2")
"""Byte-level BPE behind a regular expression: the rule applies."""
DECLINED = {
    "mistral": "Metaspace without split: the model sees the whole text",
    "llama_legacy": "Metaspace without split",
    "phi3": "Prepend and Replace normalizers, no pre-tokenizer",
    "gemma4": "Replace normalizer",
    "xlmr": "a prefix on every word (and a charsmap normalizer)",
    "wordpiece": "BERT normalizer",
}

EDGES = [
    *"aZz09 \t\n\r'.,!?-_`\"#:;()[]{}<>/\\|@$%^&*+=~\x0b\x0c\x1c\x00",
    "é",
    "e\u0301",
    "\u0301",
    "\u0308",
    "東京",
    "日本語",
    "😀",
    "🚀✅",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\u017f",
    "\u212a",
    "ß",
    "٣",
    "Ⅻ",
    "'s",
    "'S",
    "'ll",
    "'t",
    "n't",
    " 12",
    "1234",
    "  ",
    "\n\n",
    " \n",
    "Hello",
    " world",
    "```",
    "\n1.",
    "- ",
    "<|im_end|>",
    "<|im_start|>",
    "<think>",
    "<|start_header_id|>",
    "<|eot_id|>",
    "<s>",
    "</s>",
    "[CLS]",
    "<|endoftext|>",
    "▁",
]
sides = st.lists(st.sampled_from(EDGES), min_size=1, max_size=5).map("".join)
pairs = st.lists(st.tuples(sides, sides), min_size=1, max_size=8)

SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _apart(tok: Any, a: str, b: str) -> list[int]:
    left = tok.continuation.encode(a, add_special_tokens=False).ids
    right = encode.encode_responses_with_word_starts(tok, [a], [b], add_eos=False, word_starts=False)[0].row(0)
    return [*left, *right]


@pytest.mark.parametrize("family", ALL_FAMILIES)
@SETTINGS
@given(data=pairs)
def test_count_is_the_count_of_encoding_every_pair(request: pytest.FixtureRequest, family: str, data: Any) -> None:
    """Every family: the count with seams skipped equals the count with every pair encoded, and
    every skipped pair's joint encoding is its halves' (pre-tokens included)."""
    tok = request.getfixturevalue(family)
    prompts, responses = [p for p, _ in data], [r for _, r in data]
    with mock.patch.object(encode, "seam_rule", return_value=None):
        expected = encode.count_boundary_merges(tok, prompts, responses)
    assert encode.count_boundary_merges(tok, prompts, responses) == expected
    rule = encode.seam_rule(tok)
    assert (rule is None) == (family not in SEAM_FAMILIES), DECLINED.get(family)
    if rule is None:
        return
    pre, normalizer = tok.continuation.pre_tokenizer, tok.continuation.normalizer
    normalize = normalizer.normalize_str if normalizer is not None else (lambda s: s)
    for a, b in data:
        if rule.cuts(a, b):
            assert tok.continuation.encode(a + b, add_special_tokens=False).ids == _apart(tok, a, b), (a, b)
            words = [[w for w, _ in pre.pre_tokenize_str(normalize(t))] for t in (a + b, a, b)]
            assert words[0] == words[1] + words[2], (a, b)


@pytest.mark.parametrize(
    ("family", "prompt", "response"),
    [
        ("qwen", "Hello ", "world"),  # " world" is one pre-token
        ("qwen", "end.", "The"),  # ".The": a punctuation mark leads a letter run
        ("qwen", "it'", "s"),  # "'s"
        ("qwen", "a\n", "\nb"),  # "\n\n"
        ("qwen", "e", "\u0301x"),  # NFC composes "é"
        ("llama3", "12", "34"),  # digits in threes: "123" "4"
        ("gpt2", "x ", "y"),
        ("deepseek", "x.", "ab"),  # ".ab"
        ("tekken", "A", "bc"),  # "Abc"
    ],
)
def test_seams_that_merge_are_never_skipped(
    request: pytest.FixtureRequest, family: str, prompt: str, response: str
) -> None:
    tok = request.getfixturevalue(family)
    joint = tok.continuation.encode(prompt + response, add_special_tokens=False).ids
    assert joint != _apart(tok, prompt, response)  # the pair merges
    rule = encode.seam_rule(tok)
    assert rule is not None and not rule.cuts(prompt, response)
    assert encode.count_boundary_merges(tok, [prompt], [response]) == 1


def test_a_permissive_rule_would_miss_a_merge(qwen: Any) -> None:
    """What the tests above guard against: a rule that skips a merging pair changes the count."""
    always = mock.Mock(spec=SeamRule)
    always.cuts.return_value = True
    with mock.patch.object(encode, "seam_rule", return_value=always):
        assert encode.count_boundary_merges(qwen, ["Hello "], ["world"]) == 0
    assert encode.count_boundary_merges(qwen, ["Hello "], ["world"]) == 1


def test_skipped_pairs_are_not_encoded(qwen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = record_encoded_texts(monkeypatch)
    prompts = ["Question one\n", "Question two\n", "Sum: 1", "Hello "]
    responses = ["Yes", "1. No", "+2", "world"]
    assert encode.count_boundary_merges(qwen, prompts, responses) == 1  # " world"
    assert not any("Question" in t or "Sum" in t for t in texts)  # "\n"|"Y", "\n"|"1", "1"|"+" are seams
    assert "Hello world" in texts


def _word_level(pattern: str) -> Tokenizer:
    vocab = {"a": 0, "aa": 1, "b": 2, "ab": 3, "[UNK]": 4}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), "isolated")
    return tokenizer


def test_a_lookahead_that_changes_the_match_is_not_a_seam() -> None:
    """``a+(?!b)|a|b``: "aa" alone is one match; before "b" the lookahead fails and it is "a" "a".
    No match crosses the seam, so only the lookahead check refuses it."""
    tokenizer = _word_level("a+(?!b)|a|b")
    assert tokenizer.encode("aab").ids != tokenizer.encode("aa").ids + tokenizer.encode("b").ids
    rule = SeamRule.for_tokenizer(tokenizer)
    assert rule is not None
    assert not rule.cuts("aa", "b")
    assert rule.cuts("b", "a")  # nothing reaches past a "b"


@pytest.mark.parametrize(
    "text", ["Hello world it's 12 345 x\ny  z\t\t!!", "a'S'LL 'd\u00a0b\u3000c 東京 😀 e\u0301 \r\n\r\n  q"]
)
def test_gpt2_pattern_is_what_byte_level_splits_by(text: str) -> None:
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    split = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GPT2_PATTERN), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    assert byte_level.pre_tokenize_str(text) == split.pre_tokenize_str(text)


def test_added_tokens_around_the_seam(qwen_path: Any) -> None:
    """An added token that could straddle the seam, or strip whitespace across it, declines it."""
    text = (qwen_path / "tokenizer.json").read_text(encoding="utf-8")
    rule = SeamRule.for_tokenizer(Tokenizer.from_str(text))
    assert rule is not None and rule.cuts("x\n", "1") and rule.cuts("a", "<")
    assert rule.splitters[0].seam("t", "|") == "split"  # the expression cuts a letter from a bar
    assert not rule.cuts("<|im_start", "|>x")  # but "t|" is inside <|im_start|>
    stripping = Tokenizer.from_str(text)
    stripping.add_tokens([AddedToken("<x>", lstrip=True)])
    assert stripping.encode("x\n<x>").ids != stripping.encode("x\n").ids + stripping.encode("<x>").ids
    stripped = SeamRule.for_tokenizer(stripping)
    assert stripped is not None and not stripped.cuts("x\n", "<x>") and stripped.cuts("x", "1")
    single_word = Tokenizer.from_str(text)
    single_word.add_tokens([AddedToken("<w>", single_word=True)])
    assert SeamRule.for_tokenizer(single_word) is None


def test_a_combining_mark_after_the_seam_is_not_a_seam() -> None:
    """With a normal-form normalizer the seam's second character may compose with the next one
    ("e" + U+0301 is "é"), which the expression may class otherwise: such a pair is encoded."""
    tokenizer = Tokenizer(models.WordLevel({"a": 0, "e": 1, "b": 2, "[UNK]": 3}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("e|[^e]+"), "isolated")
    a, b = "a", "e\u0301b"
    assert tokenizer.encode(a + b).ids != tokenizer.encode(a).ids + tokenizer.encode(b).ids  # "aéb" is one piece
    rule = SeamRule.for_tokenizer(tokenizer)
    assert rule is not None and rule.cuts(a, "eb") and not rule.cuts(a, b)


def test_a_letter_newer_than_pythons_unicode_tables_is_not_a_seam(qwen: Any) -> None:
    """U+1E030 (Unicode 15) is a letter to the tokenizer's regular expressions; Python 3.11's tables
    (Unicode 14) do not know it. Seams are decided only between ASCII characters, whose classes
    every Unicode version agrees on."""
    a, b = "a", "\U0001e030"
    words = [w for w, _ in qwen.continuation.pre_tokenizer.pre_tokenize_str(a + b)]
    assert len(words) == 1  # one letter run for the tokenizer
    rule = encode.seam_rule(qwen)
    assert rule is not None and not rule.cuts(a, b)
