"""Token ends from byte lengths (`sftmask.tokenization.token_ends`) equal the tokenizer's own offsets.

On every test tokenizer family: the ids and each token's end offset that `encode_with_ends`
gives are those of ``encode_batch`` with offsets (the tokenizer's own), on the sample texts, text
with added tokens, emoji that byte-level BPE splits inside a character, decomposed accents that
a normalizer changes, and empty text. The families that take the byte-length path are listed, so
the fast path is known to be exercised (and a tokenizer that stops qualifying fails here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftmask.ragged import IntArray, Ragged
from sftmask.tokenization.load import LoadedTokenizer
from sftmask.tokenization.token_ends import _byte_lengths, encode_with_ends
from tests.families import FAMILY_NAMES, SAMPLE_TEXTS
from tests.helpers import examples, load_once

FIXTURES = ["qwen_path", "mistral_path", "wordpiece_path", "sample_tokenizer_path"] + [
    f"{name}_path" for name in FAMILY_NAMES
]
TRICKY = [
    "",
    "Hello world 東京 😀🎉 e\u0301 café",  # emoji split inside a character; a decomposed accent
    "Cafe\u0301 au lait\r\n\ttabs  and   spaces ",
    "\u00a0non-breaking\u3000ideographic space",
    "\U000e0001 tag character, \ufffd replacement, \u200d joiner",
]


def _reference(tok: LoadedTokenizer, texts: list[str]) -> tuple[Ragged, IntArray]:
    encodings = tok.full_encoder.tokenizer.encode_batch(texts, add_special_tokens=False)
    ids = Ragged.from_lists([e.ids for e in encodings])
    return ids, np.array([end for e in encodings for _, end in e.offsets], dtype=np.int64)


def _texts(tok: LoadedTokenizer) -> list[str]:
    specials = [t for t in tok.hf.all_special_tokens if t][:4]
    return [*SAMPLE_TEXTS, *TRICKY, *(f"{t}user\n hi {t}" for t in specials)]


@pytest.mark.parametrize("fixture", sorted(set(FIXTURES)))
def test_ends_equal_the_tokenizers_offsets(fixture: str, request: pytest.FixtureRequest) -> None:
    tok = load_once(str(request.getfixturevalue(fixture)))
    texts = _texts(tok)
    ids, ends = encode_with_ends(tok.full_encoder, texts)
    ref_ids, ref_ends = _reference(tok, texts)
    assert ids.offsets.tolist() == ref_ids.offsets.tolist()
    assert ids.values.tolist() == ref_ids.values.tolist()
    assert ends.tolist() == ref_ends.tolist()


# Byte-level BPE (Qwen through the twin without its NFC normalizer); the Mistral (SentencePiece),
# Phi-3.5 and Gemma (Metaspace), XLM-R (Unigram) and WordPiece tokenizers are encoded with offsets.
BYTE_LENGTH_PATH = {"qwen", "llama3", "deepseek", "tekken", "gpt2", "sample_tokenizer"}
assert {f"{name}_path" for name in BYTE_LENGTH_PATH} <= set(FIXTURES)


@pytest.mark.parametrize("fixture", sorted(set(FIXTURES)))
def test_which_families_take_the_byte_length_path(fixture: str, request: pytest.FixtureRequest) -> None:
    encoder = load_once(str(request.getfixturevalue(fixture))).full_encoder
    taken = _byte_lengths(encoder.twin or encoder.tokenizer) is not None
    assert taken == (fixture.removesuffix("_path") in BYTE_LENGTH_PATH)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), min_size=1, max_size=6))
def test_any_text_qwen(qwen: Any, texts: list[str]) -> None:
    ids, ends = encode_with_ends(qwen.full_encoder, texts)
    ref_ids, ref_ends = _reference(qwen, texts)
    assert ids.values.tolist() == ref_ids.values.tolist() and ids.offsets.tolist() == ref_ids.offsets.tolist()
    assert ends.tolist() == ref_ends.tolist()


def test_the_fast_path_is_used_for_normal_text(qwen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sftmask.tokenization import token_ends

    calls: list[int] = []
    real = token_ends._with_offsets
    monkeypatch.setattr(token_ends, "_with_offsets", lambda enc, texts: calls.append(len(texts)) or real(enc, texts))
    encode_with_ends(qwen.full_encoder, ["Hello 😀 world", "東京"])
    assert calls == []
    encode_with_ends(qwen.full_encoder, ["Hello", "Cafe\u0301"])  # not in NFC: the normalizer may change it
    assert calls[-1] == 1


def test_byte_level_decoder_is_the_one_transformers_and_tokenizers_use() -> None:
    from tokenizers import pre_tokenizers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    from sftmask.tokenization.encode import byte_level_decoder

    table = byte_level_decoder()
    assert table == {char: byte for byte, char in bytes_to_unicode().items()}
    assert set(table) == set(pre_tokenizers.ByteLevel.alphabet()) and sorted(table.values()) == list(range(256))
