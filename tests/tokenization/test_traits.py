"""Tokenizer traits (`sftmask.tokenization.traits`), read once from the spec, on every test family.

The table is what each family is (byte-level BPE, SentencePiece as Metaspace or as normalizer
edits, Unigram, WordPiece); `plain_byte_level` (token ends from byte lengths) is pinned by
tests/tokenization/test_token_ends.py on the encoder actually used.
"""

from __future__ import annotations

import json

import pytest

from sftmask.tokenization.traits import traits
from tests.helpers import load_once

# name: (model, byte-level pre-tokenizer, byte-level symbols, unsplit Metaspace marker)
TABLE = {
    "qwen": ("BPE", True, True, None),
    "llama3": ("BPE", True, True, None),
    "deepseek": ("BPE", True, True, None),
    "tekken": ("BPE", True, True, None),
    "gpt2": ("BPE", True, True, None),
    "sample_tokenizer": ("BPE", True, True, None),
    "mistral": ("BPE", False, False, "\u2581"),
    "llama_legacy": ("BPE", False, False, None),  # SentencePiece as normalizer Prepend + Replace
    "phi3": ("BPE", False, False, None),
    "gemma4": ("BPE", False, False, None),
    "xlmr": ("Unigram", False, False, None),
    "wordpiece": ("WordPiece", False, False, None),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_traits_of_each_family(name: str, request: pytest.FixtureRequest) -> None:
    tokenizer = load_once(str(request.getfixturevalue(f"{name}_path"))).full_encoder.tokenizer
    kind = traits(tokenizer)
    assert (kind.model, kind.byte_level_pre_tokenizer, kind.byte_level_symbols, kind.unsplit_metaspace) == TABLE[name]
    # The rule bounded encoding used before the traits existed (a ByteLevel step named anywhere in
    # the normalizer or the pre-tokenizer) gives the same answer.
    specs = [
        json.loads(c.__getstate__()) if c is not None else None for c in (tokenizer.normalizer, tokenizer.pre_tokenizer)
    ]
    assert kind.byte_level_symbols == ("ByteLevel" in json.dumps(specs))
    assert traits(tokenizer) is kind  # decided once per tokenizer
