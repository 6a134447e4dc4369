"""Folders loaded without transformers (`sftmask.tokenization.load.direct_tokenizer`) load as AutoTokenizer loads them.

For every test tokenizer (each family of tests/families.py, the tokenizers of
tests/tokenizers_offline.py and the sample tokenizer): either `direct_tokenizer` declines the folder
(and `load_tokenizer` uses `AutoTokenizer`), or the Rust tokenizer it builds serializes exactly like
`AutoTokenizer.from_pretrained(folder).backend_tokenizer`, encodes every sample text (and a rendered
chat) to the same ids and offsets, and has the same special-token attributes and chat template; and
everything `load_tokenizer` derives from it (the manifest's description included) is the same.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from sftmask.tokenization import load as tokenizer_module
from sftmask.tokenization.load import DirectTokenizer, LoadedTokenizer, describe, direct_tokenizer, load_tokenizer
from tests.families import FAMILY_NAMES, SAMPLE_TEXTS
from tests.helpers import transformers_tokenizer

# Which folders load directly: a test tokenizer whose files change so that they no longer do
# (or start to) fails here, so the table stays the truth.
DIRECT = {
    "qwen_path": True,
    "qwen_pad_eos_path": True,
    "mistral_path": False,  # tokenizer_class LlamaTokenizer: transformers rebuilds the backend
    "llama_legacy_path": True,
    "wordpiece_path": True,
    "sample_tokenizer_path": True,
    "llama3_path": True,
    "gpt2_path": True,
    "phi3_path": True,
    "gemma4_path": True,
    "xlmr_path": False,  # tokenizer_class XLMRobertaTokenizer: transformers rebuilds the backend
    "tekken_path": True,
    "deepseek_path": True,
}
assert set(DIRECT) >= {f"{name}_path" for name in FAMILY_NAMES}

ATTRIBUTES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "pad_token",
    "bos_token_id",
    "eos_token_id",
    "unk_token_id",
    "pad_token_id",
    "special_tokens_map",
    "all_special_tokens",
    "all_special_ids",
    "added_tokens_encoder",
    "chat_template",
    "split_special_tokens",
    "is_fast",
)
CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hello world 東京 😀"},
    {"role": "assistant", "content": "Hi.\n\nHow can I help?"},
    {"role": "user", "content": "  two leading spaces"},
    {"role": "assistant", "content": "<think>step</think> 42"},
]


def _via_transformers(path: Path, monkeypatch: pytest.MonkeyPatch, auto: Any) -> LoadedTokenizer:
    """`load_tokenizer` as it loads a folder that `direct_tokenizer` declines: `auto` is what it
    gets from `AutoTokenizer.from_pretrained(folder)`, already loaded by the test (not twice)."""

    def from_pretrained(source: str, **kwargs: Any) -> Any:
        assert (source, kwargs) == (str(path), {"trust_remote_code": False})
        return auto

    with monkeypatch.context() as patch:
        patch.setattr(tokenizer_module, "direct_tokenizer", lambda folder: None)
        patch.setattr(AutoTokenizer, "from_pretrained", from_pretrained)
        return load_tokenizer(str(path))


def _same_json(ours: str, theirs: str) -> bool:
    return ours == theirs or json.loads(ours) == json.loads(theirs)  # the same text, or the same data


def _texts(hf: Any) -> list[str]:
    texts = list(SAMPLE_TEXTS)
    texts += [f"{t} {s}" for t in hf.all_special_tokens for s in ("x", "Hello world")]  # added tokens in text
    if hf.chat_template:
        texts.append(hf.apply_chat_template(CHAT, tokenize=False))
    return texts


@pytest.mark.parametrize("fixture", sorted(DIRECT))
def test_direct_load_equals_auto_tokenizer(fixture: str, request: pytest.FixtureRequest, monkeypatch: Any) -> None:
    path: Path = request.getfixturevalue(fixture)
    direct = direct_tokenizer(path)
    assert (direct is not None) == DIRECT[fixture]
    loaded = load_tokenizer(str(path))
    assert isinstance(loaded.hf, DirectTokenizer) == DIRECT[fixture]
    if direct is None:
        return
    auto = AutoTokenizer.from_pretrained(str(path))
    assert type(auto).__name__ == direct.class_name
    # The whole pipeline (normalizer, pre-tokenizer, model, post-processor, decoder, added tokens).
    assert _same_json(direct.backend_tokenizer.to_str(), auto.backend_tokenizer.to_str())
    assert direct.backend_tokenizer.encode_special_tokens == auto.backend_tokenizer.encode_special_tokens
    for name in ATTRIBUTES:
        assert getattr(direct, name) == getattr(auto, name), name
    texts = _texts(auto)
    for add_special_tokens in (True, False):
        ours = direct.backend_tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)
        theirs = auto(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        assert [e.ids for e in ours] == theirs["input_ids"]
        assert [e.offsets for e in ours] == [list(map(tuple, o)) for o in theirs["offset_mapping"]]
    # Everything load_tokenizer derives, and what the manifest records, is the same.
    reference = _via_transformers(path, monkeypatch, auto)  # last: load_tokenizer switches off auto's padding
    assert not isinstance(reference.hf, DirectTokenizer)
    assert describe(loaded) == describe(reference)
    assert loaded.full.to_str() == reference.full.to_str()
    assert loaded.continuation.to_str() == reference.continuation.to_str()
    for field in ("eos_id", "fingerprint", "adjustments", "segment_prefix_texts", "longest_added_text"):
        assert getattr(loaded, field) == getattr(reference, field), field
    assert loaded.special_ids.tolist() == reference.special_ids.tolist()
    assert loaded.prefixes_every_word == reference.prefixes_every_word


def test_direct_tokenizer_delegates_the_rest_and_pickles(qwen_path: Path) -> None:
    direct = direct_tokenizer(qwen_path)
    assert direct is not None and direct._real is None
    auto = transformers_tokenizer(qwen_path)
    ids = auto("Hello world")["input_ids"]
    assert direct.decode(ids) == auto.decode(ids)  # not an attribute of its own: transformers loads
    assert direct("Hello world")["input_ids"] == ids and len(direct) == len(auto)
    assert direct.apply_chat_template(CHAT, tokenize=False) == auto.apply_chat_template(CHAT, tokenize=False)
    copy = pickle.loads(pickle.dumps(direct))
    assert copy._real is None and copy.eos_token_id == direct.eos_token_id
    assert copy.backend_tokenizer.encode("Hello world").ids == ids


@pytest.mark.parametrize(
    "change",
    [
        "config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "unknown key",
        "class",
        "special token not added",
        "added_tokens_decoder",
        "model-specific token",
    ],
)
def test_folders_transformers_would_change_load_with_transformers(
    sample_tokenizer_path: Path, tmp_path: Path, change: str
) -> None:
    # The sample tokenizer's tokenizer_config.json is shaped as Qwen's; it loads in a tenth of the time.
    folder = tmp_path / "tok"
    shutil.copytree(sample_tokenizer_path, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    if change.endswith(".json"):
        (folder / change).write_text("{}")
    elif change == "unknown key":
        config["do_lower_case"] = True
    elif change == "class":
        config["tokenizer_class"] = "Qwen2Tokenizer"
    elif change == "special token not added":
        config["bos_token"] = "Hello"  # in the vocabulary, but not an added token: transformers adds it
    elif change == "added_tokens_decoder":
        config["added_tokens_decoder"] = {}
    else:
        config["image_token"] = "<|im_start|>"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    assert direct_tokenizer(folder) is None
    assert not isinstance(load_tokenizer(str(folder)).hf, DirectTokenizer)


def test_direct_and_transformers_builds_write_the_same_bytes(
    qwen_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sftmask

    records = tmp_path / "data.jsonl"
    rows = [{"prompt": f"{t}\n", "response": f"{t[::-1]} <|im_end|> done"} for t in SAMPLE_TEXTS]
    records.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    sftmask.build(inputs=[str(records)], tokenizer=str(qwen_path), output=str(tmp_path / "direct"))
    with monkeypatch.context() as patch:
        patch.setattr(tokenizer_module, "direct_tokenizer", lambda folder: None)
        sftmask.build(inputs=[str(records)], tokenizer=str(qwen_path), output=str(tmp_path / "auto"))
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("direct", "auto")]
    assert [s["sha256"] for s in manifests[0]["shards"]] == [s["sha256"] for s in manifests[1]["shards"]]
    assert manifests[0]["tokenizer"] == manifests[1]["tokenizer"]
