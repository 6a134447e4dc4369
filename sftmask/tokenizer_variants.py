"""Every edit of a tokenizer's spec in one place: the variants sftmask derives from a tokenizer.

- `continuation_tokenizer`: encodes text as it continues other text (no dummy prefix).
- `words_tokenizer`: encodes pre-split words (byte-level BPE gets a prefix space).
- `without_normalizer`: a twin without its Unicode normal-form normalizer (same ids on text
  already in that form; see `sftmask.normalform`).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from tokenizers import AddedToken, Tokenizer

NormalForm = Literal["NFC", "NFD", "NFKC", "NFKD"]
NORMAL_FORMS: tuple[NormalForm, ...] = ("NFC", "NFD", "NFKC", "NFKD")


@dataclass
class PrefixEdits:
    """What `_drop_prefix` changed: notes for the manifest, and whether the tokenizer prefixed
    every segment (a `Prepend` normalizer, Metaspace ``prepend_scheme="always"``)."""

    notes: list[str]
    per_segment: bool = False


def continuation_tokenizer(full: Tokenizer) -> tuple[Tokenizer, PrefixEdits]:
    """Derive a tokenizer that encodes text as it continues a preceding text.

    SentencePiece-style tokenizers add a dummy "▁" before the first word (a Metaspace
    pre-tokenizer with ``prepend_scheme``, or a ``Prepend`` normalizer); byte-level BPE may add
    a prefix space. Inside a prompt+response text the response gets neither, so neither may be
    added when the response is encoded on its own.
    """
    edits = PrefixEdits([])
    # Inspect only the two small components first: copying a 250k-token vocabulary takes
    # seconds, and byte-level BPE tokenizers usually need no change at all.
    parts = {name: component_spec(getattr(full, name)) for name in ("pre_tokenizer", "normalizer")}
    for spec in parts.values():
        _drop_prefix(spec, edits)
    if not edits.notes:
        return full, edits
    spec = json.loads(full.to_str())
    spec.update(parts)
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.no_truncation()
    tok.no_padding()
    tok.encode_special_tokens = full.encode_special_tokens
    return tok, edits


def component_spec(component: Any) -> Any:
    return None if component is None else json.loads(component.__getstate__())


def added_texts(full: Tokenizer) -> tuple[str, ...]:
    return tuple(sorted({t.content for t in full.get_added_tokens_decoder().values() if t.content}))


def _drop_prefix(component: Any, edits: PrefixEdits) -> Any:
    if not isinstance(component, dict):
        return component
    kind = component.get("type")
    if kind == "Sequence":
        key = "pretokenizers" if "pretokenizers" in component else "normalizers"
        parts = [_drop_prefix(part, edits) for part in component.get(key, [])]
        component[key] = [part for part in parts if part is not None]
        return component
    if kind == "Metaspace":
        scheme = component.get("prepend_scheme", "always")
        if scheme != "never":
            edits.per_segment |= scheme == "always"
            note = " (every segment)" if scheme == "always" else ""
            edits.notes.append(f"Metaspace prepend_scheme={scheme}{note} -> never for response text")
            component["prepend_scheme"] = "never"
        if component.get("add_prefix_space"):
            component["add_prefix_space"] = False
        return component
    if kind == "ByteLevel" and component.get("add_prefix_space"):
        edits.notes.append("ByteLevel add_prefix_space=false for response text")
        component["add_prefix_space"] = False
        return component
    if kind == "Prepend":
        edits.per_segment = True
        edits.notes.append(
            f"normalizer Prepend({component.get('prepend')!r}) (every segment) removed for response text"
        )
        return None
    return component


def words_tokenizer(full: Tokenizer) -> tuple[Tokenizer, list[str]]:
    """The tokenizer for pre-split words: byte-level BPE gets ``add_prefix_space=True``.

    That is what `GPT2Tokenizer`/`RobertaTokenizer`/`Qwen2Tokenizer` do when loaded with
    ``add_prefix_space=True`` (which Hugging Face requires for ``is_split_into_words``): every
    word is encoded as if a space preceded it, as inside running text.
    """
    spec = None if full.pre_tokenizer is None else json.loads(full.pre_tokenizer.__getstate__())
    adjustments: list[str] = []
    parts = spec.get("pretokenizers", [spec]) if isinstance(spec, dict) else []
    for part in parts:
        if isinstance(part, dict) and part.get("type") == "ByteLevel" and not part.get("add_prefix_space"):
            part["add_prefix_space"] = True
            adjustments.append("ByteLevel add_prefix_space=true for pre-split words")
    if not adjustments:
        return full, adjustments
    whole = json.loads(full.to_str())
    whole["pre_tokenizer"] = spec
    tok = Tokenizer.from_str(json.dumps(whole))
    tok.no_truncation()
    tok.no_padding()
    tok.encode_special_tokens = full.encode_special_tokens
    return tok, adjustments


def normalizer_form(tokenizer: Tokenizer) -> NormalForm | None:
    """The Unicode normal form that is the tokenizer's whole normalizer, if it is one."""
    if tokenizer.normalizer is None:
        return None
    kind = json.loads(tokenizer.normalizer.__getstate__()).get("type")
    return next((form for form in NORMAL_FORMS if form == kind), None)


def without_normalizer(tokenizer: Tokenizer, form: NormalForm) -> Tokenizer | None:
    """A tokenizer sharing `tokenizer`'s components and added tokens, without its normalizer
    (which is `form`).

    None when that cannot be made exact: the added tokens do not come out with the same ids,
    or an added token matched in normalized text is not itself in the normal form.
    """
    added = tokenizer.get_added_tokens_decoder()
    if any(t.normalized and not unicodedata.is_normalized(form, t.content) for t in added.values()):
        return None
    if tokenizer.truncation is not None or tokenizer.padding is not None:
        return None  # sftmask switches both off before it encodes; never guess at them here
    twin = Tokenizer(tokenizer.model)  # the model is shared, not copied
    twin.pre_tokenizer = tokenizer.pre_tokenizer
    twin.post_processor = tokenizer.post_processor
    twin.decoder = tokenizer.decoder
    for token_id in sorted(added):
        token = added[token_id]
        copy = AddedToken(
            token.content,
            single_word=token.single_word,
            lstrip=token.lstrip,
            rstrip=token.rstrip,
            normalized=token.normalized,
            special=token.special,
        )
        (twin.add_special_tokens if token.special else twin.add_tokens)([copy])
    if describe_added(twin) != describe_added(tokenizer):
        return None
    twin.encode_special_tokens = tokenizer.encode_special_tokens
    return twin


def describe_added(tokenizer: Tokenizer) -> list[tuple[int, str]]:
    return sorted((token_id, repr(token)) for token_id, token in tokenizer.get_added_tokens_decoder().items())
