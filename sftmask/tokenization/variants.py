"""Every edit of a tokenizer's spec in one place: the variants sftmask derives from a tokenizer.

- `continuation_tokenizer`: encodes text as it continues other text (no dummy prefix).
- `words_tokenizer`: encodes pre-split words (byte-level BPE: a space before each word).
- `without_normalizer`: a twin without its Unicode normal-form normalizer (same ids on text
  already in that form; see `sftmask.tokenization.normalform`).
"""

from __future__ import annotations

import functools
import json
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from tokenizers import AddedToken, Tokenizer

NormalForm = Literal["NFC", "NFD", "NFKC", "NFKD"]
NORMAL_FORMS: tuple[NormalForm, ...] = ("NFC", "NFD", "NFKC", "NFKD")


def copy_added(token: AddedToken) -> AddedToken:
    """A copy of an added token with all its flags, for another `Tokenizer` to add."""
    return AddedToken(
        token.content,
        single_word=token.single_word,
        lstrip=token.lstrip,
        rstrip=token.rstrip,
        normalized=token.normalized,
        special=token.special,
    )


@dataclass
class PrefixEdits:
    """What `_drop_prefix` changed: notes for the manifest, and whether the tokenizer prefixed
    every segment (a `Prepend` normalizer, Metaspace ``prepend_scheme="always"``)."""

    notes: list[str]
    per_segment: bool = False
    per_word: bool = False
    """The prefix goes on every whitespace-separated word (a `WhitespaceSplit` before Metaspace
    ``prepend_scheme="always"``, as in XLM-R and T5): only a response's first word may continue
    the prompt, so only that word is encoded without it."""


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


def component_steps(component: Any) -> list[Any]:
    """The steps of a normalizer, pre-tokenizer or post-processor: a Sequence's parts, else the
    component itself ([] for none)."""
    spec = component_spec(component)
    if not isinstance(spec, dict):
        return []
    for key in ("normalizers", "pretokenizers", "processors"):  # a Sequence holds one of these
        if key in spec:
            return list(spec[key])
    return [spec]


def added_texts(full: Tokenizer) -> tuple[str, ...]:
    return tuple(sorted({t.content for t in full.get_added_tokens_decoder().values() if t.content}))


WORD_SPLITTERS = ("WhitespaceSplit", "Whitespace")
"""Pre-tokenizers that cut text into whitespace-separated words before a later step sees it."""


def _drop_prefix(component: Any, edits: PrefixEdits) -> Any:
    if not isinstance(component, dict):
        return component
    kind = component.get("type")
    if kind == "Sequence":
        key = "pretokenizers" if "pretokenizers" in component else "normalizers"
        split_words = False
        parts = []
        for part in component.get(key, []):
            is_always = isinstance(part, dict) and part.get("type") == "Metaspace"
            if is_always and split_words and part.get("prepend_scheme", "always") == "always":
                edits.per_word = True
            parts.append(_drop_prefix(part, edits))
            split_words |= isinstance(part, dict) and part.get("type") in WORD_SPLITTERS
        component[key] = [part for part in parts if part is not None]
        return component
    if kind == "Metaspace":
        scheme = component.get("prepend_scheme", "always")
        if scheme != "never":
            edits.per_segment |= scheme == "always"
            note = " (every segment)" if scheme == "always" else ""
            if edits.per_word:
                note = " (every word) -> never for the response's first word when it continues the prompt"
                edits.notes.append(f"Metaspace prepend_scheme={scheme}{note}")
            else:
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


@dataclass(frozen=True)
class WordsTokenizer:
    """How pre-split words are encoded: `tokenizer` over the words, each with `word_prefix` in front."""

    tokenizer: Tokenizer
    word_prefix: str
    adjustments: list[str]

    def prepare(self, words: list[list[str]]) -> list[list[str]]:
        """The words as `tokenizer` encodes them (``is_pretokenized=True``); an empty word stays
        empty (it gives no token, not a bare space)."""
        prefix = self.word_prefix
        if not prefix:
            return words
        return [[prefix + w if w else w for w in row] for row in words]

    @functools.cached_property
    def bare_prefix_ids(self) -> frozenset[int]:
        """Ids of the tokens that can hold the word prefix alone (``Ġ``): a word's first token
        that holds no character of the word (Llama 3 splits `` 1996`` as ``Ġ`` ``199`` ``6``)."""
        if not self.word_prefix:
            return frozenset()
        return frozenset(self.tokenizer.encode([self.word_prefix], is_pretokenized=True, add_special_tokens=False).ids)


def words_tokenizer(full: Tokenizer) -> WordsTokenizer:
    """The tokenizer for pre-split words: byte-level BPE encodes each word after a space.

    Hugging Face requires ``add_prefix_space=True`` for ``is_split_into_words`` with byte-level BPE,
    so that every word is encoded as if a space preceded it, as inside running text. Setting that
    flag on a ByteLevel step that follows a regex split (Llama 3, Qwen, Tekken, DeepSeek) puts the
    space before every regex piece instead (``U.S.`` -> ``ĠU Ġ. S Ġ.``), which no running text
    has; so the flag is switched off and a space is put before the word itself, which gives what
    the flag gives on GPT-2-style ByteLevel (its own regex runs after the space is added) and what
    running text gives on the others.
    """
    spec = None if full.pre_tokenizer is None else json.loads(full.pre_tokenizer.__getstate__())
    parts = spec.get("pretokenizers", [spec]) if isinstance(spec, dict) else []  # edited in place below
    byte_level = [p for p in parts if isinstance(p, dict) and p.get("type") == "ByteLevel"]
    if not byte_level:
        return WordsTokenizer(full, "", [])
    adjustments = ["a space before each pre-split word (byte-level BPE), as in running text"]
    if not any(p.get("add_prefix_space") for p in byte_level):
        return WordsTokenizer(full, " ", adjustments)
    for part in byte_level:
        part["add_prefix_space"] = False
    whole = json.loads(full.to_str())
    whole["pre_tokenizer"] = spec
    tok = Tokenizer.from_str(json.dumps(whole))
    tok.no_truncation()
    tok.no_padding()
    tok.encode_special_tokens = full.encode_special_tokens
    return WordsTokenizer(tok, " ", [*adjustments, "ByteLevel add_prefix_space=false (the space goes before the word)"])


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
        (twin.add_special_tokens if token.special else twin.add_tokens)([copy_added(token)])
    if describe_added(twin) != describe_added(tokenizer):
        return None
    twin.encode_special_tokens = tokenizer.encode_special_tokens
    return twin


def describe_added(tokenizer: Tokenizer) -> list[tuple[int, str]]:
    return sorted((token_id, repr(token)) for token_id, token in tokenizer.get_added_tokens_decoder().items())
