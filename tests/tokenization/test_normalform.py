"""Skipping a Unicode normalizer for text already in its form gives exactly the tokenizer's encoding."""

from __future__ import annotations

import json
import pickle
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer

from sftmask.tokenization.load import describe
from sftmask.tokenization.normalform import Encoder, in_normal_form
from sftmask.tokenization.variants import NORMAL_FORMS
from tests.helpers import examples

SAMPLE_TOKENIZER = Path(__file__).resolve().parents[2] / "sample_data" / "tokenizer" / "tokenizer.json"

# Text the shortcut must handle: (text, in NFC and safe to skip the normalizer?)
TRICKY = [
    ("Plain ASCII, with code: def f(x):\n    return x  # done", True),
    ("Ünïcödé, 東京, Ελληνικά, العربية, 😀🚀", True),
    ("cafe\u0301 (a decomposed e-acute)", False),
    ("\u1100\u1161 (Hangul jamo that NFC composes)", False),
    ("<|im_end|>\u0338 (a combining mark after a special token)", False),
    ("\u226f is already composed", True),
    ("\ufb01 ligature and \u2460 and \uff21: NFC keeps them (NFKC would not)", True),
    ("unassigned in Python's Unicode database: \u0378", False),
    ("", True),
]


def _ids(encodings: list[Any]) -> list[list[int]]:
    return [e.ids for e in encodings]


def test_qwen_skips_nfc_only_for_text_already_in_nfc(qwen: Any) -> None:
    encoder = qwen.full_encoder
    assert encoder.skips_normalizer == "NFC"
    texts = [t for t, _ in TRICKY]
    assert in_normal_form("NFC", texts).tolist() == [safe for _, safe in TRICKY]
    for special in (True, False):
        assert _ids(encoder.encode_batch(texts, add_special_tokens=special)) == _ids(
            qwen.full.encode_batch(texts, add_special_tokens=special)
        )
    with_offsets = encoder.encode_batch(texts, add_special_tokens=False, offsets=True)
    assert [e.offsets for e in with_offsets] == [e.offsets for e in qwen.full.encode_batch(texts)]
    assert describe(qwen)["normalizer_skipped_for_text_in"] == "NFC"


def test_twin_shares_the_model_and_added_tokens(qwen: Any) -> None:
    twin = qwen.full_encoder.twin
    assert twin is not None and twin.normalizer is None
    assert twin.get_added_tokens_decoder().keys() == qwen.full.get_added_tokens_decoder().keys()
    assert twin.get_vocab_size(with_added_tokens=True) == qwen.full.get_vocab_size(with_added_tokens=True)


def test_tokenizers_without_a_unicode_normalizer_are_used_as_they_are(mistral: Any, wordpiece: Any) -> None:
    for tok in (mistral, wordpiece):
        assert tok.full_encoder.skips_normalizer is None
        assert describe(tok)["normalizer_skipped_for_text_in"] is None


def _sample_with(form: str | None, added: list[AddedToken] = []) -> Tokenizer:  # noqa: B006
    spec = json.loads(SAMPLE_TOKENIZER.read_text())
    spec["normalizer"] = {"type": form} if form else None
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.add_tokens(added)
    return tok


@pytest.fixture(scope="module")
def sample_forms() -> dict[str, Tokenizer]:
    return {form: _sample_with(form) for form in NORMAL_FORMS}


# Characters that each normal form treats differently: combining marks, Hangul jamo,
# compatibility characters, precomposed letters, an unassigned code point, added tokens.
pieces = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
    st.sampled_from(
        ["e", "\u0301", "\u0327", "é", "\u1100", "\u1161", "\u11a8", "가", "\ufb01", "\u2460", "\uff21", "\u0378"]
    ),
    st.sampled_from(["<|im_end|>", "<|im_start|>", "<|endoftext|>", " ", "\n", "Hello world"]),
)
texts = st.lists(pieces, max_size=8).map("".join)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=8))
def test_same_ids_in_every_normal_form(sample_forms: dict[str, Tokenizer], batch: list[str]) -> None:
    for form, tok in sample_forms.items():
        encoder = Encoder(tok)
        assert encoder.skips_normalizer == form
        normal = in_normal_form(encoder.skips_normalizer, batch)
        assert all(unicodedata.is_normalized(form, t) for t, n in zip(batch, normal, strict=True) if n)
        assert _ids(encoder.encode_batch(batch, add_special_tokens=True)) == _ids(tok.encode_batch(batch))


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_same_ids_as_qwen(qwen: Any, batch: list[str]) -> None:
    assert _ids(qwen.full_encoder.encode_batch(batch, add_special_tokens=True)) == _ids(qwen.full.encode_batch(batch))


def test_no_shortcut_when_an_added_token_is_matched_in_normalized_text_but_not_normalized() -> None:
    decomposed = "cafe\u0301!"
    tok = _sample_with("NFC", [AddedToken(decomposed, normalized=True)])
    encoder = Encoder(tok)
    assert encoder.twin is None and encoder.skips_normalizer is None
    texts = ["un café! ici", "un " + decomposed]
    assert _ids(encoder.encode_batch(texts, add_special_tokens=False)) == _ids(tok.encode_batch(texts, False))
    # The same token in NFC is matched in NFC text alike by the tokenizer and its twin.
    tok = _sample_with("NFC", [AddedToken("café!", normalized=True)])
    assert Encoder(tok).skips_normalizer == "NFC"
    assert _ids(Encoder(tok).encode_batch(texts, add_special_tokens=False)) == _ids(tok.encode_batch(texts, False))


def test_no_twin_without_a_normalizer_or_with_truncation_on() -> None:
    assert Encoder(_sample_with(None)).twin is None
    truncating = _sample_with("NFC")
    truncating.enable_truncation(4)
    assert Encoder(truncating).twin is None


def test_pickles_as_the_tokenizer_alone(sample_forms: dict[str, Tokenizer]) -> None:
    tok = sample_forms["NFC"]
    encoder = Encoder(tok)
    data = pickle.dumps(encoder)
    assert len(data) < 1.1 * len(pickle.dumps(tok))  # the twin is rebuilt, not shipped
    again = pickle.loads(data)
    assert again.skips_normalizer == "NFC"
    texts = [t for t, _ in TRICKY]
    assert _ids(again.encode_batch(texts, add_special_tokens=True)) == _ids(tok.encode_batch(texts))


# The shortcut rests on this: a tokenizer normalizes each piece between added tokens, and every
# piece of a normalized text is normalized (combining marks, Hangul jamo, compatibility forms).
TRICKY_CHARS = [chr(c) for c in [*range(0x300, 0x370), *range(0x1100, 0x1200), *range(0xAC00, 0xAC20)]] + list(
    "AZaz\u226f>\u0338\ufb01\u2460\uff21\u1e9b\u0323\u0915\u093c\u0f71\u0f72\u0f80"
)


@settings(max_examples=examples(300), deadline=None)
@given(chars=st.lists(st.sampled_from(TRICKY_CHARS), min_size=1, max_size=10), form=st.sampled_from(NORMAL_FORMS))
def test_every_piece_of_a_normalized_text_is_normalized(chars: list[str], form: str) -> None:
    text = unicodedata.normalize(form, "".join(chars))
    pieces = [text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)]
    assert all(unicodedata.is_normalized(form, piece) for piece in pieces)
