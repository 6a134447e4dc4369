"""Skip a tokenizer's Unicode normalizer for text it would not change: the same ids, less work.

Qwen-family tokenizers (and others) run every text through an NFC normalizer before splitting
it: a pass over every character, about an eighth of the encoding time, that changes nothing
when the text is already in NFC, as nearly all text is. An `Encoder` encodes such text with a
twin of the tokenizer that has no normalizer (same model, pre-tokenizer, post-processor and
added tokens), and all other text with the tokenizer itself.

Why the ids are exactly the same: the tokenizer normalizes each piece of text between added
tokens, and a piece of a text in a Unicode normal form is itself in that form, so the
normalizer returns every piece unchanged (and offsets stay the identity). A text counts as
being in the form only when Python's `unicodedata` says so and every character in it is
assigned in Python's Unicode database: a character newer than that database might have
normalization properties Python does not know.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from tokenizers import AddedToken, Encoding, Tokenizer

from sftmask.masking import BoolArray

NormalForm = Literal["NFC", "NFD", "NFKC", "NFKD"]
NORMAL_FORMS: tuple[NormalForm, ...] = ("NFC", "NFD", "NFKC", "NFKD")


class Encoder:
    """Batch-encodes like `tokenizer`, skipping its normalizer for text already in its form.

    Pickles as the tokenizer alone (worker processes rebuild the twin, which shares the model).
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        form = normalizer_form(tokenizer)
        twin = _without_normalizer(tokenizer, form) if form else None
        self._shortcut = (form, twin) if form is not None and twin is not None else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (Encoder, (self.tokenizer,))

    @property
    def skips_normalizer(self) -> NormalForm | None:
        """The normal form whose normalizer is skipped for text already in it (None: never)."""
        return self._shortcut[0] if self._shortcut else None

    @property
    def twin(self) -> Tokenizer | None:
        """The tokenizer without its normalizer (None: no shortcut)."""
        return self._shortcut[1] if self._shortcut else None

    def encode_batch(self, texts: Sequence[str], *, add_special_tokens: bool, offsets: bool = False) -> list[Encoding]:
        """`tokenizer.encode_batch` (`offsets`) or `encode_batch_fast`, in the order of `texts`."""
        texts = list(texts)
        if self._shortcut is None or not texts:
            return _encode(self.tokenizer, texts, add_special_tokens, offsets)
        form, twin = self._shortcut
        normal = in_normal_form(form, texts)
        if normal.all():
            return _encode(twin, texts, add_special_tokens, offsets)
        if not normal.any():
            return _encode(self.tokenizer, texts, add_special_tokens, offsets)
        out: list[Encoding] = [None] * len(texts)  # type: ignore[list-item]
        for tokenizer, rows in ((twin, np.flatnonzero(normal)), (self.tokenizer, np.flatnonzero(~normal))):
            encoded = _encode(tokenizer, [texts[i] for i in rows], add_special_tokens, offsets)
            for i, encoding in zip(rows.tolist(), encoded, strict=True):
                out[i] = encoding
        return out


def _encode(tokenizer: Tokenizer, texts: list[str], add_special_tokens: bool, offsets: bool) -> list[Encoding]:
    encode = tokenizer.encode_batch if offsets else tokenizer.encode_batch_fast
    return encode(texts, add_special_tokens=add_special_tokens)


def normalizer_form(tokenizer: Tokenizer) -> NormalForm | None:
    """The Unicode normal form that is the tokenizer's whole normalizer, if it is one."""
    if tokenizer.normalizer is None:
        return None
    kind = json.loads(tokenizer.normalizer.__getstate__()).get("type")
    return next((form for form in NORMAL_FORMS if form == kind), None)


def in_normal_form(form: NormalForm, texts: Sequence[str]) -> BoolArray:
    """Per text: is it in `form`, and are all its characters known to Python's Unicode database?"""
    ascii_ = np.fromiter((t.isascii() for t in texts), np.bool_, len(texts))
    normal = ascii_.copy()  # ASCII text is in every normal form, in every Unicode version
    rest = np.flatnonzero(~ascii_)
    if not len(rest):
        return normal
    normal[rest] = [unicodedata.is_normalized(form, texts[i]) for i in rest.tolist()]
    candidates = rest[normal[rest]]
    if len(candidates) and _has_unassigned("\n".join(texts[i] for i in candidates.tolist())):
        normal[candidates] = [not _has_unassigned(texts[i]) for i in candidates.tolist()]
    return normal


def _has_unassigned(text: str) -> bool:
    code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return bool(_unassigned()[code_points[code_points > 0x7F]].any())


@functools.cache
def _unassigned() -> BoolArray:
    """Per code point: unassigned (or a surrogate) in Python's Unicode database."""
    return np.fromiter(
        (unicodedata.category(chr(c)) in ("Cn", "Cs") for c in range(0x110000)), dtype=np.bool_, count=0x110000
    )


def _without_normalizer(tokenizer: Tokenizer, form: NormalForm) -> Tokenizer | None:
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
    if _describe_added(twin) != _describe_added(tokenizer):
        return None
    twin.encode_special_tokens = tokenizer.encode_special_tokens
    return twin


def _describe_added(tokenizer: Tokenizer) -> list[tuple[int, str]]:
    return sorted((token_id, repr(token)) for token_id, token in tokenizer.get_added_tokens_decoder().items())
