"""Texts encoded piece by piece between added tokens (`sftmask.tokenization.segments`) give the
tokens and token ends of encoding them whole.

On every test tokenizer family, as loaded and with added tokens of every flag combination
(``lstrip``, ``rstrip``, ``single_word``, ``normalized``, ``special``; also with special tokens
encoded as text), on texts made of repeated and varied pieces and added tokens, encoded twice (the
second time from the cache). Then: each distinct piece is encoded once; the cache stays within its
bound; the tokenizers the cache is declined for; and a chat batch's ids and assistant masks with
the cache equal those without it.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer
from tokenizers.models import BPE

from sftmask.ragged import IntArray, Ragged
from sftmask.tokenization import segments
from sftmask.tokenization.load import LoadedTokenizer
from sftmask.tokenization.normalform import Encoder
from sftmask.tokenization.token_ends import encode_with_ends as encode_whole
from tests.families import FAMILY_NAMES, SAMPLE_TEXTS
from tests.helpers import examples, load_once

FIXTURES = sorted(
    {"qwen_path", "mistral_path", "llama_legacy_path", "wordpiece_path", "sample_tokenizer_path"}
    | {f"{name}_path" for name in FAMILY_NAMES}
)
FLAGS = list(itertools.product([False, True], repeat=5))
"""(lstrip, rstrip, single_word, normalized, special): every combination."""
FLAGGED = [f"<f{i}>" for i in range(len(FLAGS))] + [f"tok{i}" for i in range(len(FLAGS))]
"""Added tokens given every flag combination: bracketed, and word-like (``single_word`` looks at
the characters beside a match)."""
SYSTEM = "You are a helpful assistant.\n\n# Tools\n\n" + " ".join(SAMPLE_TEXTS)
"""A long piece that recurs, as a system prompt does."""


@functools.cache
def _flagged(path: str, special_as_text: bool) -> Encoder:
    """The family's tokenizer (a copy) with `FLAGGED` added, special tokens encoded as text or not."""
    tokenizer = Tokenizer.from_str(load_once(path).full.to_str())
    for content, (lstrip, rstrip, single_word, normalized, special) in zip(FLAGGED, FLAGS + FLAGS, strict=True):
        token = AddedToken(content, lstrip=lstrip, rstrip=rstrip, single_word=single_word, normalized=normalized)
        (tokenizer.add_special_tokens if special else tokenizer.add_tokens)([token])
    tokenizer.encode_special_tokens = special_as_text
    return Encoder(tokenizer)


def _reference(encoder: Encoder, texts: list[str]) -> tuple[Ragged, IntArray]:
    """The tokenizer's own ids and end offsets, encoding each text whole."""
    encodings = encoder.tokenizer.encode_batch(texts, add_special_tokens=False)
    ids = Ragged.from_lists([e.ids for e in encodings])
    return ids, np.array([end for e in encodings for _, end in e.offsets], dtype=np.int64)


def _check(encoder: Encoder, texts: list[str]) -> None:
    ref_ids, ref_ends = _reference(encoder, texts)
    whole_ids, whole_ends = encode_whole(encoder, texts)
    for _ in range(2):  # the second time from the cache
        ids, ends = segments.encode_with_ends(encoder, texts)
        assert ids.offsets.tolist() == ref_ids.offsets.tolist()
        assert ids.values.tolist() == ref_ids.values.tolist()
        assert ends.tolist() == whole_ends.tolist()  # what the build used before the cache
    assert whole_ids.values.tolist() == ref_ids.values.tolist()
    assert whole_ends.tolist() == ref_ends.tolist()


def _renderings(added: list[str]) -> st.SearchStrategy[list[str]]:
    """Texts of pieces drawn from: recurring ones (a system prompt, a template's newlines and
    roles), varied text, whitespace and word characters next to added tokens, and added tokens."""
    pieces = st.one_of(
        st.sampled_from([SYSTEM, "\n", "user\n", "assistant\n", " ", "  ", "\n\n", "word", "\u00e9", "e\u0301"]),
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
        st.sampled_from(added),
    )
    return st.lists(st.lists(pieces, max_size=10).map("".join), min_size=1, max_size=5)


def _added(encoder: Encoder) -> list[str]:
    return sorted(t.content for t in encoder.tokenizer.get_added_tokens_decoder().values() if t.content)


@pytest.mark.parametrize("fixture", FIXTURES)
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pieces_encode_as_the_whole_text(fixture: str, request: pytest.FixtureRequest, data: st.DataObject) -> None:
    encoder = load_once(str(request.getfixturevalue(fixture))).full_encoder
    assert segments.segment_encoder(encoder) is not None  # the cache is used for every family
    added = _added(encoder)
    _check(encoder, data.draw(_renderings(added[:12] + added[-12:])))


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("special_as_text", [False, True])
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pieces_encode_as_the_whole_text_with_added_tokens_of_every_flag(
    fixture: str, special_as_text: bool, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    encoder = _flagged(str(request.getfixturevalue(fixture)), special_as_text)
    added = FLAGGED + _added(load_once(str(request.getfixturevalue(fixture))).full_encoder)[:6]
    _check(encoder, data.draw(_renderings(added)))


OVERLAPPING = {"ab>": False, "<ab": True, "xyz": False, "xy": True, "zz": True}
"""Plain added tokens (no flags), matched in the raw text (False) or in normalized text (True),
that overlap: the raw ones are matched first, as `AddedVocabulary::extract_and_normalize` does."""


@functools.cache
def _overlapping(path: str) -> Encoder:
    tokenizer = Tokenizer.from_str(load_once(path).full.to_str())
    tokenizer.normalizer = None  # normalized tokens then match as text: found by regular expressions
    for content, normalized in OVERLAPPING.items():
        tokenizer.add_tokens([AddedToken(content, normalized=normalized)])
    return Encoder(tokenizer)


@pytest.mark.parametrize("fixture", ["qwen_path", "mistral_path", "sample_tokenizer_path"])
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_added_tokens_matched_raw_then_normalized_split_as_the_tokenizer_does(
    fixture: str, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    encoder = _overlapping(str(request.getfixturevalue(fixture)))
    finder = segments.segment_encoder(encoder).finder  # type: ignore[union-attr]
    assert isinstance(finder, segments.AddedTokenFinder) and len(finder.phases) == 2
    _check(encoder, data.draw(_renderings(["<ab>", "xyzz", "<", ">", "z", *OVERLAPPING])))


def test_each_distinct_piece_is_encoded_once(qwen: LoadedTokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = Encoder(qwen.full)  # a cache of its own
    encoded: list[str] = []

    def recording(enc: Encoder, texts: list[str]) -> tuple[Ragged, IntArray]:
        encoded.extend(texts)
        return encode_whole(enc, texts)

    monkeypatch.setattr(segments, "encode_whole_with_ends", recording)
    system = " ".join(text for text in SAMPLE_TEXTS if "<" not in text)  # no added token inside
    turn = "<|im_start|>system\n" + system + "<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
    texts = [turn.format(question) for question in ("Hi", "Hello", "Hi")]
    _check(encoder, texts)
    lead = segments.segment_encoder(encoder).lead[0]  # type: ignore[union-attr]
    assert sorted(encoded) == sorted(lead + piece for piece in ["system\n" + system, "\n", "user\nHi", "user\nHello"])
    encoded.clear()
    _check(encoder, [turn.format("Hello"), turn.format("Bye")])
    assert encoded == [lead + "user\nBye"]


def test_the_cache_keeps_within_its_bound(qwen: LoadedTokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments, "MAX_CACHED_TOKENS", 50)
    encoder = Encoder(qwen.full)
    for k in range(4):
        _check(encoder, [f"<|im_start|>user\n{SAMPLE_TEXTS[k]} {k}<|im_end|>\n" * 2, f"{SYSTEM}<|im_end|>"])
        cache = segments.segment_encoder(encoder).cache  # type: ignore[union-attr]
        assert sum(len(ids) + 1 for ids, _ in cache.values()) <= 50


def test_bpe_dropout_declines_the_cache(qwen: LoadedTokenizer) -> None:
    tokenizer = Tokenizer(BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")], dropout=0.5))
    tokenizer.add_special_tokens(["<s>"])
    assert segments.segment_encoder(Encoder(tokenizer)) is None
    tokenizer = Tokenizer(BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    assert segments.segment_encoder(Encoder(tokenizer)) is None  # no added token to lead a piece
    tokenizer.add_special_tokens(["<s>"])
    assert segments.segment_encoder(Encoder(tokenizer)) is not None


def test_a_chat_batch_is_the_same_with_and_without_the_cache(
    qwen: LoadedTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sftmask.chat.encode import encode_chat_batch
    from sftmask.chat.templates import read_shipped

    tools = [{"type": "function", "function": {"name": "f", "description": SAMPLE_TEXTS[3], "parameters": {}}}]
    conversations: list[list[dict[str, Any]] | None] = [
        [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": text},
            {"role": "assistant", "content": f"<think>\n{text[::-1]}\n</think>\n\n{text}"},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "Again: " + text},
        ]
        for text in SAMPLE_TEXTS
    ]
    template = read_shipped("qwen3")

    def encoded() -> Any:
        return encode_chat_batch(qwen, template, {}, conversations, [tools] * len(conversations), {}, last_turn=True)

    cached = encoded()
    monkeypatch.setattr(segments, "segment_encoder", lambda encoder: None)
    whole = encoded()
    assert cached.ids.values.tolist() == whole.ids.values.tolist()
    assert cached.ids.offsets.tolist() == whole.ids.offsets.tolist()
    assert cached.assistant_mask.tolist() == whole.assistant_mask.tolist()  # type: ignore[union-attr]
    assert cached.last_turn_mask.tolist() == whole.last_turn_mask.tolist()  # type: ignore[union-attr]
    assert cached.assistant_mask.any()  # type: ignore[union-attr]


def test_the_rest_of_a_batch_is_encoded_by_pieces_when_the_first_texts_saved(
    qwen: LoadedTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments, "PROBE_TEXTS", 2)
    encoder = Encoder(qwen.full)
    whole_calls: list[list[str]] = []

    def recording(enc: Encoder, texts: list[str]) -> tuple[Ragged, IntArray]:
        whole_calls.append(list(texts))
        return encode_whole(enc, texts)

    monkeypatch.setattr(segments, "encode_whole_with_ends", recording)
    repeating = [f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{k}<|im_end|>" for k in range(5)]
    _check(encoder, repeating)  # the probe saved most of its tokens: the rest by pieces
    assert repeating[2:] not in whole_calls
    whole_calls.clear()
    varied = [f"{text}<|im_end|>" for text in SAMPLE_TEXTS[:5]]
    _check(encoder, varied)  # nothing repeats: the rest encoded whole
    assert varied[2:] in whole_calls


def test_the_cache_goes_with_its_encoder(sample_tokenizer_path: Any) -> None:
    import gc

    encoder = Encoder(load_once(str(sample_tokenizer_path)).full)
    _check(encoder, ["<|im_start|>user\nHi<|im_end|>"])
    assert segments.segment_encoder(encoder) is segments.segment_encoder(encoder)  # made once
    count = len(segments._ENCODERS)
    del encoder
    gc.collect()
    assert len(segments._ENCODERS) == count - 1
